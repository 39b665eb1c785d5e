"""Draw predictions on images (box, label, valence-arousal marker) and plot per-video timelines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.inference.results import FaceResult, FrameResult
from affectlab.inference.smoothing import shown

#: One RGB colour per expression index (cycled for longer class lists).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (200, 200, 200),
    (255, 200, 0),
    (60, 120, 255),
    (255, 120, 255),
    (150, 80, 255),
    (60, 200, 60),
    (255, 60, 60),
    (255, 140, 40),
)


def _colour(face: FaceResult) -> tuple[int, int, int]:
    names = list(face.probabilities)
    expression = shown(face)[0]
    index = names.index(expression) if expression in names else 0
    return PALETTE[index % len(PALETTE)]


Rect = tuple[int, int, int, int]  # x0, y0, x1, y1


def _unit(shape: tuple[int, ...]) -> int:
    """Line width and text scale step for an image of this size."""
    return max(1, round(max(shape[0], shape[1]) / 500))


def _label(face: FaceResult) -> str:
    expression, prob, _, _ = shown(face)  # the smoothed values when predict --smooth is on
    return ("" if face.track is None else f"#{face.track} ") + f"{expression} {prob:.2f}"


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _va_rect(face: FaceResult, shape: tuple[int, ...], unit: int) -> Rect:
    """Where a face's valence-arousal square goes: beside the box's top-right corner, in the image."""
    x, y, w, _ = (round(v) for v in face.box)
    side = max(24 * unit, min(60 * unit, w // 3))
    height, width = shape[:2]
    x0 = min(max(0, x + w + 4 * unit), max(0, width - side - 1))
    y0 = min(max(0, y), max(0, height - side - 1))
    return x0, y0, x0 + side, y0 + side


def label_rects(faces: Sequence[FaceResult], shape: tuple[int, ...]) -> list[Rect]:
    """A place for each face's label: above its box, else below, else inside, else further out,
    the first that stays in the image and covers no label or valence-arousal square placed so far."""
    import cv2

    unit = _unit(shape)
    height, width = shape[:2]
    taken = [_va_rect(f, shape, unit) for f in faces]
    placed: list[Rect] = []
    for face in faces:
        x, y, w, h = (round(v) for v in face.box)
        (tw, th), base = cv2.getTextSize(_label(face), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * unit, unit)
        tall, pad = th + base + 2 * unit, 2 * unit
        tops = [y - tall - pad, y + h + pad, y + pad]  # above, below, inside the box's top
        tops += [y - k * (tall + pad) for k in (2, 3)] + [y + h + k * (tall + pad) for k in (1, 2)]
        rects = [(x, top, x + tw + 4 * unit, top + tall) for top in tops]
        inside = [r for r in rects if r[1] >= 0 and r[3] <= height and r[2] <= width] or rects[:1]
        free = [r for r in inside if not any(_overlaps(r, o) for o in taken + placed)]
        placed.append((free or inside)[0])
    return placed


def draw_faces(rgb: np.ndarray, faces: Sequence[FaceResult]) -> np.ndarray:
    """Return a copy of an RGB image with each face's box, label and valence-arousal marker drawn.

    Boxes first, then the markers, then the labels, placed so that no label hides another one.
    """
    import cv2

    out = np.ascontiguousarray(rgb.copy())
    unit = _unit(out.shape)
    for face in faces:
        x, y, w, h = (round(v) for v in face.box)
        cv2.rectangle(out, (x, y), (x + w, y + h), _colour(face), 2 * unit)
    for face in faces:
        _draw_va(out, face, _colour(face), unit)
    for face, (x0, y0, x1, y1) in zip(faces, label_rects(faces, out.shape), strict=True):
        cv2.rectangle(out, (x0, y0), (x1, y1), _colour(face), -1)
        baseline = y1 - unit - cv2.getTextSize(_label(face), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * unit, unit)[1]
        cv2.putText(
            out,
            _label(face),
            (x0 + 2 * unit, baseline),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 * unit,
            (0, 0, 0),
            unit,
            cv2.LINE_AA,
        )
    return out


def _draw_va(out: np.ndarray, face: FaceResult, colour: tuple[int, int, int], unit: int) -> None:
    """Draw a small valence (x) / arousal (y, up) square next to the box's top-right corner."""
    import cv2

    x0, y0, x1, _ = _va_rect(face, out.shape, unit)
    side = x1 - x0
    region = out[y0 : y0 + side, x0 : x0 + side]
    region[:] = (region.astype(np.uint16) // 3).astype(np.uint8)  # darken the background
    cv2.rectangle(out, (x0, y0), (x0 + side, y0 + side), (255, 255, 255), 1)
    mid = side // 2
    cv2.line(out, (x0 + mid, y0), (x0 + mid, y0 + side), (160, 160, 160), 1)
    cv2.line(out, (x0, y0 + mid), (x0 + side, y0 + mid), (160, 160, 160), 1)
    _, _, valence, arousal = shown(face)
    px = x0 + round((np.clip(valence, -1, 1) + 1) / 2 * side)
    py = y0 + round((1 - (np.clip(arousal, -1, 1) + 1) / 2) * side)
    cv2.circle(out, (px, py), max(2, 3 * unit), colour, -1, cv2.LINE_AA)


def save_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB image (format from the suffix) and return its path."""
    import cv2

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(target.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {target}")
    target.write_bytes(data.tobytes())
    return target


class Timeline:
    """Collects the largest face's valence, arousal and probabilities per frame of a video; plots them."""

    def __init__(self, class_names: Sequence[str]) -> None:
        self.class_names = list(class_names)
        self.times: list[float] = []
        self.valence: list[float] = []
        self.arousal: list[float] = []
        self.probs: list[list[float]] = []

    def add(self, result: FrameResult) -> None:
        """Record one frame (NaN where no face was found)."""
        t = result.time_s if result.time_s is not None else float(result.frame)
        self.times.append(t)
        if result.faces:
            face = max(result.faces, key=lambda f: f.box[2] * f.box[3])  # the largest face
            self.valence.append(face.valence)
            self.arousal.append(face.arousal)
            self.probs.append([face.probabilities[c] for c in self.class_names])
        else:
            self.valence.append(float("nan"))
            self.arousal.append(float("nan"))
            self.probs.append([float("nan")] * len(self.class_names))

    def _segments(self) -> list[tuple[int, int]]:
        """[start, stop) index ranges of consecutive frames with a face."""
        has = ~np.isnan(np.asarray(self.valence, dtype=float))
        edges = np.flatnonzero(np.diff(np.concatenate([[0], has.astype(int), [0]])))
        return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]

    def _shade_gaps(self, axes: Sequence[Any], t: np.ndarray, segments: list[tuple[int, int]]) -> None:
        """Grey spans where no face was found (from the last face frame to the next one)."""
        step = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
        starts = [0] + [b for _, b in segments]
        stops = [a for a, _ in segments] + [len(t)]
        labelled = False
        for lo, hi in zip(starts, stops, strict=True):
            if hi <= lo:
                continue
            x0 = t[lo] - step / 2
            x1 = t[hi - 1] + step / 2
            for ax in axes:
                ax.axvspan(
                    x0, x1, color="0.85", zorder=0, label=None if labelled or ax is not axes[0] else "no face"
                )
            labelled = True

    def save(self, path: str | Path, title: str = "") -> Path:
        """Plot valence/arousal and stacked expression probabilities over time to a PNG."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.figure(title).savefig(target, dpi=100)
        return target

    def figure(self, title: str = "") -> Any:
        """The timeline figure: frames without a face are shaded gaps, never values; no face says so."""
        from matplotlib.figure import Figure  # no pyplot: leaves the user's backend alone

        t = np.asarray(self.times, dtype=float)
        fig = Figure(figsize=(10, 5.5), layout="constrained")
        ax_va, ax_p = fig.subplots(2, 1, sharex=True)
        segments = self._segments()
        faces = sum(b - a for a, b in segments)
        ax_va.set_title(
            (title or "largest face per frame") + f": a face in {faces} of {len(t)} frames", fontsize=10
        )
        self._shade_gaps([ax_va, ax_p], t, segments)
        # markers as well as lines: a face seen in one frame between gaps is still a visible point
        ax_va.plot(t, self.valence, label="valence", color="tab:blue", marker=".", markersize=3)
        ax_va.plot(t, self.arousal, label="arousal", color="tab:red", marker=".", markersize=3)
        ax_va.axhline(0.0, color="grey", linewidth=0.5)
        ax_va.set_ylim(-1.05, 1.05)
        ax_va.set_ylabel("value")
        ax_va.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        probs = np.asarray(self.probs, dtype=float).reshape(len(t), len(self.class_names))
        colours = [np.asarray(PALETTE[i % len(PALETTE)]) / 255.0 for i in range(len(self.class_names))]
        half = (float(np.median(np.diff(t))) if len(t) > 1 else 1.0) / 2
        for k, (lo, hi) in enumerate(segments):  # one stack per run of face frames: no ramps across gaps
            x, y = t[lo:hi], probs[lo:hi]
            if hi - lo == 1:  # a single frame: a bar one frame wide
                x, y = np.array([x[0] - half, x[0] + half]), np.repeat(y, 2, axis=0)
            ax_p.stackplot(x, y.T, labels=self.class_names if k == 0 else (), colors=colours)
        if not segments:
            for ax in (ax_va, ax_p):
                ax.text(
                    0.5,
                    0.5,
                    f"no face found in any of the {len(t)} frames",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    bbox={"facecolor": "white", "edgecolor": "none"},
                    fontsize=11,
                    color="0.3",
                )
        ax_p.set_ylim(0, 1)
        ax_p.set_ylabel("probability")
        ax_p.set_xlabel("time (s)")
        if segments:
            ax_p.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        return fig
