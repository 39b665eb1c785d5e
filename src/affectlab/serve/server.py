"""Running the service: uvicorn with the connection guard (read timeouts, connection caps)."""

from __future__ import annotations

from typing import Any

from affectlab.serve.guard import ConnectionLimits, guarded_protocol

#: Seconds an idle keep-alive connection stays open between requests (shorter than the head timeout).
KEEP_ALIVE_S = 5


def build_server(
    app: Any, host: str, port: int, *, connections: ConnectionLimits | None = None, log_level: str = "info"
) -> Any:
    """A uvicorn.Server for `app` on host:port whose connections are guarded by `connections`."""
    import uvicorn

    limits = connections or ConnectionLimits()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(limits),
        workers=1,
        log_level=log_level,
        timeout_keep_alive=max(1, min(KEEP_ALIVE_S, int(limits.header_timeout_s))),
        # The guard caps connections (idle ones are closed first); uvicorn's own cap would answer 503
        # to every new client while idle connections are open, so it is left off.
        limit_concurrency=None,
        server_header=False,
    )
    return uvicorn.Server(config)
