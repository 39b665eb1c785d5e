"""`--threads` reaches every runtime: the model (PyTorch or ONNX Runtime) and the face detector."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import affectlab.threads as threads_mod
from affectlab.errors import AffectlabError
from affectlab.inference.export import export_onnx
from affectlab.inference.options import make_predictor
from affectlab.models import build_model, save_weights
from affectlab.threads import resolve_threads, threads_per_request
from helpers.doubles import make_info


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    model = build_model("mobilenet_v2", num_classes=8).eval()
    info = make_info("mobilenet_v2", size=32)
    weights = folder / "model.safetensors"
    save_weights(model, info, weights)
    onnx = folder / "model.onnx"
    export_onnx(model, onnx, info=info, check=False)
    return {"safetensors": weights, "onnx": onnx}


def _intra_op(session) -> int:
    return session.get_session_options().intra_op_num_threads


def test_threads_reach_the_onnx_model_and_the_detector(models) -> None:
    predictor = make_predictor(models["onnx"], threads=1)
    assert _intra_op(predictor.backend.session) == 1  # type: ignore[attr-defined]
    assert _intra_op(predictor.detector._session) == 1  # type: ignore[attr-defined]


def test_threads_reach_torch_and_default_to_the_physical_cores(models, monkeypatch) -> None:
    make_predictor(models["safetensors"], threads=1)
    assert torch.get_num_threads() == 1
    monkeypatch.setattr(threads_mod, "physical_cores", lambda: 3)
    predictor = make_predictor(models["safetensors"], detector="retinaface")
    assert torch.get_num_threads() == 3
    assert _intra_op(predictor.detector._session) == 3  # type: ignore[attr-defined]


def test_thread_rules(monkeypatch) -> None:
    monkeypatch.setattr(threads_mod, "physical_cores", lambda: 4)
    assert resolve_threads(None) == 4 and resolve_threads(2) == 2 and resolve_threads(None, 3) == 3
    assert threads_per_request(2) == 2 and threads_per_request(8) == 1
    with pytest.raises(AffectlabError, match="--threads must be at least 1"):
        resolve_threads(0)


def test_physical_cores_counts_cores_not_hyperthreads(tmp_path, monkeypatch) -> None:
    # Two sockets x two cores x two hyperthreads, as /proc/cpuinfo lists them: 4 physical cores of 8.
    blocks = [
        f"processor\t: {cpu}\nphysical id\t: {cpu // 4}\ncore id\t\t: {(cpu // 2) % 2}\n" for cpu in range(8)
    ]
    fake = tmp_path / "cpuinfo"
    fake.write_text("\n".join(blocks) + "\n")
    real_path = threads_mod.Path
    monkeypatch.setattr(threads_mod, "Path", lambda p: fake if p == "/proc/cpuinfo" else real_path(p))
    monkeypatch.setattr(threads_mod, "_allowed_cpus", lambda: set(range(8)))
    assert threads_mod.physical_cores() == 4
    monkeypatch.setattr(threads_mod, "_allowed_cpus", lambda: {0, 1})  # pinned to one core's two threads
    assert threads_mod.physical_cores() == 1
