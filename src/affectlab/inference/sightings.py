"""What a face tracker remembers of each face (its sightings) and the box arithmetic it uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from affectlab.inference.detect import Detection

Box = tuple[float, float, float, float]
#: Sightings over which a face's motion is measured.
_HISTORY = 6


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Sighting:
    """Where and when a face was last seen, its motion, and its last detector sightings."""

    box: Box
    frame: int
    motion: tuple[float, float]
    history: tuple[tuple[int, float, float, float], ...] = ()  # (frame, centre x, centre y, side), last few
    detected: int = -1  # the last frame on which the detector itself found the face
    detection: Detection | None = None  # what it found then
    previous: Detection | None = None  # and the detector sighting before that

    @classmethod
    def after(cls, before: Sighting | None, det: Detection, frame: int) -> Sighting:
        """The record of a face the detector found at `frame`; its motion per frame measured over the last
        few detector sightings (one step alone is biased when a box shrinks as the face is being covered)."""
        x, y, w, h = det.box
        history = ((before.history if before else ()) + ((frame, x + w / 2, y + h / 2, max(w, h)),))[
            -_HISTORY:
        ]
        (f0, x0, y0, _), (f1, x1, y1, _) = history[0], history[-1]
        span = max(f1 - f0, 1)
        # a face back after a gap (hidden, away, missed) has no steady size yet
        last = before.detection if before is not None and before.frame == frame - 1 else None
        return cls(det.box, frame, ((x1 - x0) / span, (y1 - y0) / span), history, frame, det, last)

    def steady(self) -> bool:
        """Whether the box kept its width and height (within 10 %) over the last two detector sightings."""
        if self.previous is None or self.detection is None:
            return False
        pairs = zip(self.previous.box[2:], self.detection.box[2:], strict=True)
        return all(0.9 <= a / max(b, 1e-6) <= 1.0 / 0.9 for a, b in pairs)

    def carried(self, det: Detection, frame: int) -> Sighting:
        """The record after a frame on which the face was carried (its history stays the detector's)."""
        return Sighting(
            det.box, frame, self.motion, self.history, self.detected, self.detection, self.previous
        )

    def usual_side(self) -> float:
        """The face's largest side over its last sightings (a face being covered looks smaller)."""
        return max(h[3] for h in self.history)


def distance(a: Box, b: Box) -> float:
    """Distance between the centres of two boxes."""
    return float(np.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2))


def similar_size(a: Box, b: Box) -> bool:
    """Whether two boxes could be the same face a few frames apart (sides within a factor 2)."""
    ra, rb = max(a[2], a[3]), max(b[2], b[3])
    return 0.5 <= ra / max(rb, 1e-6) <= 2.0


def unique(found: dict[Any, Detection]) -> tuple[list[Detection], list[int | None]]:
    """Detections without duplicates (windows can see one face twice), each with its window's track."""
    kept: list[tuple[Any, Detection]] = []
    for key, det in sorted(found.items(), key=lambda kv: -kv[1].score):
        if all(iou(det.box, k.box) <= 0.4 for _, k in kept):
            kept.append((key, det))
    return [d for _, d in kept], [k if isinstance(k, int) else None for k, _ in kept]
