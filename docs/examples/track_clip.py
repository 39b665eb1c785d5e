"""Write the README's tracking clip: two people (a real face photo), one walks past the other, leaves, comes back.

    python docs/examples/track_clip.py OUT.avi

1280x720, 25 fps, 6 s. Person A sits still; B walks in from the right, passes in front of A (hiding A for a
few frames), leaves on the left, and is back on the right 0.8 s later; frames 130-137 are blank (a cut).
"""

from __future__ import annotations

import sys

from affectlab.bench.clips import write_clip

W, H, N = 1280, 720, 150


def sitting(i: int, n: int) -> tuple[float, float]:
    return (0.4 * W + 6 * (i % 20 < 10), 0.5 * H)


def walker(i: int, n: int) -> tuple[float, float] | None:
    if i < 10 or 100 <= i < 120:
        return None
    if i < 100:
        return (1.05 * W - (i - 10) * (1.15 * W / 90), 0.52 * H)
    return (0.75 * W, 0.5 * H)


if __name__ == "__main__":
    clip = write_clip(sys.argv[1], [sitting, walker], N, (W, H), fps=25.0, scale=1.6, blank=range(130, 138))
    print(f"wrote {clip.path}: {N} frames, {sum(len(b) for b in clip.boxes)} visible faces")
