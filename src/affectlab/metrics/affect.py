"""Multi-task metrics: flat `<task>_<metric>` keys for expression, valence, arousal; the selection score."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.metrics.checks import MISSING_EXPRESSION, check_labels, check_probs, check_values
from affectlab.metrics.classification import classification_metrics
from affectlab.metrics.regression import regression_metrics

_EXPRESSION_KEYS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "f1_weighted",
    "cohen_kappa",
    "krippendorff_alpha",
    "auc_roc",
    "auc_pr",
    "n",
    "n_missing",
)
_REGRESSION_KEYS = ("rmse", "corr", "sagr", "ccc", "n", "n_missing")


def affect_metrics(
    expression_true: np.ndarray | None,
    probs: np.ndarray | None,
    valence_true: np.ndarray | None = None,
    valence_pred: np.ndarray | None = None,
    arousal_true: np.ndarray | None = None,
    arousal_pred: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Return flat `<task>_<metric>` keys for expression, valence and arousal, skipping missing labels."""
    out: dict[str, Any] = {}
    undefined: dict[str, str] = {}
    if (expression_true is None) != (probs is None):
        raise AffectlabError("expression_true and probs must be given together")
    if expression_true is not None and probs is not None:
        y, _ = check_labels(expression_true, check_probs(probs).shape[1], np.shape(probs)[0])
        if (y != MISSING_EXPRESSION).any():
            cls = classification_metrics(y, probs, class_names)
            out.update({f"expression_{k}": cls[k] for k in _EXPRESSION_KEYS})
            out["expression_per_class"] = cls["per_class"]
            out["expression_confusion_matrix"] = cls["confusion_matrix"]
            out["expression_class_names"] = cls["class_names"]
            undefined.update({f"expression_{k}": v for k, v in cls["undefined"].items()})
        else:
            out.update({f"expression_{k}": None for k in _EXPRESSION_KEYS})
            out["expression_n"], out["expression_n_missing"] = 0, int(y.size)
            undefined["expression"] = "no labelled expression samples"
    tasks = (("valence", valence_true, valence_pred), ("arousal", arousal_true, arousal_pred))
    for task, truth, pred in tasks:
        if truth is None and pred is None:
            continue
        if truth is None or pred is None:
            raise AffectlabError(f"{task}_true and {task}_pred must be given together")
        t = check_values(truth, f"{task}_true")
        if t.size and np.isnan(t).all():
            out.update({f"{task}_{k}": None for k in _REGRESSION_KEYS})
            out[f"{task}_n"], out[f"{task}_n_missing"] = 0, int(t.size)
            undefined[task] = f"no labelled {task} samples"
            continue
        reg = regression_metrics(t, pred)
        out.update({f"{task}_{k}": reg[k] for k in _REGRESSION_KEYS})
        undefined.update({f"{task}_{k}": v for k, v in reg["undefined"].items()})
    out["undefined"] = undefined
    return out


#: What the selection score averages: one summary per task, each where that task has labels.
SELECTION_METRICS: tuple[str, ...] = ("expression_f1_macro", "valence_ccc", "arousal_ccc")


def selection_score(metrics: Mapping[str, Any]) -> float | None:
    """Mean of expression macro-F1, valence CCC and arousal CCC over those defined (None if none is).

    The one definition of the score that chooses checkpoints (``val/score``) and ranks runs: a task without
    labels in the split (or whose metric is undefined there) is left out, not counted as 0.
    """
    values = [metrics.get(key) for key in SELECTION_METRICS]
    defined = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(defined) / len(defined) if defined else None
