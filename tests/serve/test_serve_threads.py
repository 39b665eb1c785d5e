"""`affectlab serve --threads`: threads per inference, by default the physical cores shared by the slots."""

from __future__ import annotations

from types import SimpleNamespace

import affectlab.serve.app as app_mod
import affectlab.threads as threads_mod
from affectlab.serve.limits import ServeLimits


def test_threads_per_inference_default_and_explicit(monkeypatch) -> None:
    seen: list[int | None] = []

    def fake_load(path, threads=None, options=None):
        seen.append(threads)
        return SimpleNamespace(), {"architecture": "x"}

    monkeypatch.setattr(app_mod, "load_predictor", fake_load)
    monkeypatch.setattr(threads_mod, "physical_cores", lambda: 4)
    app_mod.create_app("m.onnx", limits=ServeLimits(max_concurrency=2))
    app_mod.create_app("m.onnx", limits=ServeLimits(max_concurrency=8))
    app_mod.create_app("m.onnx", limits=ServeLimits(max_concurrency=2), threads=3)
    assert seen == [2, 1, 3]


def test_open_predictor_gives_the_detector_the_threads(tmp_path, monkeypatch) -> None:
    from affectlab.serve.model_info import open_predictor

    seen = {}

    def fake_make(path, **kwargs):
        seen.update(kwargs)
        return SimpleNamespace()

    monkeypatch.setattr("affectlab.inference.options.make_predictor", fake_make)
    open_predictor(tmp_path / "m.onnx", threads=1)
    assert seen == {"threads": 1}
