"""What each synthetic class looks like: its valence/arousal distribution and its expression geometry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Circumplex VA per class, polar: (angle deg, angle sd, radius, radius sd); valence = r cos, arousal = r sin.
VA_POLAR: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 180.0, 0.0, 0.15),  # neutral: isotropic around (0, 0)
    (30.0, 18.0, 0.72, 0.20),  # happy: high valence, mid-high arousal
    (210.0, 18.0, 0.68, 0.18),  # sad: negative valence, low arousal
    (86.0, 15.0, 0.78, 0.15),  # surprise: ~0 valence, high arousal
    (118.0, 12.0, 0.82, 0.14),  # fear: negative valence, high arousal
    (150.0, 15.0, 0.70, 0.16),  # disgust: negative valence, mid arousal
    (138.0, 12.0, 0.80, 0.14),  # anger: negative valence, high arousal
    (160.0, 18.0, 0.42, 0.15),  # contempt: slightly negative valence, low-mid arousal
)
#: The geometry knobs, in canonical face units: brow raise (+ up), brow tilt (+ inner ends up),
#: eye openness (height / width), mouth curve (+ corners up), mouth open (lip gap), mouth width (x scale),
#: smirk (one corner up), upper-lip raise, nose wrinkle (0..1).
KNOBS: tuple[str, ...] = ("brow", "tilt", "eye", "curve", "open", "width", "smirk", "lip", "wrinkle")
#: Per-class template of the knobs, in AffectNet order (neutral, happy, sad, surprise, fear, disgust, anger,
#: contempt); valence/arousal modulate them further in `expression_for`.
CLASS_TEMPLATES: tuple[dict[str, float], ...] = tuple(
    dict(zip(KNOBS, row, strict=True))
    for row in (
        (0.00, 0.00, 0.40, 0.00, 0.00, 1.00, 0.00, 0.00, 0.0),
        (-0.03, 0.00, 0.25, 0.00, 0.05, 1.10, 0.00, 0.00, 0.0),
        (0.05, 0.13, 0.38, 0.00, 0.00, 1.01, 0.00, 0.00, 0.0),
        (0.03, 0.00, 0.43, 0.00, 0.12, 0.61, 0.00, 0.00, 0.0),
        (-0.01, 0.12, 0.41, 0.02, 0.07, 1.28, 0.00, 0.00, 0.0),
        (-0.10, -0.03, 0.17, 0.04, 0.03, 1.01, 0.00, 0.09, 1.0),
        (-0.18, -0.15, 0.27, 0.04, 0.02, 0.95, 0.00, 0.00, 0.3),
        (-0.02, 0.00, 0.30, 0.06, 0.00, 1.04, 0.10, 0.00, 0.0),
    )
)
#: Classes that show teeth when the mouth is open (happy, fear, disgust, anger).
_TEETH_CLASSES = frozenset({1, 4, 5, 6})
_JITTER = dict(
    brow=0.015, tilt=0.025, eye=0.03, curve=0.01, open=0.02, width=0.03, smirk=0.02, lip=0.015, wrinkle=0.15
)


@dataclass(frozen=True)
class Expression:
    """Geometry knobs of one face's expression (canonical face units, see `CLASS_TEMPLATES`)."""

    brow: float
    tilt: float
    eye: float
    curve: float
    open: float
    width: float
    smirk: float
    lip: float
    wrinkle: float
    teeth: bool


def sample_va(cls: int, rng: np.random.Generator) -> tuple[float, float]:
    """Draw (valence, arousal) for class `cls` from its circumplex distribution, clipped to [-1, 1]."""
    angle, angle_sd, radius, radius_sd = VA_POLAR[cls]
    theta = np.deg2rad(rng.uniform(-180.0, 180.0) if angle_sd >= 180.0 else rng.normal(angle, angle_sd))
    r = abs(rng.normal(radius, radius_sd))
    return float(np.clip(r * np.cos(theta), -1.0, 1.0)), float(np.clip(r * np.sin(theta), -1.0, 1.0))


def expression_for(cls: int, valence: float, arousal: float, rng: np.random.Generator) -> Expression:
    """Return the geometry for class `cls`, continuously modulated by valence and arousal, with jitter."""
    knobs = {k: v + rng.normal(0.0, _JITTER[k]) for k, v in CLASS_TEMPLATES[cls].items()}
    knobs["curve"] += 0.20 * valence
    knobs["width"] += 0.15 * valence
    knobs["eye"] *= (1.0 + 0.6 * arousal) * (1.0 - 0.3 * max(valence, 0.0))
    knobs["open"] += 0.20 * max(arousal, 0.0) * (knobs["open"] > 0.04)
    knobs["brow"] += 0.15 * arousal
    knobs["eye"] = float(np.clip(knobs["eye"], 0.08, 0.75))
    for key in ("open", "smirk", "lip"):
        knobs[key] = max(knobs[key], 0.0)
    knobs["wrinkle"] = float(np.clip(knobs["wrinkle"], 0.0, 1.0))
    teeth = cls in _TEETH_CLASSES and knobs["open"] > 0.05 and rng.random() < 0.8
    return Expression(**{k: float(v) for k, v in knobs.items()}, teeth=teeth)
