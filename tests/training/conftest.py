"""Shared test doubles for training tests: an in-memory FaceSplit and a tiny multi-task model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from affectlab.labels import class_names

#: Per-class (valence, arousal) prototypes for the learnable double.
_VA = np.array(
    [[0.0, 0.0], [0.8, 0.4], [-0.7, -0.4], [0.1, 0.8], [-0.6, 0.7], [-0.7, 0.3], [-0.6, 0.6], [-0.3, 0.1]],
    dtype=np.float32,
)


class ArraySplit:
    """FaceSplit double: class-coloured noisy images, VA near a class prototype, optional missing labels."""

    def __init__(
        self,
        n: int = 64,
        size: int = 32,
        seed: int = 0,
        num_classes: int = 8,
        missing: float = 0.0,
        noise: float = 25.0,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.class_names = class_names(num_classes)
        self.image_size = size
        self.crop_margin, self.align = 0.0, False  # whole generated images: how a model must cut its inputs
        expr = np.arange(n) % num_classes
        rng.shuffle(expr)
        palette = np.random.default_rng(1234).integers(30, 225, size=(num_classes, 3))
        img = palette[expr][:, None, None, :] + rng.normal(0, noise, size=(n, size, size, 3))
        # a class-specific stripe so that the spatial features matter too
        for c in range(num_classes):
            img[expr == c, :, (c * size) // num_classes : ((c + 1) * size) // num_classes, :] += 30
        self.images = np.clip(img, 0, 255).astype(np.uint8)
        va = _VA[expr] + rng.normal(0, 0.05, size=(n, 2)).astype(np.float32)
        self.expression = expr.astype(np.int64)
        self.valence = np.clip(va[:, 0], -1, 1).astype(np.float32)
        self.arousal = np.clip(va[:, 1], -1, 1).astype(np.float32)
        if missing > 0:
            self.expression[rng.random(n) < missing] = -1
            self.valence[rng.random(n) < missing] = np.nan
            self.arousal[rng.random(n) < missing] = np.nan

    def __len__(self) -> int:
        return len(self.images)

    def labels(self) -> dict[str, np.ndarray]:
        return {"expression": self.expression, "valence": self.valence, "arousal": self.arousal}

    def get_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        return {
            "image": self.images[idx],
            "expression": self.expression[idx],
            "valence": self.valence[idx],
            "arousal": self.arousal[idx],
            "index": idx,
        }


class TinyNet(nn.Module):
    """A small multi-task CNN with the `affectlab.models` output contract."""

    def __init__(self, num_classes: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.expression = nn.Linear(32, num_classes)
        self.va = nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(x)
        va = torch.tanh(self.va(f))
        return {"expression": self.expression(f), "valence": va[:, 0], "arousal": va[:, 1]}


def models_available() -> bool:
    try:
        from affectlab.models import build_model, save_weights  # noqa: F401
    except ImportError:
        return False
    return True


def base_config(out, **extra) -> dict:
    """A fast CPU config: no progress bar, tiny batches, float32."""
    cfg = {
        "out": str(out),
        "seed": 0,
        "data": {"batch_size": 16},
        "model": {"arch": "resnet18"},
        "trainer": {
            "max_epochs": 2,
            "accelerator": "cpu",
            "devices": 1,
            "progress_bar": "none",
            "log_every_n_steps": 1,
        },
    }
    for key, value in extra.items():
        section, _, name = key.partition("__")
        if name:
            cfg.setdefault(section, {})[name] = value
        else:
            cfg[section] = value
    return cfg


@pytest.fixture
def make_config():
    return base_config


@pytest.fixture
def split_factory():
    return ArraySplit


@pytest.fixture
def tiny_model():
    return TinyNet
