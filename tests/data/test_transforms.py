"""On-device batch augmentation: shapes, ranges, flip/crop correctness, seeding."""

from __future__ import annotations

import torch

from affectlab.data.transforms import (
    BatchAugment,
    color_jitter,
    crop_resize,
    hflip,
    prepare_batch,
    random_boxes,
    random_erasing,
)
from affectlab.preprocessing import normalise_unit as normalize
from affectlab.preprocessing import to_unit as to_float


def _images(n: int = 6, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, size, size, 3), generator=g, dtype=torch.uint8)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_to_float_layout_and_range() -> None:
    u8 = _images()
    x = to_float(u8)
    assert x.shape == (6, 3, 32, 32) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(x[2, 1, 5, 7], u8[2, 5, 7, 1].float() / 255)
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_normalize_matches_formula() -> None:
    x = to_float(_images())
    y = normalize(x, (0.5, 0.4, 0.3), (0.2, 0.25, 0.5))
    assert torch.allclose(y[:, 2], (x[:, 2] - 0.3) / 0.5)


def test_identity_box_is_identity() -> None:
    x = to_float(_images())
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).repeat(6, 1)
    assert torch.allclose(crop_resize(x, boxes), x, atol=1e-6)


def test_quadrant_box_picks_exact_pixels() -> None:
    x = to_float(_images())
    boxes = torch.tensor([[0.5, 0.0, 1.0, 0.5]]).repeat(6, 1)  # top-right quadrant
    y = crop_resize(x, boxes, size=16)
    assert torch.allclose(y, x[:, :, :16, 16:], atol=1e-6)


def test_random_boxes_within_image_and_scale() -> None:
    b = random_boxes(1000, (0.3, 0.9), (0.75, 1.33), _gen())
    assert (b[:, :2] >= 0).all() and (b[:, 2:] <= 1 + 1e-6).all()
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    assert area.min() >= 0.3 * 0.8 and area.max() <= 0.9 + 1e-5


def test_hflip_mirrors_selected_images_only() -> None:
    x = to_float(_images())
    mask = torch.tensor([True, False, True, False, False, True])
    y = hflip(x, mask)
    assert torch.equal(y[0, :, :, 0], x[0, :, :, -1])
    assert torch.equal(y[0], x[0].flip(-1))
    assert torch.equal(y[1], x[1])
    assert torch.equal(hflip(y, mask), x)


def test_color_jitter_keeps_range_and_zero_strength_is_identity() -> None:
    x = to_float(_images())
    y = color_jitter(x.clone(), 0.5, 0.5, 0.5, _gen())
    assert y.shape == x.shape and y.min() >= 0.0 and y.max() <= 1.0
    assert not torch.allclose(y, x)
    assert torch.allclose(color_jitter(x.clone(), 0.0, 0.0, 0.0, _gen()), x)


def test_random_erasing_fills_rectangles_with_value() -> None:
    x = to_float(_images(n=64)) + 1.0  # strictly positive so erased pixels are recognisable
    y = random_erasing(x, p=1.0, scale=(0.1, 0.2), generator=_gen())
    erased = (y == 0).all(dim=1)  # (N, H, W)
    frac = erased.float().mean(dim=(1, 2))
    assert (frac > 0.03).all() and (frac < 0.4).all()
    assert torch.equal(random_erasing(x, p=0.0, scale=(0.1, 0.2), generator=_gen()), x)


def test_batch_augment_same_seed_same_output() -> None:
    x = to_float(_images())
    kw = dict(crop_scale=(0.5, 1.0), brightness=0.3, contrast=0.3, saturation=0.3, erasing=0.5)
    a, b, c = BatchAugment(seed=7, **kw), BatchAugment(seed=7, **kw), BatchAugment(seed=8, **kw)
    ya, yb, yc = a(x), b(x), c(x)
    assert torch.equal(ya, yb)
    assert not torch.equal(ya, yc)
    assert torch.equal(a.erase(ya), b.erase(yb))
    assert not torch.equal(a(x), ya)  # the generator advances between batches


def test_batch_augment_state_roundtrip() -> None:
    x = to_float(_images())
    a = BatchAugment(seed=3, crop_scale=(0.5, 1.0))
    a(x)
    state = a.state_dict()
    expected = a(x)
    b = BatchAugment(seed=99, crop_scale=(0.5, 1.0))
    b.load_state_dict(state)
    assert torch.equal(b(x), expected)


def test_prepare_batch_shapes_range_and_format() -> None:
    u8 = _images(n=8, size=48)
    aug = BatchAugment(
        seed=0, crop_scale=(0.6, 1.0), brightness=0.2, contrast=0.2, saturation=0.2, erasing=0.5
    )
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    y = prepare_batch(u8, mean, std, aug)
    assert y.shape == (8, 3, 48, 48) and y.dtype == torch.float32
    assert y.is_contiguous(memory_format=torch.channels_last)
    lo = min((0 - m) / s for m, s in zip(mean, std, strict=True))
    hi = max((1 - m) / s for m, s in zip(mean, std, strict=True))
    assert y.min() >= lo - 1e-5 and y.max() <= hi + 1e-5
    plain = prepare_batch(u8, mean, std)
    assert torch.allclose(plain, normalize(to_float(u8), mean, std))
    # Without augmentation, training's batches are exactly the inference normalisation (numpy form).
    from affectlab.preprocessing import normalise

    assert torch.equal(plain.contiguous(), torch.from_numpy(normalise(u8.numpy(), mean, std)))
