"""Cropping: margin, square, padding, resize (Pillow bilinear), eye alignment; and normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from affectlab.errors import AffectlabError
from affectlab.preprocessing import (
    ImageProblem,
    check_box,
    crop_face,
    eyes_from_landmarks,
    normalise,
    normalise_tensor,
)
from affectlab.preprocessing.crop import square_region


def test_square_region_adds_margin_on_every_side_and_snaps_to_pixels() -> None:
    # box 40x60 at (10, 20): side 60 * 1.2 = 72 around the centre (30, 50)
    assert square_region((10, 20, 40, 60), 0.1, 500, 500) == (-6, 14, 72)
    # no box: the whole image, centred on its longer side, margin not applied
    assert square_region(None, 0.5, 40, 20) == (0, -10, 40)


def test_crop_inside_the_image_is_the_resized_region() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    crop = crop_face(img, (100, 50, 80, 80), size=40, margin=0.0)
    expected = np.asarray(Image.fromarray(img[50:130, 100:180]).resize((40, 40), Image.Resampling.BILINEAR))
    assert crop.shape == (40, 40, 3) and crop.dtype == np.uint8
    assert np.array_equal(crop, expected)


def test_only_the_square_is_copied_and_the_pixels_are_those_of_the_whole_frame() -> None:
    """crop_faces copies only the part of the frame a square covers; a reference crops the whole frame
    with Pillow (black outside it) and must give the same bytes, inside, across and past every border."""
    from affectlab.preprocessing import crop_faces

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    whole = Image.fromarray(img)
    boxes = [(10, 10, 30, 30), (-25, 40, 50, 60), (140, -10, 40, 40), (-50, -50, 300, 200), (150, 80, 9, 9)]
    boxes += [tuple(rng.uniform(-60, 180, 2)) + tuple(rng.uniform(4, 120, 2)) for _ in range(40)]
    for margin in (0.0, 0.25):
        crops = crop_faces(img, [(b, None) for b in boxes], 24, margin)
        for box, crop in zip(boxes, crops, strict=True):
            left, top, side = square_region(box, margin, 160, 90)
            ref = whole.crop((left, top, left + side, top + side)).resize((24, 24), Image.Resampling.BILINEAR)
            assert np.array_equal(crop, np.asarray(ref)), (box, margin)


def test_resize_matches_torch_antialiased_bilinear() -> None:
    """The documented equivalence: Pillow BILINEAR == torch interpolate(bilinear, antialias=True), +-1."""
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    ours = crop_face(img, None, 40, 0.0).astype(np.float64)
    t = torch.from_numpy(img).permute(2, 0, 1)[None].double()
    ref = torch.nn.functional.interpolate(
        t, size=(40, 40), mode="bilinear", antialias=True, align_corners=False
    )
    ref = ref[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - ref).max() <= 1.0


def test_crop_past_the_border_is_padded_black_and_the_box_is_not_clipped() -> None:
    img = np.full((100, 100, 3), 200, np.uint8)
    crop = crop_face(img, (-20, 0, 40, 40), size=40, margin=0.0)
    assert np.all(crop[:, :19] == 0) and np.all(crop[:, 21:] == 200)
    assert check_box((-20, 0, 40, 40), 100, 100) == ["box_partly_outside"]
    assert check_box((10, 10, 40, 40), 100, 100) == []
    with pytest.raises(ImageProblem) as info:
        check_box((140, 140, 10, 10), 100, 100)
    assert info.value.reason == "box_outside_image"
    with pytest.raises(ImageProblem):
        check_box((1, 1, 0, 5), 100, 100)


def test_whole_image_is_letterboxed_black() -> None:
    img = np.full((50, 100, 3), 255, np.uint8)
    out = crop_face(img, None, 20, 0.3)
    assert out.shape == (20, 20, 3)
    assert np.all(out[0] == 0) and np.all(out[10] == 255)


def _blobs(eyes: np.ndarray) -> np.ndarray:
    img = np.zeros((200, 200, 3), np.uint8)
    yy, xx = np.mgrid[0:200, 0:200]
    for x, y in eyes:
        img[(xx - x) ** 2 + (yy - y) ** 2 <= 25] = 255
    return img


def _blob_rows(crop: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(crop[:, :, 0] > 128)
    return float(ys[xs < crop.shape[1] // 2].mean()), float(ys[xs >= crop.shape[1] // 2].mean())


def test_alignment_levels_the_eyes_from_5_or_68_points() -> None:
    eyes = np.array([[70.0, 80.0], [130.0, 110.0]])  # tilted by ~26.6 degrees
    img = _blobs(eyes)
    five = np.vstack([eyes, [[100, 120], [80, 150], [120, 150]]])
    sixty_eight = np.zeros((68, 2))
    sixty_eight[36:42], sixty_eight[42:48] = eyes[0], eyes[1]
    assert eyes_from_landmarks(five) == eyes_from_landmarks(sixty_eight) == ((70.0, 80.0), (130.0, 110.0))
    aligned = crop_face(img, (50, 50, 100, 100), 100, 0.0, eyes_from_landmarks(five))
    left, right = _blob_rows(aligned)
    assert abs(left - right) < 1.5
    left, right = _blob_rows(crop_face(img, (50, 50, 100, 100), 100, 0.0))
    assert right - left > 20
    assert eyes_from_landmarks(np.full((68, 2), np.nan)) is None


def test_normalise_numpy_and_torch_forms_agree_bit_for_bit() -> None:
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    crops = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    x = normalise(crops, mean, std)
    assert x.shape == (5, 3, 16, 16) and x.dtype == np.float32
    assert np.allclose(x[0, :, 0, 0], (crops[0, 0, 0] / 255.0 - np.array(mean)) / np.array(std), atol=1e-6)
    for channels_last in (False, True):
        t = normalise_tensor(torch.from_numpy(crops), mean, std, channels_last=channels_last)
        assert t.dtype == torch.float32
        assert np.array_equal(t.contiguous().numpy(), x)
    with pytest.raises(AffectlabError):
        normalise(np.zeros((2, 2, 3), np.uint8), mean, std)


def test_the_level_table_gives_the_bits_of_the_arithmetic_for_every_level() -> None:
    """The CPU lookup against the definition computed directly, with numpy and with torch (the path other
    devices take), for all 256 levels in every channel."""
    from affectlab.preprocessing import normalise_unit, to_unit

    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    rng = np.random.default_rng(4)
    levels = np.stack([rng.permutation(256) for _ in range(3)], axis=-1).astype(np.uint8)  # (256, 3)
    crops = np.ascontiguousarray(np.tile(levels.reshape(1, 16, 16, 3), (3, 1, 1, 1))[:, ::-1])
    f32 = crops.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
    by_numpy = (f32 - np.asarray(mean, np.float32).reshape(1, 3, 1, 1)) / np.asarray(std, np.float32).reshape(
        1, 3, 1, 1
    )
    images = torch.from_numpy(crops)
    by_torch = normalise_unit(images.permute(0, 3, 1, 2).float().div_(255.0), mean, std)
    assert np.array_equal(by_numpy, by_torch.numpy())
    assert np.array_equal(normalise(crops, mean, std), by_numpy)
    for channels_last in (False, True):
        t = normalise_tensor(images, mean, std, channels_last=channels_last)
        assert t.shape == (3, 3, 16, 16) and t.is_contiguous(
            memory_format=torch.channels_last if channels_last else torch.contiguous_format
        )
        assert np.array_equal(t.contiguous().numpy(), by_numpy)
        unit = to_unit(images, channels_last)
        assert torch.equal(unit, images.permute(0, 3, 1, 2).float().div_(255.0))
