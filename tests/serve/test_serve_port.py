"""`affectlab serve` on a busy port: one error line before the model is loaded."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from affectlab.errors import AffectlabError


def test_busy_port_is_refused_before_the_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import affectlab.serve.app as serve_app
    from affectlab.cli import app

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the port was checked")

    monkeypatch.setattr(serve_app, "create_app", never)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "any-model", "--port", str(port)])
    assert isinstance(result.exception, AffectlabError), result.output
    message = str(result.exception)
    assert message == f"cannot listen on 127.0.0.1:{port}: the port is already in use (another server?); " + (
        "choose another --port"
    )
    assert "\n" not in message


def test_free_port_passes_the_check() -> None:
    from affectlab.cli.serve_cmd import check_port

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_port("127.0.0.1", port)  # nothing listens there now: no error
    with pytest.raises(AffectlabError, match="unknown host"):
        check_port("no-such-host.invalid", port)
