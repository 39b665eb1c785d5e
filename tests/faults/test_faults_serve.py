"""The service under connection attacks (all on 127.0.0.1, bounded, self-stopping: see serve_attacks.py), its
API key and CORS settings, and requests with more than one file. A well-behaved client gets 200 throughout;
nobody gets a 5xx."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from serve_attacks import (
    answers,
    attacker_socket,
    close_all,
    idle_connections,
    probe,
    run_attack,
    running_server,
    slow_body,
    slow_headers,
    small_jpeg,
    sources,
)

from affectlab.errors import AffectlabError

KEY = "k" * 24


def _loopback_aliases_work() -> bool:
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.2", 0))
        return True
    except OSError:
        return False


needs_aliases = pytest.mark.skipif(
    not _loopback_aliases_work(),
    reason="this system cannot bind 127.0.0.2 (attackers need their own address)",
)


def _assert_served(result: Any, p95_s: float = 3.0) -> None:
    assert result.statuses == [200] * len(result.results), result.summary()
    assert result.quantile(0.95) < p95_s, result.summary()


@needs_aliases
def test_idle_connections_from_many_addresses_do_not_lock_anyone_out() -> None:
    """Was: ~72 idle connections made uvicorn answer 503 to every new client for as long as they stayed."""
    with running_server(max_idle=16, max_connections=64) as port:
        result, socks = run_attack(port, idle_connections, probes=6, per_source=5, n_sources=20)
        try:
            _assert_served(result)
            fate = answers(socks, 0.5)
            assert fate.get("closed", 0) >= 100 - 16 - 6, fate  # the oldest idle ones were closed
        finally:
            close_all(socks)


@needs_aliases
def test_one_client_gets_at_most_its_share_of_connections() -> None:
    with running_server(max_per_client=4) as port:
        socks = [attacker_socket(port, "127.0.0.2") for _ in range(10)]
        try:
            fate = answers(socks, 2.0)
            assert fate.get("429", 0) == 6 and fate.get("open", 0) == 4, fate
            _assert_served(probe(port, 3, 0.0))
        finally:
            close_all(socks)


@needs_aliases
def test_slow_headers_are_cut_at_the_head_timeout() -> None:
    with running_server(header_timeout_s=1.5) as port:
        import threading

        stop = threading.Event()
        started = time.monotonic()
        socks = slow_headers(port, 3, 4, stop)
        try:
            result = probe(port, 3, 0.1)
            fate = answers(socks, 4.0)
            assert fate == {"408": 12}, fate
            assert time.monotonic() - started < 6.0
            _assert_served(result)
        finally:
            stop.set()
            close_all(socks)


@needs_aliases
def test_silent_connections_are_closed_at_the_head_timeout() -> None:
    with running_server(header_timeout_s=1.0) as port:
        socks = idle_connections(port, 2, 2)
        try:
            assert answers(socks, 3.0) == {"closed": 4}
        finally:
            close_all(socks)


@needs_aliases
def test_slow_body_is_cut_at_the_body_timeout() -> None:
    """Was: a body sent at 1 byte/s was still being accepted after 30 s."""
    import threading

    with running_server(body_timeout_s=2.0) as port:
        stop = threading.Event()
        socks = slow_body(port, 3, 4, stop)
        try:
            result = probe(port, 3, 0.1)
            assert answers(socks, 4.0) == {"408": 12}
            _assert_served(result)
            _assert_served(probe(port, 2, 0.0))  # the server is healthy after the attack
        finally:
            stop.set()
            close_all(socks)


def test_a_normal_slow_upload_within_the_timeout_is_accepted() -> None:
    """A body that arrives in pieces, but within the body timeout, is answered normally."""
    with running_server(body_timeout_s=5.0) as port:
        data = small_jpeg()
        boundary = "b0undary"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n'
                f"Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        head = (
            f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nConnection: close\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head)
            for i in range(0, len(body), len(body) // 4 + 1):
                sock.sendall(body[i : i + len(body) // 4 + 1])
                time.sleep(0.3)
            reply = sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]


@pytest.mark.faults
@needs_aliases
@pytest.mark.parametrize("attack", ["idle", "slow_headers", "slow_body"])
def test_default_limits_under_each_attack(attack: str) -> None:
    """The limits `affectlab serve` runs with, 60-100 attacking connections, 20 probes: all 200, p95 < 3 s."""
    spec = {
        "idle": (idle_connections, 5, 20),
        "slow_headers": (slow_headers, 5, 12),
        "slow_body": (slow_body, 5, 12),
    }
    with running_server() as port:
        result, socks = run_attack(
            port, spec[attack][0], probes=20, per_source=spec[attack][1], n_sources=spec[attack][2]
        )
        close_all(socks)
    print(f"{attack}: {result.summary()}")
    _assert_served(result)


# ------------------------------------------------------------------------------------- key, CORS, files
def _client(**kwargs: Any) -> Any:
    from fastapi.testclient import TestClient
    from serve_attacks import _NoFacePredictor

    from affectlab.serve.app import create_app

    return TestClient(
        create_app(None, predictor=_NoFacePredictor(), model_info={"architecture": "x"}, **kwargs)
    )


def _upload(client: Any, headers: dict[str, str] | None = None, files: Any = None) -> Any:
    files = files or {"file": ("x.jpg", small_jpeg(), "image/jpeg")}
    return client.post("/v1/predict", files=files, headers=headers or {})


def test_api_key_is_required_on_the_api_only() -> None:
    with _client(api_keys=(KEY,)) as client:
        assert _upload(client).status_code == 401
        assert _upload(client).json()["error"] == "unauthorized"
        assert _upload(client, {"Authorization": "Bearer " + "x" * 24}).status_code == 401
        assert _upload(client, {"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert _upload(client, {"X-API-Key": KEY}).status_code == 200
        assert client.get("/v1/model").status_code == 401
        assert client.get("/v1/model", headers={"X-API-Key": KEY}).status_code == 200
        for open_path in ("/v1/health", "/", "/static/app.js", "/openapi.json"):
            assert client.get(open_path).status_code == 200, open_path
        assert client.get("/v1/../v1/model").status_code in (401, 404)
    with _client() as client:  # no key configured: open, as before
        assert _upload(client).status_code == 200


def test_api_key_sources(tmp_path: Path) -> None:
    from affectlab.serve.middleware import read_api_keys

    keys = tmp_path / "keys"
    keys.write_text(f"# team keys\n{KEY}\n\n{'z' * 20}\n")
    assert read_api_keys(None, str(keys)) == (KEY, "z" * 20)
    assert read_api_keys(KEY, None) == (KEY,)
    assert read_api_keys(None, None) == ()
    with pytest.raises(AffectlabError, match="at least 16 characters"):
        read_api_keys("short", None)
    with pytest.raises(AffectlabError, match="cannot read"):
        read_api_keys(None, str(tmp_path / "missing"))
    (tmp_path / "empty").write_text("# nothing\n")
    with pytest.raises(AffectlabError, match="no key"):
        read_api_keys(None, str(tmp_path / "empty"))


def test_serve_cli_refuses_a_weak_key_before_loading(tmp_path: Path) -> None:
    from fault_helpers import run_cli

    done = run_cli(["serve", str(tmp_path / "no-such-model"), "--api-key", "short"], timeout=60)
    assert done.returncode == 1 and "at least 16 characters" in done.stderr.strip().splitlines()[-1]


def test_cors_is_off_by_default_and_limited_to_the_given_origins() -> None:
    origin = "https://app.example.org"
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    with _client() as client:
        assert (
            "access-control-allow-origin" not in client.get("/v1/health", headers={"Origin": origin}).headers
        )
        assert "access-control-allow-origin" not in client.options("/v1/predict", headers=preflight).headers
    with _client(cors_origins=(origin,), api_keys=(KEY,)) as client:
        reply = client.options(
            "/v1/predict", headers={**preflight, "Access-Control-Request-Headers": "authorization"}
        )
        assert reply.status_code == 200 and reply.headers["access-control-allow-origin"] == origin
        assert (
            client.get("/v1/health", headers={"Origin": origin}).headers["access-control-allow-origin"]
            == origin
        )
        refused = client.get("/v1/model", headers={"Origin": origin})
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == origin
        other = client.get("/v1/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_two_file_parts_are_refused() -> None:
    """Was: FastAPI silently used the last one."""
    data = small_jpeg()
    with _client() as client:
        files = [("file", ("a.jpg", data, "image/jpeg")), ("file", ("b.jpg", data, "image/jpeg"))]
        reply = _upload(client, files=files)
        assert reply.status_code == 422 and reply.json()["error"] == "multiple_files"
        assert _upload(client).status_code == 200


def test_attack_helpers_target_loopback_only() -> None:
    """The attack helpers never reach beyond this machine."""
    import serve_attacks

    assert serve_attacks.TARGET == "127.0.0.1"
    assert all(s.startswith("127.0.0.") for s in sources(30))
    assert serve_attacks.MAX_SOCKETS <= 200
