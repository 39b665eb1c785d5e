"""Batch augmentation on the training device: uint8 NHWC in, normalised float NCHW out.

Scaling and normalisation are affectlab.preprocessing.normalise's (the same numbers as inference); this module
adds only the random augmentation between them. Every random draw comes from an explicit `torch.Generator` on
the batch's device, so the same seed gives the same output. Geometry is in normalised coordinates (0..1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from affectlab.preprocessing.normalise import device_constants, normalise_tensor, normalise_unit, to_unit

#: Luma weights (ITU-R BT.601) for contrast and saturation, cached per device like the normalisation.
GREY_WEIGHTS = (0.299, 0.587, 0.114)


def crop_resize(x: torch.Tensor, boxes: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """Crop each image to its box (x0, y0, x1, y1 in 0..1) and resize to `size` (bilinear)."""
    n, c, h, w = x.shape
    out = size or h
    boxes = boxes.to(device=x.device, dtype=x.dtype)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = boxes[:, 2] - boxes[:, 0]
    theta[:, 1, 1] = boxes[:, 3] - boxes[:, 1]
    theta[:, 0, 2] = boxes[:, 0] + boxes[:, 2] - 1.0
    theta[:, 1, 2] = boxes[:, 1] + boxes[:, 3] - 1.0
    grid = F.affine_grid(theta, [n, c, out, out], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_boxes(
    n: int,
    scale: Sequence[float],
    ratio: Sequence[float],
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Draw random-resized-crop boxes (x0, y0, x1, y1 in 0..1): area in `scale`, aspect in `ratio`."""
    u = torch.rand(n, 4, generator=generator, device=device)
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1]
    r = torch.exp(log_r)
    bw = torch.sqrt(area * r).clamp(max=1.0)
    bh = torch.sqrt(area / r).clamp(max=1.0)
    x0 = (1.0 - bw) * u[:, 2]
    y0 = (1.0 - bh) * u[:, 3]
    return torch.stack([x0, y0, x0 + bw, y0 + bh], dim=1)


def hflip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror the images where `mask` (N,) is true."""
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)


def color_jitter(
    x: torch.Tensor,
    brightness: float,
    contrast: float,
    saturation: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Per-image random brightness, contrast and saturation on a [0, 1] RGB batch (clamped to [0, 1])."""
    n = x.shape[0]
    u = torch.rand(n, 3, generator=generator, device=x.device, dtype=x.dtype) * 2.0 - 1.0
    view = (n, 1, 1, 1)
    if brightness > 0:
        x = x * (1.0 + brightness * u[:, 0]).view(view)
    gray_w = device_constants(GREY_WEIGHTS, str(x.device), str(x.dtype).removeprefix("torch."))
    if contrast > 0:
        mean = (x * gray_w).sum(1, keepdim=True).mean(dim=(2, 3), keepdim=True)
        x = (x - mean) * (1.0 + contrast * u[:, 1]).view(view) + mean
    if saturation > 0:
        gray = (x * gray_w).sum(1, keepdim=True)
        x = (x - gray) * (1.0 + saturation * u[:, 2]).view(view) + gray
    return x.clamp_(0.0, 1.0)


def random_erasing(
    x: torch.Tensor,
    p: float,
    scale: Sequence[float],
    generator: torch.Generator,
    ratio: Sequence[float] = (0.3, 3.3),
    value: float = 0.0,
) -> torch.Tensor:
    """With probability `p` per image, fill one random rectangle (area fraction in `scale`) with `value`."""
    n, _, h, w = x.shape
    u = torch.rand(n, 5, generator=generator, device=x.device)
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    r = torch.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1])
    bw = torch.sqrt(area * r).clamp(max=1.0)
    bh = torch.sqrt(area / r).clamp(max=1.0)
    x0 = (1.0 - bw) * u[:, 2]
    y0 = (1.0 - bh) * u[:, 3]
    on = u[:, 4] < p
    xs = (torch.arange(w, device=x.device) + 0.5) / w
    ys = (torch.arange(h, device=x.device) + 0.5) / h
    in_x = (xs.view(1, -1) >= x0.view(-1, 1)) & (xs.view(1, -1) < (x0 + bw).view(-1, 1))
    in_y = (ys.view(1, -1) >= y0.view(-1, 1)) & (ys.view(1, -1) < (y0 + bh).view(-1, 1))
    mask = (in_y.unsqueeze(2) & in_x.unsqueeze(1) & on.view(-1, 1, 1)).unsqueeze(1)
    return x.masked_fill(mask, value)


@dataclass
class BatchAugment:
    """Random resized crop, flip, colour jitter and erasing on whole batches; seeded per device."""

    crop_scale: tuple[float, float] = (0.8, 1.0)
    crop_ratio: tuple[float, float] = (0.9, 1.1)
    hflip: float = 0.5
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    erasing: float = 0.0
    erasing_scale: tuple[float, float] = (0.02, 0.2)
    seed: int = 0

    def __post_init__(self) -> None:
        self.crop_scale = (float(self.crop_scale[0]), float(self.crop_scale[1]))
        self.crop_ratio = (float(self.crop_ratio[0]), float(self.crop_ratio[1]))
        self.erasing_scale = (float(self.erasing_scale[0]), float(self.erasing_scale[1]))
        self._generators: dict[str, torch.Generator] = {}
        self._pending_state: dict[str, torch.Tensor] = {}

    def generator(self, device: torch.device) -> torch.Generator:
        """Return this augmenter's generator for `device` (created from the seed on first use)."""
        key = str(device)
        if key not in self._generators:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed)
            if key in self._pending_state:
                gen.set_state(self._pending_state.pop(key))
            self._generators[key] = gen
        return self._generators[key]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Generator states by device, for checkpoints."""
        return {k: g.get_state() for k, g in self._generators.items()} | dict(self._pending_state)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore generator states saved by :meth:`state_dict`."""
        self._generators.clear()
        self._pending_state = dict(state)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Augment a [0, 1] float NCHW batch (before normalisation, except erasing: see `apply`)."""
        g = self.generator(x.device)
        n = x.shape[0]
        geo = self.crop_scale[0] < 1.0 or self.crop_ratio != (1.0, 1.0)
        if geo:
            boxes = random_boxes(n, self.crop_scale, self.crop_ratio, g, x.device)
            x = crop_resize(x, boxes, x.shape[-1])
        if self.hflip > 0:
            flip = torch.rand(n, generator=g, device=x.device) < self.hflip
            x = hflip(x, flip)
        if self.brightness > 0 or self.contrast > 0 or self.saturation > 0:
            x = color_jitter(x, self.brightness, self.contrast, self.saturation, g)
        return x

    def erase(self, x: torch.Tensor) -> torch.Tensor:
        """Random erasing on a normalised batch (filled with 0, the dataset mean)."""
        if self.erasing <= 0:
            return x
        return random_erasing(x, self.erasing, self.erasing_scale, self.generator(x.device))


def prepare_batch(
    images: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    augment: BatchAugment | None = None,
    channels_last: bool = True,
) -> torch.Tensor:
    """uint8 NHWC on device -> float NCHW: optional augmentation, normalisation, optional erasing."""
    if augment is None:  # one step: on the CPU a lookup of the normalised value of each level
        return normalise_tensor(images, mean, std, channels_last)
    x = to_unit(images, channels_last)
    if augment is not None:
        x = augment(x)
    x = normalise_unit(x, mean, std)
    if augment is not None:
        x = augment.erase(x)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return x.contiguous(memory_format=fmt)
