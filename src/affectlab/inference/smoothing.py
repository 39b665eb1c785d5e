"""Causal temporal smoothing per face track: an exponential moving average on the frame clock.

Each track's probabilities, valence and arousal are smoothed with ``y += a (x - y)``, where the weight
``a = 1 - exp(-dt / tau)`` depends on how many source frames ``dt`` passed since that track's previous
observation. The filter only looks back, so it runs live (webcam) as well as on files; ``--stride`` and frames
where the face was missing are handled by ``dt`` (after a long gap ``a`` is close to 1, so the filter starts
again near the new value rather than dragging an old one along). Probabilities stay a distribution (a convex
combination of distributions).

Lag, in source frames, for a time constant ``tau`` (measured in tests/inference/test_smoothing.py):
a steadily changing value is followed ``1 / (exp(1 / tau) - 1)`` (about ``tau - 0.5``) frames late, and a
sudden change is half-way through after ``ceil(tau ln 2) - 1`` frames after the one where it happened.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from affectlab.errors import AffectlabError

if TYPE_CHECKING:
    from affectlab.inference.results import FaceResult


@dataclass(frozen=True)
class Smoothed:
    """The smoothed values of one face (beside its raw ones in FaceResult)."""

    expression: str
    probabilities: dict[str, float]
    valence: float
    arousal: float


def check_tau(tau: float) -> float:
    """Validate a smoothing time constant in frames (> 0 and finite)."""
    if not (math.isfinite(tau) and tau > 0):
        raise AffectlabError(f"the smoothing time constant must be a positive number of frames, got {tau}")
    return float(tau)


def ema_weight(dt: float, tau: float) -> float:
    """The weight of a new observation `dt` frames after the previous one."""
    return 1.0 - math.exp(-max(dt, 0.0) / tau)


def ramp_lag_frames(tau: float) -> float:
    """Frames by which the smoothed value trails a value that changes by the same amount every frame."""
    return 1.0 / math.expm1(1.0 / check_tau(tau))


def step_half_frames(tau: float) -> int:
    """Frames after a sudden change (0 = the frame of the change) until the smoothed value is half-way."""
    return max(0, math.ceil(check_tau(tau) * math.log(2.0)) - 1)


class Ema:
    """An exponential moving average of a vector on a frame clock (one per track)."""

    def __init__(self, tau: float) -> None:
        self.tau = check_tau(tau)
        self.value: np.ndarray | None = None
        self.frame: int | None = None

    def update(self, frame: int, x: np.ndarray) -> np.ndarray:
        """Feed the observation of `frame` and return the smoothed vector."""
        x = np.asarray(x, dtype=np.float64)
        if self.value is None or self.frame is None:
            self.value = x.copy()
        else:
            a = ema_weight(frame - self.frame, self.tau)
            self.value = self.value + a * (x - self.value)
        self.frame = frame
        return self.value


class TrackSmoother:
    """Smooths the faces of one stream, track by track, in frame order."""

    def __init__(self, tau: float, class_names: Sequence[str]) -> None:
        self.tau = check_tau(tau)
        self.class_names = list(class_names)
        self._filters: dict[int, Ema] = {}
        self.frame = -1

    def accepts(self, frame: int, tau: float) -> bool:
        """False when the stream started again (frame went back) or the time constant changed."""
        return frame >= self.frame and tau == self.tau

    def smooth(self, face: FaceResult) -> FaceResult:
        """Return the face with its `smoothed` values set (faces without a track are left raw)."""
        if face.track is None:
            return face
        x = np.array([*(face.probabilities[c] for c in self.class_names), face.valence, face.arousal])
        ema = self._filters.setdefault(face.track, Ema(self.tau))
        y = ema.update(face.frame, x)
        self.frame = face.frame
        k = len(self.class_names)
        probs = {c: float(p) for c, p in zip(self.class_names, y[:k], strict=True)}
        best = self.class_names[int(np.argmax(y[:k]))]
        return replace(face, smoothed=Smoothed(best, probs, float(y[k]), float(y[k + 1])))


def smooth_columns(class_names: Sequence[str]) -> list[str]:
    """The extra output columns written with smoothing, after the raw ones."""
    return [
        "smooth_expression",
        *(f"smooth_prob_{c}" for c in class_names),
        "smooth_valence",
        "smooth_arousal",
    ]


def smooth_row(face: FaceResult, class_names: Sequence[str]) -> dict[str, Any]:
    """The smoothed columns of one face (empty values for a face that was not smoothed, e.g. a photo)."""
    s = face.smoothed
    if s is None:
        return dict.fromkeys(smooth_columns(class_names))
    row: dict[str, Any] = {"smooth_expression": s.expression}
    row.update({f"smooth_prob_{c}": round(s.probabilities[c], 6) for c in class_names})
    row["smooth_valence"] = round(s.valence, 6)
    row["smooth_arousal"] = round(s.arousal, 6)
    return row


def shown(face: FaceResult) -> tuple[str, float, float, float]:
    """What a drawing shows for a face: (expression, its probability, valence, arousal), smoothed if set."""
    src: Any = face.smoothed if face.smoothed is not None else face
    # the top probability: an abstaining face's expression is "uncertain", which has no probability
    return src.expression, max(map(float, src.probabilities.values()), default=0.0), src.valence, src.arousal


def smooth_series(frames: np.ndarray, values: np.ndarray, tau: float) -> np.ndarray:
    """Smooth one series (values at increasing frame numbers) with the same filter; NaNs are skipped."""
    out = np.full(len(values), np.nan, dtype=np.float64)
    ema = Ema(tau)
    for i, (f, v) in enumerate(zip(frames, values, strict=True)):
        if np.isfinite(v):
            out[i] = ema.update(int(f), np.array([v]))[0]
    return out
