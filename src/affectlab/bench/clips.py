"""Test and benchmark clips made from a real face photo: faces that move, cross, leave and come back.

The face is scikit-image's astronaut photograph (a real face; the package is a test dependency); each person
in a clip is a patch of it (mirrored for the second person, so the two can be told apart by eye) pasted on a
plain background along a path. The ground-truth box of every visible face is known from where it was pasted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectlab.errors import AffectlabError

#: Where each person is at frame i of n: (centre x, centre y) in pixels, or None while not in the picture.
PathFn = Callable[[int, int], tuple[float, float] | None]
Box = tuple[float, float, float, float]
#: What a person looks like at frame i: (RGB patch, face box within it).
LookFn = Callable[[int], tuple[np.ndarray, Box]]


@dataclass
class Clip:
    """A written clip: its path, frame rate, size and the ground-truth face boxes per frame and person."""

    path: Path
    fps: float
    size: tuple[int, int]
    boxes: list[dict[int, Box]] = field(default_factory=list)


def face_photo() -> tuple[np.ndarray, Box]:
    """The astronaut photo cut around the face (RGB) and the face box within the cut (x, y, w, h)."""
    try:
        from skimage import data
    except ImportError as exc:
        raise AffectlabError(
            "the face clips need scikit-image's sample photos: pip install scikit-image"
        ) from exc
    photo = data.astronaut()
    # The face in this photo, found once by RetinaFace (box 177, 56, 95, 120); the cut keeps hair and neck.
    x0, y0, x1, y1 = 130, 10, 320, 230
    return np.ascontiguousarray(photo[y0:y1, x0:x1]), (177.0 - x0, 56.0 - y0, 95.0, 120.0)


def _paste(frame: np.ndarray, patch: np.ndarray, cx: float, cy: float) -> tuple[int, int]:
    """Paste patch centred at (cx, cy), clipped to the frame; return the patch's top-left corner."""
    ph, pw = patch.shape[:2]
    left, top = int(round(cx - pw / 2)), int(round(cy - ph / 2))
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + pw, w), min(top + ph, h)
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = patch[y0 - top : y1 - top, x0 - left : x1 - left]
    return left, top


def _visible(box: Box, covers: Sequence[Box], width: int, height: int) -> float:
    """Fraction of a box inside the frame and not under any of `covers` (later, nearer patches)."""
    x, y, w, h = box
    mask = np.zeros((height, width), bool)
    xi0, yi0 = max(int(x), 0), max(int(y), 0)
    xi1, yi1 = min(int(x + w), width), min(int(y + h), height)
    mask[yi0:yi1, xi0:xi1] = True
    for cx, cy, cw, ch in covers:
        mask[max(int(cy), 0) : max(int(cy + ch), 0), max(int(cx), 0) : max(int(cx + cw), 0)] = False
    return float(mask.sum()) / max(w * h, 1.0)


def write_clip(
    path: str | Path,
    paths: Sequence[PathFn],
    frames: int,
    size: tuple[int, int] = (640, 360),
    fps: float = 25.0,
    scale: float = 1.0,
    blank: Sequence[int] = (),
    looks: Sequence[LookFn] | None = None,
) -> Clip:
    """Write an MJPG clip of one person per path (the first is drawn behind the others).

    A face counts as visible (has a ground-truth box) when at least 60% of its box is in the picture and not
    hidden by a person drawn over it. Frames listed in `blank` show the background only. `looks` gives each
    person's picture per frame (default: the astronaut photo, mirrored for every second person).
    """
    import cv2

    if looks is None:
        photo, face = face_photo()
        if scale != 1.0:
            photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            face = tuple(v * scale for v in face)  # type: ignore[assignment]
        mirrored = np.ascontiguousarray(photo[:, ::-1])
        mirrored_face = (photo.shape[1] - face[0] - face[2], face[1], face[2], face[3])
        looks = [
            (lambda i: (photo, face)) if k % 2 == 0 else (lambda i: (mirrored, mirrored_face))
            for k in range(len(paths))
        ]
    width, height = size
    clip = Clip(Path(path), fps, size)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise AffectlabError(f"OpenCV cannot write {path}")
    try:
        for i in range(frames):
            frame = np.full((height, width, 3), (70, 90, 110), np.uint8)
            placed: list[tuple[int, Box, Box]] = []  # person, face box, patch box
            for k, where in enumerate(paths):
                at = None if i in blank else where(i, frames)
                if at is None:
                    continue
                patch, (fx, fy, fw, fh) = looks[k](i)
                left, top = _paste(frame, patch, *at)
                ph, pw = patch.shape[:2]
                placed.append((k, (left + fx, top + fy, fw, fh), (left, top, pw, ph)))
            boxes = {}
            for j, (k, box, _) in enumerate(placed):
                if _visible(box, [p[2] for p in placed[j + 1 :]], width, height) >= 0.6:
                    boxes[k] = box
            clip.boxes.append(boxes)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return clip


def crossing(width: int, height: int, y: float | None = None) -> list[PathFn]:
    """Two people walking past each other (the second in front of the first while they overlap)."""
    row = height / 2 if y is None else y

    def right(i: int, n: int) -> tuple[float, float]:
        return (0.15 * width + 0.7 * width * i / max(n - 1, 1), row)

    def left(i: int, n: int) -> tuple[float, float]:
        return (0.85 * width - 0.7 * width * i / max(n - 1, 1), row + 10)

    return [right, left]


def leave_and_return(width: int, height: int, away: tuple[int, int]) -> list[PathFn]:
    """One person standing still, a second who is out of the picture for frames away[0] to away[1]."""

    def still(i: int, n: int) -> tuple[float, float]:
        return (0.25 * width, height / 2)

    def visitor(i: int, n: int) -> tuple[float, float] | None:
        return None if away[0] <= i < away[1] else (0.72 * width + 2.0 * (i % 7), height / 2)

    return [still, visitor]


def interview(width: int, height: int) -> list[PathFn]:
    """Two people sitting and moving a little, as in an interview recording."""

    def person(k: int) -> PathFn:
        def at(i: int, n: int) -> tuple[float, float]:
            base = (0.3 + 0.4 * k) * width
            return (
                base + 0.03 * width * np.sin(i / 9.0 + k),
                0.45 * height + 0.02 * height * np.cos(i / 13.0),
            )

        return at

    return [person(0), person(1)]
