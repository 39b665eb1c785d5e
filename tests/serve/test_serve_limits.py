"""Concurrency cap, wait queue, timeout: saturation answers 429/503/504 quickly and never piles up work."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from affectlab.errors import AffectlabError
from affectlab.serve.limits import ServeLimits


async def _post_many(app: Any, payload: bytes, n: int) -> list[Any]:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:

        async def one() -> Any:
            return await client.post("/v1/predict", files={"file": ("a.jpg", payload, "image/jpeg")})

        return await asyncio.gather(*(one() for _ in range(n)))


def test_concurrency_cap_answers_429_with_retry_after(astronaut_jpeg: bytes, helpers: Any) -> None:
    from affectlab.serve.app import create_app

    release = threading.Event()
    fake = helpers.FakePredictor(gate=release)
    limits = ServeLimits(max_concurrency=1, max_queue=1, timeout_s=20, retry_after_s=2)
    app = create_app(None, predictor=fake, limits=limits)

    async def scenario() -> list[Any]:
        task = asyncio.ensure_future(_post_many(app, astronaut_jpeg, 6))
        await asyncio.sleep(1.0)  # 1 running (blocked), 1 queued, 4 refused by now
        release.set()
        return await task

    responses = asyncio.run(scenario())
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 200, 429, 429, 429, 429], codes
    refused = [r for r in responses if r.status_code == 429]
    for r in refused:
        assert r.headers["retry-after"] == "2"
        assert r.json()["error"] == "busy" and "retry" in r.json()["detail"]
    assert fake.max_active == 1


def test_never_more_than_max_concurrency_inferences(astronaut_jpeg: bytes, helpers: Any) -> None:
    from affectlab.serve.app import create_app

    fake = helpers.FakePredictor(delay_s=0.05)
    app = create_app(None, predictor=fake, limits=ServeLimits(max_concurrency=2, max_queue=32))
    responses = asyncio.run(_post_many(app, astronaut_jpeg, 12))
    assert all(r.status_code == 200 for r in responses)
    assert fake.calls == 12 and fake.max_active == 2


def test_queue_wait_past_timeout_is_503(astronaut_jpeg: bytes, helpers: Any) -> None:
    from affectlab.serve.app import create_app

    fake = helpers.FakePredictor(delay_s=1.5)
    app = create_app(None, predictor=fake, limits=ServeLimits(max_concurrency=1, max_queue=4, timeout_s=1.0))
    started = time.perf_counter()
    responses = asyncio.run(_post_many(app, astronaut_jpeg, 2))
    elapsed = time.perf_counter() - started
    by_code = {r.status_code: r for r in responses}
    assert set(by_code) == {503, 504}, [r.status_code for r in responses]
    assert by_code[503].json()["error"] == "busy" and "retry-after" in by_code[503].headers
    assert by_code[504].json()["error"] == "timeout"
    assert elapsed < 1.45  # answered at the deadline, not when the slow inference finished


def test_slot_held_until_timed_out_work_finishes(astronaut_jpeg: bytes, helpers: Any) -> None:
    """A request that timed out keeps its slot until its inference really ends: work cannot pile up."""
    from fastapi.testclient import TestClient

    from affectlab.serve.app import create_app

    release = threading.Event()
    fake = helpers.FakePredictor(gate=release)
    app = create_app(None, predictor=fake, limits=ServeLimits(max_concurrency=1, max_queue=0, timeout_s=0.3))
    with TestClient(app) as client:
        files = {"file": ("a.jpg", astronaut_jpeg, "image/jpeg")}
        assert client.post("/v1/predict", files=files).status_code == 504
        assert client.get("/v1/health").json()["running"] == 1
        busy = client.post("/v1/predict", files=files)
        assert busy.status_code == 429 and fake.calls == 1
        release.set()
        deadline = time.time() + 5
        while client.get("/v1/health").json()["running"] and time.time() < deadline:
            time.sleep(0.02)
        assert client.post("/v1/predict", files=files).status_code == 200


@pytest.mark.parametrize(
    "kwargs",
    [{"max_upload_bytes": 0}, {"max_pixels": 0}, {"max_concurrency": 0}, {"max_queue": -1}, {"timeout_s": 0}],
)
def test_invalid_limits_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(AffectlabError):
        ServeLimits(**kwargs)


def test_create_app_needs_model_or_predictor(tmp_path: Any) -> None:
    from affectlab.serve.app import create_app

    with pytest.raises(AffectlabError):
        create_app(None)
    with pytest.raises(AffectlabError, match="no such file or folder"):
        create_app(tmp_path / "missing.safetensors")
