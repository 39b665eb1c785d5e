"""A bounded load test on loopback: good and bad uploads mixed, 16 concurrent; no 5xx, bounded memory."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REQUESTS = 300
CONCURRENCY = 16


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _payloads(astronaut: np.ndarray, astronaut_jpeg: bytes, helpers: Any) -> list[tuple[str, bytes, int]]:
    """(name, bytes, expected status): 70 % good photos, 30 % bad uploads of every kind."""
    small = helpers.jpeg_bytes(np.ascontiguousarray(astronaut[::2, ::2]))
    good = [
        ("astronaut.jpg", astronaut_jpeg, 200),
        ("small.jpg", small, 200),
        ("astronaut.png", helpers.encode(astronaut, "PNG"), 200),
    ]
    bad = [
        ("notes.jpg", b"just text\n" * 50, 415),
        ("empty.jpg", b"", 422),
        ("cut.jpg", astronaut_jpeg[: len(astronaut_jpeg) // 2], 422),
        ("bomb.png", helpers.png_declaring(30000, 30000), 413),
        ("anim.gif", b"GIF89a" + bytes(64), 415),
    ]
    rng = random.Random(0)
    return [rng.choice(good) if rng.random() < 0.7 else rng.choice(bad) for _ in range(REQUESTS)]


@pytest.mark.slow
def test_load_mixed_uploads(
    served_app: Any,
    serve_live: Any,
    astronaut: np.ndarray,
    astronaut_jpeg: bytes,
    helpers: Any,
    tmp_path: Path,
) -> None:
    import httpx

    base = serve_live(served_app)
    plan = _payloads(astronaut, astronaut_jpeg, helpers)
    rss_before = _rss_mb()

    async def run() -> list[tuple[str, int, int, float]]:
        results: list[tuple[str, int, int, float]] = []
        queue: asyncio.Queue[tuple[str, bytes, int]] = asyncio.Queue()
        for item in plan:
            queue.put_nowait(item)
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

            async def worker() -> None:
                while not queue.empty():
                    name, data, expected = queue.get_nowait()
                    t0 = time.perf_counter()
                    r = await client.post(
                        "/v1/predict", files={"file": (name, data, "application/octet-stream")}
                    )
                    results.append((name, expected, r.status_code, (time.perf_counter() - t0) * 1000.0))

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return results

    started = time.perf_counter()
    results = asyncio.run(run())
    wall = time.perf_counter() - started
    statuses = [status for _, _, status, _ in results]
    assert len(results) == REQUESTS
    assert not [s for s in statuses if s >= 500], f"5xx answers: {sorted(set(statuses))}"
    wrong = [(n, e, s) for n, e, s, _ in results if s != e]
    assert not wrong, wrong[:10]
    all_ms = np.array([ms for *_, ms in results])
    good_ms = np.array([ms for _, e, _, ms in results if e == 200])
    bad_ms = np.array([ms for _, e, _, ms in results if e != 200])
    report = {
        "requests": REQUESTS,
        "concurrency": CONCURRENCY,
        "good": int(len(good_ms)),
        "bad": int(REQUESTS - len(good_ms)),
        "wall_s": round(wall, 2),
        "requests_per_s": round(REQUESTS / wall, 1),
        "p50_ms": round(float(np.percentile(all_ms, 50)), 1),
        "p95_ms": round(float(np.percentile(all_ms, 95)), 1),
        "good_p50_ms": round(float(np.percentile(good_ms, 50)), 1),
        "good_p95_ms": round(float(np.percentile(good_ms, 95)), 1),
        "bad_p50_ms": round(float(np.percentile(bad_ms, 50)), 1),
        "bad_p95_ms": round(float(np.percentile(bad_ms, 95)), 1),
        "rss_growth_mb": round(_rss_mb() - rss_before, 1),
    }
    (tmp_path / "load_report.json").write_text(json.dumps(report, indent=2))
    print("\nload test:", json.dumps(report))
    assert report["rss_growth_mb"] < 500
    with httpx.Client(base_url=base) as client:
        health = client.get("/v1/health").json()
    assert health["status"] == "ok" and health["running"] == 0 and health["waiting"] == 0
