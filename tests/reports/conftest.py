"""Test doubles for the report tests: an in-memory FaceSplit, a tiny multi-task net and its ModelInfo."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from affectlab.labels import class_names
from affectlab.preprocessing import Preprocess


class ArraySplit:
    """FaceSplit double: class-coloured noisy faces with VA near a class prototype; some labels missing."""

    def __init__(self, n: int = 96, size: int = 32, seed: int = 0, symmetric: bool = False) -> None:
        rng = np.random.default_rng(seed)
        self.class_names = class_names(8)
        self.image_size = size
        expr = np.arange(n) % 8
        palette = np.random.default_rng(7).integers(30, 225, size=(8, 3))
        img = palette[expr][:, None, None, :] + rng.normal(0, 20, size=(n, size, size, 3))
        if symmetric:
            img = (img + img[:, :, ::-1, :]) / 2
        self.images = np.clip(img, 0, 255).astype(np.uint8)
        self.expression = expr.astype(np.int64)
        self.valence = np.clip(rng.uniform(-1, 1, n), -1, 1).astype(np.float32)
        self.arousal = np.clip(rng.uniform(-1, 1, n), -1, 1).astype(np.float32)
        self.expression[::17] = -1
        self.valence[::13] = np.nan

    def __len__(self) -> int:
        return len(self.images)

    def labels(self) -> dict[str, np.ndarray]:
        return {"expression": self.expression, "valence": self.valence, "arousal": self.arousal}

    def get_batch(self, indices: Any) -> dict[str, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        return {
            "image": self.images[idx],
            "expression": self.expression[idx],
            "valence": self.valence[idx],
            "arousal": self.arousal[idx],
            "index": idx,
        }


class TinyNet(nn.Module):
    """A small multi-task CNN with the affectlab.models output contract."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.expression = nn.Linear(8, 8)
        self.va = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(x)
        va = torch.tanh(self.va(f))
        return {"expression": self.expression(f), "valence": va[:, 0], "arousal": va[:, 1]}


def models_available() -> bool:
    try:
        from affectlab.models import build_model, load_weights, save_weights  # noqa: F401
    except ImportError:
        return False
    return True


def make_info(arch: str, size: int = 32, names: Any = None) -> Any:
    """A ModelInfo (or a stand-in with the same fields while affectlab.models is absent)."""
    names = list(names or class_names(8))
    if models_available():
        from affectlab.models import ModelInfo

        return ModelInfo(arch=arch, class_names=names, preprocess=Preprocess(size=size), metadata={})
    return SimpleNamespace(arch=arch, class_names=names, preprocess=Preprocess(size=size), metadata={})


@pytest.fixture
def tiny_pair() -> tuple[nn.Module, Any]:
    torch.manual_seed(0)
    return TinyNet(), make_info("tinynet")


@pytest.fixture(scope="session")
def doubles() -> SimpleNamespace:
    """The doubles above, for test modules (pytest's importlib mode cannot import conftest directly)."""
    return SimpleNamespace(
        ArraySplit=ArraySplit, TinyNet=TinyNet, make_info=make_info, models_available=models_available
    )
