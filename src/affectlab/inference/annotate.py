"""Draw predictions on images (box, label, valence-arousal marker) and plot per-video timelines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


def draw_faces(rgb: np.ndarray, faces: Sequence[FaceResult]) -> np.ndarray:
    """Return a copy of an RGB image with each face's box, label and valence-arousal marker drawn."""
    import cv2

    out = np.ascontiguousarray(rgb.copy())
    height, width = out.shape[:2]
    unit = max(1, round(max(height, width) / 500))
    for face in faces:
        x, y, w, h = (round(v) for v in face.box)
        colour = _colour(face)
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 2 * unit)
        expression, prob, _, _ = shown(face)  # the smoothed values when predict --smooth is on
        label = ("" if face.track is None else f"#{face.track} ") + f"{expression} {prob:.2f}"
        scale = 0.5 * unit
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, unit)
        ty = y - 4 * unit if y - th - base - 4 * unit >= 0 else min(height - base, y + h + th + 4 * unit)
        cv2.rectangle(out, (x, ty - th - base), (x + tw + 4 * unit, ty + base), colour, -1)
        cv2.putText(
            out, label, (x + 2 * unit, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), unit, cv2.LINE_AA
        )
        _draw_va(out, face, colour, unit)
    return out


def _draw_va(out: np.ndarray, face: FaceResult, colour: tuple[int, int, int], unit: int) -> None:
    """Draw a small valence (x) / arousal (y, up) square next to the box's top-right corner."""
    import cv2

    x, y, w, _ = (round(v) for v in face.box)
    side = max(24 * unit, min(60 * unit, w // 3))
    height, width = out.shape[:2]
    x0 = min(max(0, x + w + 4 * unit), max(0, width - side - 1))
    y0 = min(max(0, y), max(0, height - side - 1))
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

    def save(self, path: str | Path, title: str = "") -> Path:
        """Plot valence/arousal and stacked expression probabilities over time to a PNG."""
        from matplotlib.figure import Figure  # no pyplot: leaves the user's backend alone

        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        t = np.asarray(self.times)
        fig = Figure(figsize=(10, 5.5), layout="constrained")
        ax_va, ax_p = fig.subplots(2, 1, sharex=True)
        ax_va.plot(t, self.valence, label="valence", color="tab:blue")
        ax_va.plot(t, self.arousal, label="arousal", color="tab:red")
        ax_va.axhline(0.0, color="grey", linewidth=0.5)
        ax_va.set_ylim(-1.05, 1.05)
        ax_va.set_ylabel("value")
        ax_va.legend(loc="upper right", fontsize=8)
        ax_va.set_title(title or "largest face per frame")
        probs = np.nan_to_num(np.asarray(self.probs, dtype=float).reshape(len(t), len(self.class_names)))
        colours = [np.asarray(PALETTE[i % len(PALETTE)]) / 255.0 for i in range(len(self.class_names))]
        if len(t):
            ax_p.stackplot(t, probs.T, labels=self.class_names, colors=colours)
        ax_p.set_ylim(0, 1)
        ax_p.set_ylabel("probability")
        ax_p.set_xlabel("time (s)")
        ax_p.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        fig.savefig(target, dpi=100)
        return target
