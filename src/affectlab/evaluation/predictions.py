"""Predictions: labels and model outputs for every sample of a split, in split order (what metrics score)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Predictions:
    """Labels and model outputs for every sample of a split, in split order."""

    class_names: list[str]
    index: np.ndarray
    expression: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray
    probs: np.ndarray
    pred_valence: np.ndarray
    pred_arousal: np.ndarray

    @property
    def pred_expression(self) -> np.ndarray:
        """Return the argmax class of every sample."""
        return np.argmax(self.probs, axis=1)

    def save(self, path: Path) -> None:
        """Write the predictions to a compressed .npz file."""
        np.savez_compressed(
            path,
            class_names=np.array(self.class_names),
            index=self.index,
            expression=self.expression,
            valence=self.valence,
            arousal=self.arousal,
            probs=self.probs,
            pred_valence=self.pred_valence,
            pred_arousal=self.pred_arousal,
        )

    @classmethod
    def load(cls, path: str | Path) -> Predictions:
        """Read predictions written by :meth:`save`."""
        with np.load(path) as data:
            fields = {key: data[key] for key in data.files}
        fields["class_names"] = [str(n) for n in fields["class_names"]]
        return cls(**fields)

    @classmethod
    def from_arrays(cls, class_names: Any, arrays: dict[str, np.ndarray]) -> Predictions:
        """Build from a dict of arrays with the field names (index defaults to 0..N-1)."""
        fields = dict(arrays)
        fields.setdefault("index", np.arange(len(fields["probs"])))
        return cls(class_names=[str(n) for n in class_names], **fields)

    def metric_args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The arrays affectlab.metrics.affect_metrics takes, in its argument order."""
        return (self.expression, self.probs, self.valence, self.pred_valence, self.arousal, self.pred_arousal)
