"""A model's probability calibration (temperature scaling) and abstention threshold, as stored in ModelInfo.

Written by ``affectlab calibrate`` (affectlab.evaluation.calibrate) into model.safetensors and copied into the
ONNX metadata by export; applied in one place, ``affectlab.inference.backends.probabilities``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError

#: "temperature": one T for all logits (Guo et al. 2017; keeps the argmax); "vector": one T per class.
METHODS: tuple[str, ...] = ("temperature", "vector")
#: Temperatures outside this range mean a fit went wrong (or a model is degenerate).
T_RANGE = (1e-3, 1e3)


def _check_t(value: Any, what: str) -> float:
    """Return a temperature as float after checking it is finite and within T_RANGE."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise AffectlabError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(t) or not T_RANGE[0] <= t <= T_RANGE[1]:
        raise AffectlabError(f"{what} must be finite and in [{T_RANGE[0]:g}, {T_RANGE[1]:g}], got {value!r}")
    return t


def check_threshold(value: float | None, what: str = "uncertain_below") -> float | None:
    """Return a confidence threshold in [0, 1] (0 or None: never abstain) or raise."""
    if value is None:
        return None
    v = float(value)
    if not 0.0 <= v <= 1.0 or math.isnan(v):
        raise AffectlabError(f"{what} must be a probability in [0, 1] (0: never uncertain), got {value!r}")
    return v or None


@dataclass
class Calibration:
    """Temperature scaling fitted on held-out data, and the confidence under which a face is `uncertain`."""

    method: str
    temperature: float | tuple[float, ...]
    #: Faces whose top calibrated probability is below this are marked `uncertain` (None: never).
    uncertain_below: float | None = None
    #: Where and how it was fitted: data, split, n, nll/ece before and after, created, forced.
    fitted_on: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise AffectlabError(
                f"calibration method must be one of {', '.join(METHODS)}, got {self.method!r}"
            )
        if self.method == "temperature":
            if isinstance(self.temperature, list | tuple):
                raise AffectlabError("calibration 'temperature' needs one number; 'vector' takes a list")
            self.temperature = _check_t(self.temperature, "temperature")
        else:
            if not isinstance(self.temperature, list | tuple) or not self.temperature:
                raise AffectlabError("calibration 'vector' needs a list of per-class temperatures")
            self.temperature = tuple(_check_t(t, "per-class temperature") for t in self.temperature)
        self.uncertain_below = check_threshold(self.uncertain_below)
        if not isinstance(self.fitted_on, dict):
            raise AffectlabError("calibration fitted_on must be a JSON object")

    @property
    def num_classes(self) -> int | None:
        """The class count a vector calibration is for (None for one temperature)."""
        return len(self.temperature) if isinstance(self.temperature, tuple) else None

    def scale(self, logits: np.ndarray) -> np.ndarray:
        """Return logits / T (per column for a vector) in float64."""
        z = np.asarray(logits, np.float64)
        t = np.asarray(self.temperature, np.float64)
        if t.ndim and z.shape[-1] != t.size:
            raise AffectlabError(f"calibration has {t.size} temperatures for {z.shape[-1]} logits")
        return z / t

    def describe(self) -> str:
        """One line for terminals and reports, e.g. 'temperature 1.84 (fitted on selection, n=800)'."""
        t = self.temperature
        temps = f"{t:.3g}" if isinstance(t, float) else "[" + ", ".join(f"{v:.3g}" for v in t) + "]"
        where = self.fitted_on.get("split")
        n = self.fitted_on.get("n")
        fitted = f" (fitted on split {where!r}, n={n})" if where else ""
        return f"{self.method} {temps}{fitted}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        t = self.temperature
        return {
            "method": self.method,
            "temperature": list(t) if isinstance(t, tuple) else t,
            "uncertain_below": self.uncertain_below,
            "fitted_on": dict(self.fitted_on),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Calibration:
        """Build from :meth:`to_dict` output, validating every field."""
        if not isinstance(data, dict):
            raise AffectlabError(f"calibration must be a JSON object, got {type(data).__name__}")
        if "method" not in data or "temperature" not in data:
            raise AffectlabError("calibration needs 'method' and 'temperature'")
        return cls(
            method=str(data["method"]),
            temperature=data["temperature"],
            uncertain_below=data.get("uncertain_below"),
            fitted_on=data.get("fitted_on") or {},
        )
