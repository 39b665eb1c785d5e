"""Bounded denial-of-service attacks on a local `affectlab serve`, and what a well-behaved client sees.

Every attack targets 127.0.0.1 only, opens a bounded number of sockets, runs for a bounded time and stops by
itself. Attackers connect from other loopback source addresses (127.0.0.2, 127.0.0.3, ...: all of 127/8 is
loopback on Linux), so that per-client caps apply to them and not to the well-behaved client on 127.0.0.1.

Run as a script to print the latency table (p50/p95 of the well-behaved client during each attack):

    PYTHONPATH=src python tests/faults/serve_attacks.py            # the guarded server (affectlab serve)
    PYTHONPATH=src python tests/faults/serve_attacks.py --unguarded  # uvicorn as it was configured before
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TARGET = "127.0.0.1"
MAX_SOCKETS = 200


class _NoFacePredictor:
    """A predictor double: no face in any image (the attacks are about connections, not inference)."""

    def predict_image(self, image: np.ndarray, detect: bool = True) -> list[Any]:
        return []


def small_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((TARGET, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(guarded: bool = True, **limits: Any) -> Iterator[int]:
    """Serve the no-face predictor on 127.0.0.1 in a thread (guarded as `affectlab serve` is); yield port."""
    import uvicorn

    from affectlab.serve.app import create_app
    from affectlab.serve.guard import ConnectionLimits
    from affectlab.serve.server import build_server

    app = create_app(None, predictor=_NoFacePredictor(), model_info={"architecture": "none"})
    port = _free_port()
    if guarded:
        server = build_server(app, TARGET, port, connections=ConnectionLimits(**limits), log_level="error")
    else:  # the configuration before the guard: uvicorn's own 503 past 72 connections, no read timeouts
        config = uvicorn.Config(
            app, host=TARGET, port=port, log_level="error", timeout_keep_alive=5, limit_concurrency=72
        )
        server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def attacker_socket(port: int, source: str) -> socket.socket:
    """A TCP connection to the server from a loopback source address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.bind((source, 0))
    sock.connect((TARGET, port))
    return sock


def sources(n: int) -> list[str]:
    """n attacker addresses, 127.0.0.2 onwards."""
    return [f"127.0.0.{2 + i}" for i in range(n)]


@dataclass
class Probe:
    """What the well-behaved client saw: one (status, seconds) per request."""

    results: list[tuple[int, float]] = field(default_factory=list)

    @property
    def statuses(self) -> list[int]:
        return [s for s, _ in self.results]

    def quantile(self, q: float) -> float:
        times = sorted(t for _, t in self.results)
        return times[min(len(times) - 1, int(q * len(times)))] if times else float("nan")

    def summary(self) -> str:
        ok = sum(s == 200 for s in self.statuses)
        return (
            f"{ok}/{len(self.results)} answered 200, p50 {self.quantile(0.5) * 1000:.0f} ms, "
            f"p95 {self.quantile(0.95) * 1000:.0f} ms, statuses {sorted(set(self.statuses))}"
        )


def probe(port: int, count: int, pause_s: float, timeout_s: float = 10.0) -> Probe:
    """`count` POST /v1/predict from 127.0.0.1, each on a new connection; status 0 = no answer in time."""
    import httpx

    data = small_jpeg()
    out = Probe()
    for _ in range(count):
        started = time.perf_counter()
        try:
            with httpx.Client(timeout=timeout_s) as client:
                status = client.post(
                    f"http://{TARGET}:{port}/v1/predict", files={"file": ("x.jpg", data, "image/jpeg")}
                ).status_code
        except httpx.HTTPError:
            status = 0
        out.results.append((status, time.perf_counter() - started))
        time.sleep(pause_s)
    return out


def idle_connections(port: int, per_source: int, n_sources: int) -> list[socket.socket]:
    """Open connections that send nothing."""
    socks = []
    for source in sources(n_sources):
        for _ in range(per_source):
            with contextlib.suppress(OSError):
                socks.append(attacker_socket(port, source))
    return socks[:MAX_SOCKETS]


def _drip(socks: list[socket.socket], first: bytes, byte: bytes, stop: threading.Event) -> None:
    """Send `first` on each socket, then one `byte` per second on each until stopped (or closed)."""
    alive = []
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.sendall(first)
            alive.append(sock)
    while alive and not stop.wait(1.0):
        for sock in list(alive):
            try:
                sock.sendall(byte)
            except OSError:
                alive.remove(sock)


def slow_headers(port: int, per_source: int, n_sources: int, stop: threading.Event) -> list[socket.socket]:
    """Slowloris: a request line, then one header byte a second, never finishing the head."""
    socks = idle_connections(port, per_source, n_sources)
    first = f"POST /v1/predict HTTP/1.1\r\nHost: {TARGET}\r\nX-Slow: ".encode()
    threading.Thread(target=_drip, args=(socks, first, b"a", stop), daemon=True).start()
    return socks


def slow_body(port: int, per_source: int, n_sources: int, stop: threading.Event) -> list[socket.socket]:
    """A complete head declaring a 100 kB multipart body, then one body byte a second."""
    socks = idle_connections(port, per_source, n_sources)
    first = (
        f"POST /v1/predict HTTP/1.1\r\nHost: {TARGET}\r\nContent-Length: 100000\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n\r\n--xyz\r\n"
    ).encode()
    threading.Thread(target=_drip, args=(socks, first, b"a", stop), daemon=True).start()
    return socks


def answers(socks: list[socket.socket], wait_s: float) -> dict[str, int]:
    """For each attacker socket, within `wait_s`: the status the server answered, 'closed', or 'open'."""
    deadline = time.monotonic() + wait_s
    seen: dict[str, int] = {}
    pending = list(socks)
    while pending and time.monotonic() < deadline:
        for sock in list(pending):
            sock.settimeout(0.05)
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            label = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/1.1 ") else "closed"
            seen[label] = seen.get(label, 0) + 1
            pending.remove(sock)
    if pending:
        seen["open"] = len(pending)
    return seen


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()


def run_attack(
    port: int, attack: Callable[..., list[socket.socket]], probes: int, per_source: int, n_sources: int
) -> tuple[Probe, list[socket.socket]]:
    """Start an attack, let it settle 1 s, probe with the well-behaved client, stop the attack."""
    stop = threading.Event()
    try:
        if attack is idle_connections:
            socks = attack(port, per_source, n_sources)
        else:
            socks = attack(port, per_source, n_sources, stop)
        time.sleep(1.0)
        result = probe(port, probes, pause_s=0.2)
    finally:
        stop.set()
    return result, socks


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unguarded", action="store_true", help="uvicorn as configured before the guard")
    args = parser.parse_args()
    attacks = {
        "none": None,
        "idle connections (100 from 20 addresses)": (idle_connections, 5, 20),
        "idle connections (100 from 1 address)": (idle_connections, 100, 1),
        "slow headers (80 from 16 addresses, 1 byte/s)": (slow_headers, 5, 16),
        "slow body (80 from 16 addresses, 1 byte/s)": (slow_body, 5, 16),
    }
    with running_server(guarded=not args.unguarded) as port:
        for name, spec in attacks.items():
            if spec is None:
                result, socks = probe(port, 20, 0.2), []
            else:
                result, socks = run_attack(port, spec[0], 20, spec[1], spec[2])
            fate = answers(socks, 0.5)
            close_all(socks)
            print(f"{name:48s} {result.summary()}; attackers: {fate}", flush=True)
            time.sleep(1.0)


if __name__ == "__main__":
    main()
