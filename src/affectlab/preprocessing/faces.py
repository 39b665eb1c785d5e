"""A face file in, the model's uint8 crop out: decode + crop by the rules of this package (the data path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from affectlab.preprocessing.crop import check_box, crop_face, eyes_from_landmarks
from affectlab.preprocessing.decode import (
    DEFAULT_MAX_PIXELS,
    DecodedImage,
    ImageProblem,
    decode_array,
    decode_file,
)


def decode_source(source: str | Path | np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode a face source: an image file, or in-memory pixels of a dataset that stores them in a table."""
    if isinstance(source, np.ndarray):
        pixels = int(np.prod(source.shape[:2])) if source.ndim >= 2 else 0
        if pixels > max_pixels:
            raise ImageProblem(
                "too_large", f"pixel array of {pixels} pixels is over the limit of {max_pixels}"
            )
        return decode_array(source)
    return decode_file(source, max_pixels=max_pixels)


def load_face(
    path: str | Path | np.ndarray,
    box: tuple[float, float, float, float] | None,
    size: int | None,
    margin: float,
    *,
    landmarks: Any = None,
    align: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray | None, bytes, list[str]]:
    """Decode and crop one face; return (pixels (S, S, 3) uint8, or None when size is None; digest; notes).

    ``path`` is an image file or, for datasets that store pixels in a table (FER2013), the pixel array.

    With ``align``, the eyes come from ``landmarks`` (68 or 5 points in the image's pixels); a face without
    usable landmarks is refused rather than cropped differently from the others.
    """
    decoded = decode_source(path, max_pixels)
    notes = list(decoded.notes)
    height, width = decoded.rgb.shape[:2]
    if box is not None:
        notes += check_box(box, width, height)
    eyes = None
    if align:
        eyes = eyes_from_landmarks(landmarks)
        if eyes is None:
            raise ImageProblem("no_landmarks", "alignment needs eye landmarks, and this face has none")
    if size is None:
        return None, decoded.digest, notes
    return crop_face(decoded.rgb, box, size, margin, eyes), decoded.digest, notes
