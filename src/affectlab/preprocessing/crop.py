"""Cropping: a face box (or the whole image) plus margin -> a square -> the model's input side.

The rule, for prepare, raw-layout training, evaluate, predict and serve alike:

1. The box (x, y, w, h) in pixels is grown by ``margin`` times its larger side on every side and made a square
   around the box's centre: side = max(w, h) * (1 + 2 * margin). Without a box the square is the whole image
   (centred, side = the longer side) and the margin is not applied (the image *is* the face).
2. The square snaps to whole pixels (side and top-left corner rounded half up). Where it leaves the image it
   is padded with black; the box itself is never clipped, so the face keeps its place in the square.
3. With alignment (and two eye points), the square is first rotated about its centre so that the eyes are
   level: an affine warp at the image's own resolution, bilinear.
4. The square is resized to ``size`` x ``size`` with Pillow's BILINEAR filter, whose support scales with the
   reduction (antialiased when shrinking, plain bilinear when enlarging): the same as torchvision's
   ``Resize(antialias=True)`` on PIL images.

One library (Pillow), one interpolation (bilinear), one function: :func:`crop_faces`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.preprocessing.decode import ImageProblem

Box = tuple[float, float, float, float]
Point = tuple[float, float]
Eyes = tuple[Point, Point]


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)


def square_region(
    box: Sequence[float] | None, margin: float, width: int, height: int
) -> tuple[int, int, int]:
    """Return (left, top, side) in whole pixels of the square crop for a box (or None: the whole image)."""
    if box is None:
        x, y, w, h, margin = 0.0, 0.0, float(width), float(height), 0.0
    else:
        x, y, w, h = (float(v) for v in box)
    side = max(1, _half_up(max(w, h) * (1.0 + 2.0 * margin)))
    return _half_up(x + w / 2.0 - side / 2.0), _half_up(y + h / 2.0 - side / 2.0), side


def check_box(box: Sequence[float], width: int, height: int) -> list[str]:
    """Validate a face box against its image: raise if it misses the image; return notes if partly outside."""
    x, y, w, h = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise ImageProblem("bad_box", f"face box must be finite with positive width/height, got {tuple(box)}")
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise ImageProblem(
            "box_outside_image",
            f"face box (x={x:g}, y={y:g}, w={w:g}, h={h:g}) does not overlap the {width}x{height} image",
        )
    inside = x >= 0 and y >= 0 and x + w <= width and y + h <= height
    return [] if inside else ["box_partly_outside"]


def eyes_from_landmarks(landmarks: Any) -> Eyes | None:
    """Eye centres (image-left first) from 68 iBUG points (36-41, 42-47) or 5 detector points (0, 1)."""
    if landmarks is None:
        return None
    points = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if len(points) == 68:
        pair = [points[36:42].mean(axis=0), points[42:48].mean(axis=0)]
    elif len(points) == 5:
        pair = [points[0], points[1]]
    else:
        raise AffectlabError(f"landmarks must be 68 or 5 (x, y) points, got {len(points)}")
    if not np.all(np.isfinite(pair)):
        return None
    (x0, y0), (x1, y1) = sorted((float(p[0]), float(p[1])) for p in pair)
    return (x0, y0), (x1, y1)


def _aligned_square(img: Any, left: int, top: int, side: int, eyes: Eyes) -> Any:
    from PIL import Image

    (x0, y0), (x1, y1) = eyes
    angle = math.atan2(y1 - y0, x1 - x0)
    c, s = math.cos(angle), math.sin(angle)
    cx, cy, half = left + side / 2.0, top + side / 2.0, side / 2.0
    # Pillow maps each output pixel (u, v) back to the input: x = a u + b v + c', y = d u + e v + f'.
    coeffs = (c, -s, cx - c * half + s * half, s, c, cy - s * half - c * half)
    return img.transform(
        (side, side), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0)
    )


def _square_image(rgb: np.ndarray, left: int, top: int, side: int) -> Any:
    """The square (left, top, side) of a frame as a Pillow image, black outside the frame; only the part of
    the frame the square covers is copied (a face is a small part of a video frame)."""
    from PIL import Image

    height, width = rgb.shape[:2]
    x0, y0 = min(max(left, 0), width), min(max(top, 0), height)
    x1, y1 = min(max(left + side, 0), width), min(max(top + side, 0), height)
    if x1 <= x0 or y1 <= y0:
        return Image.new("RGB", (side, side))
    part = Image.fromarray(np.ascontiguousarray(rgb[y0:y1, x0:x1]), "RGB")
    if (x0, y0, x1, y1) == (left, top, left + side, top + side):
        return part
    # Pillow's crop fills what lies outside the image with black: the same pixels as cropping the whole frame
    return part.crop((left - x0, top - y0, left - x0 + side, top - y0 + side))


def crop_faces(
    rgb: np.ndarray,
    regions: Sequence[tuple[Sequence[float] | None, Eyes | None]],
    size: int,
    margin: float,
) -> list[np.ndarray]:
    """Cut faces out of one RGB uint8 image: a (size, size, 3) uint8 crop per (box or None, eyes or None)."""
    from PIL import Image

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise AffectlabError(f"expected an RGB uint8 image (H, W, 3), got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    whole: Any = None  # the frame as one Pillow image, made only when a rotation needs it
    crops = []
    for box, eyes in regions:
        left, top, side = square_region(box, margin, width, height)
        if eyes is not None:
            if whole is None:
                whole = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
            face = _aligned_square(whole, left, top, side, eyes)
        else:
            face = _square_image(rgb, left, top, side)
        if face.size != (size, size):
            face = face.resize((size, size), Image.Resampling.BILINEAR)
        crops.append(np.asarray(face, dtype=np.uint8))
    return crops


def crop_face(
    rgb: np.ndarray, box: Sequence[float] | None, size: int, margin: float, eyes: Eyes | None = None
) -> np.ndarray:
    """Cut one face (or, with box None, the whole image) as a (size, size, 3) uint8 crop."""
    return crop_faces(rgb, [(box, eyes)], size, margin)[0]
