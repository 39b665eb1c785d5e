"""A small registered architecture trained in a second on ArraySplit, then made over-confident on purpose.

Used by the calibration, abstention and saliency tests: a real affectlab model file (safetensors with
ModelInfo, loadable by open_model, exportable to ONNX) whose probabilities are known to be too sharp.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from affectlab.labels import class_names
from affectlab.models import ModelInfo, build_model, register_model, save_weights
from affectlab.models import registry as registry_module
from affectlab.models.registry import Backbone
from affectlab.preprocessing import Preprocess
from affectlab.preprocessing.normalise import normalise_tensor
from helpers.doubles import ArraySplit

TINY_ARCH = "test_tiny_cnn"
SIZE = 32
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _tiny_backbone() -> Backbone:
    features = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=1, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
    )
    module = nn.Sequential()
    module.add_module("features", features)
    module.add_module("pool", nn.AdaptiveAvgPool2d(1))
    module.add_module("flatten", nn.Flatten())
    module.add_module("fc", nn.Identity())
    return Backbone(module, 32, "fc")


@contextmanager
def tiny_arch() -> Iterator[str]:
    """Register the tiny architecture for the duration of a test module."""
    register_model(TINY_ARCH)(_tiny_backbone)
    try:
        yield TINY_ARCH
    finally:
        registry_module._REGISTRY.pop(TINY_ARCH, None)


def info() -> ModelInfo:
    """The ModelInfo of the tiny model: whole 32 px images, margin 0 (ArraySplit's faces)."""
    return ModelInfo(TINY_ARCH, class_names(8), Preprocess(size=SIZE, mean=MEAN, std=STD, crop_margin=0.0))


def noisy_split(n: int, seed: int, flip: float = 0.35) -> ArraySplit:
    """ArraySplit faces whose label is redrawn at random for a share `flip` (rater disagreement)."""
    split = ArraySplit(n=n, size=SIZE, seed=seed, noise=40.0)
    rng = np.random.default_rng(seed + 100)
    redraw = rng.random(n) < flip
    split.expression[redraw] = rng.integers(0, 8, int(redraw.sum()))
    return split


def train_overconfident(out: Path, sharpen: float = 4.0, steps: int = 30, seed: int = 0) -> Path:
    """Train the tiny model briefly on noisy labels, multiply its expression head by `sharpen`, save it."""
    torch.manual_seed(seed)
    model = build_model(TINY_ARCH)
    split = noisy_split(256, seed)
    optimiser = torch.optim.Adam(model.parameters(), 3e-3)
    model.train()
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        batch = split.get_batch(rng.integers(0, len(split), 32))
        x = normalise_tensor(torch.from_numpy(batch["image"]), MEAN, STD)
        loss = nn.functional.cross_entropy(model(x)["expression"], torch.from_numpy(batch["expression"]))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        model.expression.weight.mul_(sharpen)
        model.expression.bias.mul_(sharpen)
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text("{}")
    return save_weights(model, info(), out / "model.safetensors")


def splits(n: int = 160) -> dict[str, ArraySplit]:
    """Held-out 'selection' and reported 'val' splits of the same kind of faces (other seeds)."""
    return {"selection": noisy_split(n, seed=11), "val": noisy_split(n, seed=12)}
