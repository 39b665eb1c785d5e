"""Speed settings (`speed.*`): threads, torch's NaN fill in deterministic mode, clipping a fused optimiser."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.plugins.precision import MixedPrecision

import affectlab.threads as threads_mod
from affectlab.errors import AffectlabError
from affectlab.training.config import load_config
from affectlab.training.module import AffectModule
from affectlab.training.trainer import apply_speed, build_trainer
from helpers.doubles import TinyNet


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    before = torch.get_num_threads()
    fill = torch.utils.deterministic.fill_uninitialized_memory  # type: ignore[attr-defined]
    yield
    torch.set_num_threads(before)
    torch.utils.deterministic.fill_uninitialized_memory = fill  # type: ignore[attr-defined]


def test_threads_default_to_physical_cores_shared_by_ddp_processes(monkeypatch) -> None:
    monkeypatch.setattr(threads_mod, "physical_cores", lambda: 3)
    cpu = {"trainer.accelerator": "cpu"}
    assert apply_speed(load_config(None, cpu))["threads"] == 3 == torch.get_num_threads()
    ddp = {**cpu, "trainer.devices": 2, "trainer.strategy": "ddp"}
    assert apply_speed(load_config(None, ddp))["threads"] == 1 == torch.get_num_threads()
    assert apply_speed(load_config(None, {**cpu, "speed.threads": 2}))["threads"] == 2
    with pytest.raises(AffectlabError, match="speed.threads"):
        load_config(None, {"speed.threads": 0})


def test_deterministic_cpu_runs_skip_the_nan_fill_unless_asked(tmp_path: Path) -> None:
    cfg = load_config(None, {"trainer.accelerator": "cpu", "trainer.progress_bar": "none"})
    trainer = build_trainer(cfg, tmp_path, [])
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.utils.deterministic.fill_uninitialized_memory is False  # type: ignore[attr-defined]
    assert torch.empty(4).isnan().sum() < 4  # no NaN fill of new tensors
    cfg = load_config(cfg, {"speed.fill_uninitialized_memory": True})
    build_trainer(cfg, tmp_path, [])
    assert torch.utils.deterministic.fill_uninitialized_memory is True  # type: ignore[attr-defined]
    assert torch.empty(4).isnan().all()
    assert trainer is not None


def test_fused_optimiser_under_bf16_is_clipped_by_the_module() -> None:
    module = AffectModule(load_config(None).to_dict(), [str(i) for i in range(8)], model=TinyNet())
    module._trainer = SimpleNamespace(precision_plugin=MixedPrecision("bf16-mixed", "cpu"))  # type: ignore[assignment]
    opt = torch.optim.AdamW(module.model.parameters(), lr=1e-3, fused=True)
    for p in module.model.parameters():
        p.grad = torch.full_like(p, 10.0)
    module.configure_gradient_clipping(opt, 1.0, "norm")
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in module.model.parameters()]))
    assert norm == pytest.approx(1.0, rel=1e-4)
    # Lightning's own path refuses a fused optimiser with clipping under mixed precision:
    with pytest.raises(RuntimeError, match="fused"):
        MixedPrecision("bf16-mixed", "cpu").clip_gradients(opt, 1.0)
