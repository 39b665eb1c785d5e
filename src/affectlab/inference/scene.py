"""Cheap change detection between video frames: where did the picture change away from the faces followed?

A tracker scans for new faces only where something changed; the frame is compared as a small grey picture
(``GRID`` columns, each cell the mean of 16 samples), so this costs a fraction of a millisecond per frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Columns of the coarse grey picture compared between frames to notice new faces.
GRID = 64


def coarse(rgb: np.ndarray) -> np.ndarray:
    """The frame as a small grey picture (GRID columns), for cheap change detection."""
    import cv2

    height, width = rgb.shape[:2]
    rows = max(1, round(GRID * height / width))
    # every pixel of a 4x finer grid, then cell means: 16 samples per cell, ~8x cheaper than all pixels
    fine = cv2.resize(rgb, (4 * GRID, 4 * rows), interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(fine, (GRID, rows), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)


def changed_region(
    small: np.ndarray,
    reference: np.ndarray | None,
    away: Sequence[tuple[int, int, int]],
    shape: tuple[int, int],
    threshold: float,
) -> tuple[float, float, float, float] | None:
    """The (x, y, w, h) box in frame pixels around the cells that changed by more than `threshold` grey
    levels outside the squares `away` (left, top, side); the whole frame without a comparable reference."""
    height, width = shape
    if reference is None or reference.shape != small.shape:
        return (0.0, 0.0, float(width), float(height))
    outside = np.ones_like(small, dtype=bool)
    fx, fy = small.shape[1] / width, small.shape[0] / height
    for left, top, side in away:
        x0, y0 = max(int(left * fx), 0), max(int(top * fy), 0)
        outside[y0 : int(np.ceil((top + side) * fy)), x0 : int(np.ceil((left + side) * fx))] = False
    changed = (np.abs(small - reference) > threshold) & outside
    if not changed.any():
        return None
    rows, cols = np.nonzero(changed)
    cw, ch = width / small.shape[1], height / small.shape[0]
    x, y = cols.min() * cw, rows.min() * ch
    return (float(x), float(y), float((cols.max() + 1) * cw - x), float((rows.max() + 1) * ch - y))
