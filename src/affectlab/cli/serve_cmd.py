"""`affectlab serve`: the HTTP service and web page for one model."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from affectlab.errors import AffectlabError


def check_port(host: str, port: int) -> None:
    """Refuse, before the model loads, an address this process cannot listen on (one `error:` line)."""
    import errno
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise AffectlabError(f"cannot listen on {host}:{port}: unknown host ({exc.strerror})") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(address)
        except OSError as exc:
            why = {
                errno.EADDRINUSE: "the port is already in use (another server?); choose another --port",
                errno.EACCES: "permission denied (ports below 1024 need privileges); choose a --port >= 1024",
                errno.EADDRNOTAVAIL: "this machine has no such address; use 127.0.0.1 or 0.0.0.0",
            }.get(exc.errno or 0, exc.strerror or str(exc))
            raise AffectlabError(f"cannot listen on {host}:{port}: {why}") from None


def serve(
    model: Path = typer.Argument(
        ..., help="A training run folder, its model.safetensors, or an exported .onnx file."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 exposes it to the network)."),
    port: int = typer.Option(8000, help="TCP port."),
    max_upload_mb: float = typer.Option(10.0, help="Largest accepted upload in MiB (bigger: 413)."),
    max_pixels: int = typer.Option(
        40_000_000, help="Largest image, width x height from its header (bigger: 413)."
    ),
    max_concurrency: int = typer.Option(2, help="Inferences running at once (in a thread pool)."),
    max_queue: int = typer.Option(
        16, help="Requests that may wait for a slot; past that: 429 with Retry-After."
    ),
    timeout: float = typer.Option(30.0, help="Seconds per request, queueing included (past it: 504)."),
    threads: int | None = typer.Option(
        None,
        "--threads",
        help="CPU threads per inference, model and detector (default: physical cores / max-concurrency).",
    ),
    header_timeout: float = typer.Option(
        10.0, help="Seconds a client has to send a request's line and headers (past it: closed, 408)."
    ),
    body_timeout: float = typer.Option(
        30.0, help="Seconds a client has to send a request's whole body once its head arrived (408)."
    ),
    max_connections_per_client: int = typer.Option(
        8, help="Open connections per client address (more: 429); 0 = no cap (behind a reverse proxy)."
    ),
    max_idle_connections: int = typer.Option(
        32, help="Connections without a request in progress; past it the oldest idle one is closed."
    ),
    max_connections: int = typer.Option(128, help="Open connections in all (past it, with none idle: 503)."),
    api_key: str | None = typer.Option(
        None, help="Require this key (Authorization: Bearer KEY) on the API; prefer --api-key-file."
    ),
    api_key_file: Path | None = typer.Option(
        None, help="File with the accepted API key(s), one a line (or set AFFECTLAB_API_KEY)."
    ),
    cors_origin: list[str] = typer.Option(
        [], help="Let browsers on this origin call the API (repeatable; CORS is off by default)."
    ),
    uncertain_below: float | None = typer.Option(
        None, help="Expression 'uncertain' below this top probability (default: the model's; 0: never)."
    ),
    calibration: bool = typer.Option(True, help="Apply the model's temperature scaling."),
    logits: bool = typer.Option(False, help="Also return each face's raw logits."),
) -> None:
    """Serve a model over HTTP: POST /v1/predict, GET /v1/health, GET /v1/model, and a web page at /."""
    try:
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise AffectlabError("serving needs FastAPI and uvicorn: pip install 'affectlab[serve]'") from exc
    from affectlab.serve.app import create_app
    from affectlab.serve.guard import ConnectionLimits
    from affectlab.serve.limits import MIB, ServeLimits
    from affectlab.serve.middleware import read_api_keys
    from affectlab.serve.server import build_server

    if not 0 < port < 65536:
        raise AffectlabError(f"--port must be between 1 and 65535, got {port}")
    check_port(host, port)
    limits = ServeLimits(
        max_upload_bytes=int(max_upload_mb * MIB),
        max_pixels=max_pixels,
        max_concurrency=max_concurrency,
        max_queue=max_queue,
        timeout_s=timeout,
    )
    connections = ConnectionLimits(
        header_timeout_s=header_timeout,
        body_timeout_s=body_timeout,
        max_per_client=max_connections_per_client,
        max_idle=max_idle_connections,
        max_connections=max_connections,
    )
    keys = read_api_keys(
        api_key or os.environ.get("AFFECTLAB_API_KEY"), str(api_key_file) if api_key_file else None
    )
    if not keys and host not in ("127.0.0.1", "localhost", "::1"):
        typer.secho(
            f"warning: serving on {host} without an API key: anyone who can reach it can use it "
            "(--api-key-file FILE)",
            fg=typer.colors.YELLOW,
            err=True,
        )
    options = {"calibrated": calibration, "uncertain_below": uncertain_below, "keep_logits": logits}
    app = create_app(
        model,
        limits=limits,
        threads=threads,
        api_keys=keys,
        cors_origins=tuple(cors_origin),
        predictor_options=options,
    )
    typer.echo(f"affectlab serve: http://{host}:{port}/  (API docs at /docs; Ctrl+C stops)")
    build_server(app, host, port, connections=connections).run()


def register(app: typer.Typer) -> None:
    """Add `serve` to the app."""
    app.command("serve")(serve)
