"""Input checks shared by every metric: labels, probabilities, class names, regression values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError

#: The marker for a missing expression label (see ARCHITECTURE.md, `FaceSplit.get_batch`).
MISSING_EXPRESSION = -1
#: Tolerance on probability rows summing to 1 (float16/float32 softmax outputs pass).
_ROW_SUM_ATOL = 1e-3


def check_labels(y_true: Any, num_classes: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (labels, labelled mask) after checking shape, dtype and range."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise AffectlabError(f"y_true must be a 1-D array of class indices, got shape {y.shape}")
    if y.shape[0] != n:
        raise AffectlabError(f"y_true has {y.shape[0]} labels but probs has {n} rows; they must match")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise AffectlabError("y_true contains NaN/inf; use -1 for a missing expression label")
        if not np.all(y == np.round(y)):
            raise AffectlabError("y_true must hold integer class indices, got non-integer values")
    elif y.dtype.kind not in "iub":
        raise AffectlabError(f"y_true must hold integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    labelled = y != MISSING_EXPRESSION
    bad = labelled & ((y < 0) | (y >= num_classes))
    if bad.any():
        raise AffectlabError(
            f"y_true has labels outside 0..{num_classes - 1} (e.g. {int(y[bad][0])}); "
            f"probs has {num_classes} columns, one per class (-1 marks a missing label)"
        )
    return y, labelled


def check_probs(probs: Any) -> np.ndarray:
    """Return probs as float64 (N, C) after checking shape, finiteness and that rows are distributions."""
    p = np.asarray(probs)
    if p.ndim != 2:
        raise AffectlabError(f"probs must be a 2-D array (N samples, C classes), got shape {p.shape}")
    if p.dtype.kind not in "fiu":
        raise AffectlabError(f"probs must be numeric, got dtype {p.dtype}")
    p = p.astype(np.float64)
    if p.shape[1] < 2:
        raise AffectlabError(f"probs must have at least 2 class columns, got {p.shape[1]}")
    if not np.all(np.isfinite(p)):
        raise AffectlabError("probs contains NaN or inf; check the model outputs")
    if p.size and (p.min() < 0 or not np.allclose(p.sum(axis=1), 1.0, atol=_ROW_SUM_ATOL)):
        raise AffectlabError(
            "probs rows must be probabilities (non-negative, summing to 1); "
            "if these are logits, apply a softmax first"
        )
    return p


def check_names(class_names: Sequence[str] | None, num_classes: int) -> list[str]:
    """Return the class names, defaulting to 'class_<i>', and check their count."""
    if class_names is None:
        return [f"class_{i}" for i in range(num_classes)]
    names = [str(n) for n in class_names]
    if len(names) != num_classes:
        raise AffectlabError(f"{len(names)} class names given but probs has {num_classes} columns")
    if len(set(names)) != len(names):
        raise AffectlabError(f"class names must be unique, got {names}")
    return names


def check_values(a: Any, what: str) -> np.ndarray:
    """Return a 1-D float64 array of regression values."""
    x = np.asarray(a)
    if x.ndim != 1:
        raise AffectlabError(f"{what} must be a 1-D array, got shape {x.shape}")
    if x.dtype.kind not in "fiu":
        raise AffectlabError(f"{what} must be numeric, got dtype {x.dtype}")
    return x.astype(np.float64)


def as_number(x: Any) -> float | None:
    """Return a python float, or None for NaN/inf (an undefined value is None, never NaN)."""
    v = float(x)
    return v if np.isfinite(v) else None
