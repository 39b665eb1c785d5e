"""Shared helpers for the model tests: small inputs, realistic BatchNorm statistics, saved weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from affectlab.labels import class_names
from affectlab.models import AffectModel, ModelInfo, build_model, save_weights
from affectlab.preprocessing import Preprocess

SIZE = 48


def _calibrate(model: nn.Module, size: int = SIZE, seed: int = 0) -> nn.Module:
    """Give BatchNorm layers data statistics (random init leaves outputs nearly constant), then eval()."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(8, 3, size, size, generator=gen))
    return model.eval()


@pytest.fixture
def calibrate() -> Callable[..., nn.Module]:
    """The BatchNorm calibration helper, as a fixture."""
    return _calibrate


@pytest.fixture
def saved_weights(tmp_path: Path) -> Callable[..., tuple[AffectModel, ModelInfo, Path]]:
    """Factory: build (seeded, optionally calibrated), save with a ModelInfo, return (model, info, path)."""

    def make(
        arch: str = "resnet18", num_classes: int = 8, size: int = SIZE, calibrated: bool = False
    ) -> tuple[AffectModel, ModelInfo, Path]:
        torch.manual_seed(1)
        model = build_model(arch, num_classes=num_classes).eval()
        if calibrated:
            _calibrate(model, size)
        info = ModelInfo(arch, class_names(num_classes), Preprocess(size=size), {"run": "test", "acc": 0.5})
        return model, info, save_weights(model, info, tmp_path / f"{arch}_{num_classes}.safetensors")

    return make
