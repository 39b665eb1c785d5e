"""Test doubles shared by every test package: in-memory FaceSplits, a tiny multi-task net, expected schemas.

Import them as ``from helpers.doubles import TinyNet`` (pytest puts tests/ on the path: pyproject's
``pythonpath``). Nothing here stands in for affectlab's own code: a broken affectlab import fails the tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from affectlab.labels import class_names
from affectlab.models import ModelInfo
from affectlab.preprocessing import Preprocess

#: The keys of one face in predict's JSON and serve's responses (docs/predict.md, docs/serve.md).
FACE_KEYS = frozenset(
    {
        "source",
        "frame",
        "time_s",
        "face",
        "track",
        "box",
        "score",
        "expression",
        "probabilities",
        "valence",
        "arousal",
        "uncertain",
    }
)

#: Per-class (valence, arousal) prototypes for the learnable double.
_VA = np.array(
    [[0.0, 0.0], [0.8, 0.4], [-0.7, -0.4], [0.1, 0.8], [-0.6, 0.7], [-0.7, 0.3], [-0.6, 0.6], [-0.3, 0.1]],
    dtype=np.float32,
)


class _ArrayBacked:
    """The FaceSplit methods shared by the doubles: images and labels held as arrays."""

    images: np.ndarray
    expression: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray

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


class ArraySplit(_ArrayBacked):
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


class TinyNet(nn.Module):
    """A small multi-task CNN with the `affectlab.models` output contract."""

    def __init__(self, num_classes: int = 8, seed: int | None = None) -> None:
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
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


class ColourSplit(_ArrayBacked):
    """FaceSplit double for scoring: class-coloured noisy faces, random VA, fixed missing labels."""

    def __init__(self, n: int = 96, size: int = 32, seed: int = 0, symmetric: bool = False) -> None:
        rng = np.random.default_rng(seed)
        self.class_names = class_names(8)
        self.image_size = size
        self.crop_margin, self.align = 0.0, False
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


def make_info(arch: str, size: int = 32, names: Any = None) -> ModelInfo:
    """The ModelInfo of a model trained on whole 'size' px images (margin 0: ArraySplit's faces)."""
    names = list(names or class_names(8))
    return ModelInfo(
        arch=arch, class_names=names, preprocess=Preprocess(size=size, crop_margin=0.0), metadata={}
    )


def nan_loss_at(monkeypatch: Any, step: int) -> None:
    """Make the `step`-th training loss (0-based, training batches only) NaN, the rest unchanged."""
    import affectlab.training.module as module_mod

    real = module_mod.compute_losses
    calls = {"n": 0}

    def fake(outputs: Any, batch: Any, cfg: Any, *args: Any, **kwargs: Any) -> Any:
        terms = real(outputs, batch, cfg, *args, **kwargs)
        if outputs["expression"].requires_grad:
            if calls["n"] == step:
                terms["loss"] = terms["loss"] * float("nan")
            calls["n"] += 1
        return terms

    monkeypatch.setattr(module_mod, "compute_losses", fake)
