"""Face crops: margin, square, padding, resize, eye alignment and normalisation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from affectlab.errors import AffectlabError
from affectlab.inference.crops import crop_face, eye_angle, fit_square, normalise, square_box
from affectlab.preprocess import Preprocess


def test_square_box_adds_margin_on_every_side() -> None:
    assert square_box((10, 20, 40, 60), 0.1) == (30.0, 50.0, pytest.approx(72.0))


def test_crop_inside_the_image_is_the_resized_region() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    crop = crop_face(img, (100, 50, 80, 80), size=40, margin=0.0)
    expected = cv2.resize(img[50:130, 100:180], (40, 40), interpolation=cv2.INTER_AREA)
    assert crop.shape == (40, 40, 3) and crop.dtype == np.uint8
    assert np.array_equal(crop, expected)


def test_crop_past_the_border_is_padded_black() -> None:
    img = np.full((100, 100, 3), 200, np.uint8)
    crop = crop_face(img, (-20, 0, 40, 40), size=40, margin=0.0)
    assert np.all(crop[:, :15] == 0) and np.all(crop[:, 25:] == 200)


def test_alignment_levels_the_eyes() -> None:
    img = np.zeros((200, 200, 3), np.uint8)
    eyes = np.array([[70.0, 80.0], [130.0, 110.0]])  # tilted by ~26.6 degrees
    for x, y in eyes:
        cv2.circle(img, (int(x), int(y)), 5, (255, 255, 255), -1)
    marks = np.vstack([eyes, [[100, 120], [80, 150], [120, 150]]])
    assert eye_angle(marks) == pytest.approx(np.degrees(np.arctan2(30, 60)))
    aligned = crop_face(img, (50, 50, 100, 100), 100, 0.0, landmarks5=marks, align=True)
    plain = crop_face(img, (50, 50, 100, 100), 100, 0.0)

    def blob_rows(crop: np.ndarray) -> tuple[float, float]:
        mask = crop[:, :, 0] > 128
        ys, xs = np.nonzero(mask)
        left, right = ys[xs < 50], ys[xs >= 50]
        return float(left.mean()), float(right.mean())

    left, right = blob_rows(aligned)
    assert abs(left - right) < 2.0
    left, right = blob_rows(plain)
    assert right - left > 20


def test_fit_square_keeps_aspect_by_padding() -> None:
    img = np.full((50, 100, 3), 255, np.uint8)
    out = fit_square(img, 20)
    assert out.shape == (20, 20, 3)
    assert np.all(out[0] == 0) and np.all(out[10] == 255)


def test_normalise_matches_mean_std() -> None:
    pre = Preprocess(size=2, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))
    crops = np.full((1, 2, 2, 3), 255, np.uint8)
    x = normalise(crops, pre)
    assert x.shape == (1, 3, 2, 2) and x.dtype == np.float32
    assert np.allclose(x[0, :, 0, 0], [(1 - 0.5) / 0.2, (1 - 0.4) / 0.25, (1 - 0.3) / 0.5])
    with pytest.raises(AffectlabError):
        normalise(np.zeros((2, 2, 3), np.uint8), pre)
