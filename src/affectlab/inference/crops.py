"""Face crops that match training: margin, square, clip/pad, resize, optional eye alignment, normalisation.

The crop contract: a face box (x, y, w, h) is grown by `Preprocess.crop_margin` times its width/height on
every side, made square around its centre (side = the larger of the grown width and height), padded with
black where it leaves the image, and resized to `Preprocess.size` (area interpolation when shrinking,
bilinear when enlarging). With alignment, the square is first rotated about its centre so the two eyes
(landmarks 0 and 1) are level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.preprocess import Preprocess


def square_box(box: Sequence[float], margin: float) -> tuple[float, float, float]:
    """Return (centre x, centre y, side) of the square crop for a face box (x, y, w, h) and margin."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1.0 + 2.0 * margin)
    return x + w / 2.0, y + h / 2.0, max(side, 1.0)


def eye_angle(landmarks5: np.ndarray) -> float:
    """Return the angle in degrees of the line from the image-left eye to the image-right eye."""
    (x0, y0), (x1, y1) = sorted(np.asarray(landmarks5, dtype=np.float64)[:2].tolist())
    return math.degrees(math.atan2(y1 - y0, x1 - x0))


def crop_face(
    rgb: np.ndarray,
    box: Sequence[float],
    size: int,
    margin: float,
    landmarks5: np.ndarray | None = None,
    align: bool = False,
) -> np.ndarray:
    """Cut one face out of an RGB uint8 image as a (size, size, 3) uint8 crop."""
    import cv2

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise AffectlabError(f"expected an RGB uint8 image (H, W, 3), got {rgb.dtype} {rgb.shape}")
    cx, cy, side = square_box(box, margin)
    if align and landmarks5 is not None:
        scale = size / side
        matrix = cv2.getRotationMatrix2D((cx, cy), eye_angle(landmarks5), scale)
        matrix[0, 2] += size / 2.0 - cx
        matrix[1, 2] += size / 2.0 - cy
        flags = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        return cv2.warpAffine(rgb, matrix, (size, size), flags=flags, borderMode=cv2.BORDER_CONSTANT)
    x0 = round(cx - side / 2.0)
    y0 = round(cy - side / 2.0)
    s = max(1, round(side))
    height, width = rgb.shape[:2]
    left, top = max(0, -x0), max(0, -y0)
    right, bottom = max(0, x0 + s - width), max(0, y0 + s - height)
    patch = rgb[max(0, y0) : min(height, y0 + s), max(0, x0) : min(width, x0 + s)]
    if patch.size == 0:
        return np.zeros((size, size, 3), np.uint8)
    if left or top or right or bottom:
        patch = cv2.copyMakeBorder(patch, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


def fit_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize an already-cropped face (padded to a square with black, centred) to (size, size, 3)."""
    height, width = rgb.shape[:2]
    side = max(height, width)
    return crop_face(rgb, (0.0, 0.0, float(width), float(height)), size, 0.0) if side else rgb


def normalise(crops: np.ndarray, preprocess: Preprocess) -> np.ndarray:
    """Turn uint8 crops (N, S, S, 3) into the model's float32 NCHW input (scaled to [0, 1], mean/std)."""
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise AffectlabError(f"expected face crops shaped (N, S, S, 3), got {crops.shape}")
    mean = np.asarray(preprocess.mean, np.float32).reshape(1, 3, 1, 1)
    inv_std = 1.0 / np.asarray(preprocess.std, np.float32).reshape(1, 3, 1, 1)
    x = crops.transpose(0, 3, 1, 2).astype(np.float32) * np.float32(1.0 / 255.0)
    return np.ascontiguousarray((x - mean) * inv_std)
