"""Normalisation: uint8 crops (N, S, S, 3) -> the model's float NCHW input, (x / 255 - mean) / std.

One definition in two forms that give the same numbers (tested bit for bit): :func:`normalise` with numpy for
ONNX Runtime and :func:`normalise_tensor` with torch for training and PyTorch inference. Both divide by 255,
subtract the mean and divide by the std in float32, in that order.

On the CPU that arithmetic is done once per uint8 level, not once per pixel: :func:`level_table` holds the
float32 result for each of the 256 levels per channel, and OpenCV's ``LUT`` looks every pixel up, one image at
a time so that the image stays in cache (6x faster than four passes over a batch at 224 px). A lookup of a
value computed by the same float32 operations gives the same bits; the tests compare both against the plain
arithmetic. On other devices torch does the arithmetic.
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


@lru_cache(maxsize=32)
def level_table(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(1, 256, 3) float32: ((level / 255) - mean) / std for every uint8 level and channel, in float32."""
    levels = np.arange(256, dtype=np.float32)[:, None] / np.float32(255.0)
    table = (levels - np.asarray(mean, np.float32)[None, :]) / np.asarray(std, np.float32)[None, :]
    table = np.ascontiguousarray(table.reshape(1, 256, 3))
    table.setflags(write=False)  # shared through the cache
    return table


def lookup(crops: np.ndarray, table: np.ndarray, channels_first: bool) -> np.ndarray:
    """uint8 (N, H, W, 3) -> float32 through a level table: (N, 3, H, W) or, channels last, (N, H, W, 3)."""
    import cv2

    crops = np.ascontiguousarray(crops)
    n, h, w, _ = crops.shape
    out = np.empty((n, 3, h, w) if channels_first else (n, h, w, 3), np.float32)
    for i in range(n):
        if channels_first:
            out[i] = cv2.LUT(crops[i], table).transpose(2, 0, 1)
        else:
            cv2.LUT(crops[i], table, dst=out[i])
    return out


def normalise(crops: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 (N, S, S, 3) -> float32 (N, 3, S, S): divided by 255, minus mean, divided by std."""
    _check(crops)
    if crops.dtype != np.uint8:
        raise AffectlabError(f"expected uint8 face crops, got {crops.dtype}")
    return lookup(crops, level_table(_key(mean), _key(std)), channels_first=True)


def _key(values: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


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
    if images.device.type == "cpu":
        return _looked_up(images, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), channels_last)
    x = images.permute(0, 3, 1, 2).float().div_(255.0)  # the permuted view is already channels_last strided
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def _looked_up(
    images: torch.Tensor, mean: Sequence[float], std: Sequence[float], channels_last: bool
) -> torch.Tensor:
    """The CPU path of to_unit and normalise_tensor: a level-table lookup, as (N, 3, H, W)."""
    import torch

    out = torch.from_numpy(lookup(images.numpy(), level_table(_key(mean), _key(std)), not channels_last))
    return out.permute(0, 3, 1, 2) if channels_last else out  # the NHWC result is channels_last NCHW


def normalise_unit(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """[0, 1] float NCHW -> minus mean, divided by std (constants cached on the batch's device)."""
    dtype = str(x.dtype).removeprefix("torch.")
    m = device_constants(_key(mean), str(x.device), dtype)
    s = device_constants(_key(std), str(x.device), dtype)
    return (x - m) / s


def normalise_tensor(
    images: torch.Tensor, mean: Sequence[float], std: Sequence[float], channels_last: bool = False
) -> torch.Tensor:
    """uint8 (N, S, S, 3) tensor -> float32 (N, 3, S, S), the same numbers as :func:`normalise`."""
    import torch

    if images.device.type == "cpu" and images.dtype == torch.uint8:
        _check(images)
        return _looked_up(images, mean, std, channels_last)
    x = normalise_unit(to_unit(images, channels_last), mean, std)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
