"""Normalisation: uint8 crops (N, S, S, 3) -> the model's float NCHW input, (x / 255 - mean) / std.

One definition in two forms that give the same numbers (tested bit for bit): :func:`normalise` with numpy for
ONNX Runtime and :func:`normalise_tensor` with torch for training and PyTorch inference. Both divide by 255,
subtract the mean and divide by the std in float32, in that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from affectlab.errors import AffectlabError

if TYPE_CHECKING:
    import torch


def _check(crops: Any) -> None:
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise AffectlabError(f"expected face crops shaped (N, S, S, 3), got {tuple(crops.shape)}")


def normalise(crops: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 (N, S, S, 3) -> float32 (N, 3, S, S): divided by 255, minus mean, divided by std."""
    _check(crops)
    if crops.dtype != np.uint8:
        raise AffectlabError(f"expected uint8 face crops, got {crops.dtype}")
    m = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    s = np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    x = crops.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray((x - m) / s)


@lru_cache(maxsize=32)
def device_constants(values: tuple[float, ...], device: str, dtype: str) -> torch.Tensor:
    """Per-channel constants cached per device: no host-to-device copy per batch."""
    import torch

    return torch.tensor(values, dtype=getattr(torch, dtype), device=device).view(1, -1, 1, 1)


def to_unit(images: torch.Tensor, channels_last: bool = True) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1] (divided by 255)."""
    import torch

    if images.dtype != torch.uint8:
        raise AffectlabError(f"expected uint8 images, got {images.dtype}")
    _check(images)
    x = images.permute(0, 3, 1, 2).float().div_(255.0)  # the permuted view is already channels_last strided
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def normalise_unit(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """[0, 1] float NCHW -> minus mean, divided by std (constants cached on the batch's device)."""
    dtype = str(x.dtype).removeprefix("torch.")
    m = device_constants(tuple(float(v) for v in mean), str(x.device), dtype)
    s = device_constants(tuple(float(v) for v in std), str(x.device), dtype)
    return (x - m) / s


def normalise_tensor(
    images: torch.Tensor, mean: Sequence[float], std: Sequence[float], channels_last: bool = False
) -> torch.Tensor:
    """uint8 (N, S, S, 3) tensor -> float32 (N, 3, S, S), the same numbers as :func:`normalise`."""
    import torch

    x = normalise_unit(to_unit(images, channels_last), mean, std)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
