"""Write the README's tracking clip: two people; one walks past the other, leaves and comes back.

    python docs/examples/track_clip.py OUT.avi [AFFWILD2_ROOT]

1280x720, 25 fps, 6 s. Person A sits still; B walks in from the right, passes in front of A (hiding A for a
while), leaves on the left and is back on the right 0.8 s later; frames 130-137 are blank (a cut). The people
are the astronaut photo by default, or with AFFWILD2_ROOT the first two validation videos of an Aff-Wild2-
layout folder (e.g. `affectlab synth --layout affwild2`), played frame by frame, so their affect changes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from affectlab.bench.clips import LookFn, write_clip

W, H, N = 1280, 720, 150


def sitting(i: int, n: int) -> tuple[float, float]:
    return (0.4 * W + 6 * (i % 20 < 10), 0.5 * H)


def walker(i: int, n: int) -> tuple[float, float] | None:
    if i < 10 or 100 <= i < 120:
        return None
    if i < 100:
        return (1.05 * W - (i - 10) * (1.15 * W / 90), 0.52 * H)
    return (0.75 * W, 0.5 * H)


def video_look(folder: Path, side: int = 260) -> LookFn:
    """One person: the frames of an Aff-Wild2-layout video (looped), enlarged to `side` pixels."""
    import cv2

    frames = sorted(folder.glob("*.jpg"))
    cache: dict[int, np.ndarray] = {}

    def look(i: int) -> tuple[np.ndarray, tuple[float, float, float, float]]:
        k = i % len(frames)
        if k not in cache:
            bgr = cv2.imread(str(frames[k]))
            cache[k] = cv2.cvtColor(
                cv2.resize(bgr, (side, side), interpolation=cv2.INTER_CUBIC), cv2.COLOR_BGR2RGB
            )
        return cache[k], (0.1 * side, 0.1 * side, 0.8 * side, 0.8 * side)

    return look


if __name__ == "__main__":
    looks = None
    if len(sys.argv) > 2:
        videos = sorted(
            p for p in (Path(sys.argv[2]) / "cropped_aligned").iterdir() if p.name.startswith("val")
        )
        looks = [video_look(videos[0]), video_look(videos[1])]
    clip = write_clip(
        sys.argv[1], [sitting, walker], N, (W, H), fps=25.0, scale=1.6, blank=range(130, 138), looks=looks
    )
    print(f"wrote {clip.path}: {N} frames, {sum(len(b) for b in clip.boxes)} visible faces")
