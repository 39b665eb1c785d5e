"""Expression classification and valence/arousal regression metrics (numpy in, JSON-ready python out).

Formulas, references and the policy for undefined values are in docs/metrics.md. Every function returns
plain python floats/ints/lists/dicts; a value that is mathematically undefined is ``None`` and the reason is
recorded under the ``undefined`` key, never a NaN and never a made-up number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError

#: The marker for a missing expression label (see ARCHITECTURE.md, `FaceSplit.get_batch`).
MISSING_EXPRESSION = -1
#: Tolerance on probability rows summing to 1 (float16/float32 softmax outputs pass).
_ROW_SUM_ATOL = 1e-3

__all__ = [
    "MISSING_EXPRESSION",
    "affect_metrics",
    "average_precision",
    "classification_metrics",
    "confusion_counts",
    "regression_metrics",
    "roc_auc",
]


# --------------------------------------------------------------------------------------------- validation
def _check_labels(y_true: Any, num_classes: int, n: int) -> tuple[np.ndarray, np.ndarray]:
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


def _check_probs(probs: Any) -> np.ndarray:
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


def _check_names(class_names: Sequence[str] | None, num_classes: int) -> list[str]:
    """Return the class names, defaulting to 'class_<i>', and check their count."""
    if class_names is None:
        return [f"class_{i}" for i in range(num_classes)]
    names = [str(n) for n in class_names]
    if len(names) != num_classes:
        raise AffectlabError(f"{len(names)} class names given but probs has {num_classes} columns")
    if len(set(names)) != len(names):
        raise AffectlabError(f"class names must be unique, got {names}")
    return names


def _check_values(a: Any, what: str) -> np.ndarray:
    """Return a 1-D float64 array of regression values."""
    x = np.asarray(a)
    if x.ndim != 1:
        raise AffectlabError(f"{what} must be a 1-D array, got shape {x.shape}")
    if x.dtype.kind not in "fiu":
        raise AffectlabError(f"{what} must be numeric, got dtype {x.dtype}")
    return x.astype(np.float64)


# ------------------------------------------------------------------------------------- ranking metrics
def roc_auc(y_binary: np.ndarray, scores: np.ndarray) -> float | None:
    """Return the area under the ROC curve (ties count one half), or None without positives or negatives."""
    pos = np.asarray(y_binary, dtype=bool)
    n_pos = int(pos.sum())
    n_neg = pos.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(
        np.asarray(scores, dtype=np.float64), return_inverse=True, return_counts=True
    )
    midranks = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based average rank of each distinct score
    rank_sum = float(midranks[inverse][pos].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def average_precision(y_binary: np.ndarray, scores: np.ndarray) -> float | None:
    """Return average precision sum_k (R_k - R_{k-1}) P_k over distinct score thresholds, or None."""
    pos = np.asarray(y_binary, dtype=bool)
    n_pos = int(pos.sum())
    if n_pos == 0:
        return None
    _, inverse, counts = np.unique(
        np.asarray(scores, dtype=np.float64), return_inverse=True, return_counts=True
    )
    pos_per_score = np.bincount(inverse, weights=pos.astype(np.float64), minlength=counts.size)
    tps = np.cumsum(pos_per_score[::-1])  # thresholds from the highest score down
    predicted = np.cumsum(counts[::-1])
    recall_steps = np.diff(tps, prepend=0.0) / n_pos
    return float(np.sum(recall_steps * (tps / predicted)))


# ---------------------------------------------------------------------------------- agreement helpers
def _agreement_from_confusion(cm: np.ndarray) -> dict[str, float | None]:
    """Return accuracy, balanced accuracy, F1s, kappa and alpha from a (..., C, C) confusion count array."""
    cm = cm.astype(np.float64)
    n = cm.sum(axis=(-2, -1))
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(axis=-1)
    predicted = cm.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = tp.sum(axis=-1) / n
        present = support > 0
        recall = np.where(present, tp / support, 0.0)
        balanced = recall.sum(axis=-1) / present.sum(axis=-1)
        seen = (support + predicted) > 0  # in y_true or y_pred: F1 = 2TP / (2TP + FP + FN) is defined
        f1 = np.where(seen, 2 * tp / (support + predicted), 0.0)
        f1_macro = f1.sum(axis=-1) / seen.sum(axis=-1)
        f1_weighted = (f1 * support).sum(axis=-1) / n
        expected = (support * predicted).sum(axis=-1) / n**2
        kappa = np.where(expected < 1.0, (accuracy - expected) / (1.0 - expected), np.nan)
        # Krippendorff's nominal alpha with two coders on every unit: coincidences o = CM + CM^T, n.. = 2N.
        values = support + predicted
        disagree_obs = 2.0 * (n - tp.sum(axis=-1))
        disagree_exp = ((2 * n) ** 2 - (values**2).sum(axis=-1)) / (2 * n - 1)
        alpha = np.where(disagree_exp > 0, 1.0 - disagree_obs / disagree_exp, np.nan)
    return {
        "accuracy": accuracy,
        "balanced_accuracy": balanced,
        "f1_macro": f1_macro,
        "f1_weighted": f1_weighted,
        "cohen_kappa": kappa,
        "krippendorff_alpha": alpha,
    }


def _num(x: Any) -> float | None:
    """Return a python float, or None for NaN."""
    v = float(x)
    return v if np.isfinite(v) else None


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Return the (C, C) confusion count matrix, rows = true class, columns = predicted class."""
    flat = np.asarray(y_true, np.int64) * num_classes + np.asarray(y_pred, np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


# ------------------------------------------------------------------------------------- classification
def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Return expression metrics from true class indices (N,) and class probabilities (N, C)."""
    p = _check_probs(probs)
    num_classes = p.shape[1]
    names = _check_names(class_names, num_classes)
    y, labelled = _check_labels(y_true, num_classes, p.shape[0])
    n_missing = int((~labelled).sum())
    y, p = y[labelled], p[labelled]
    if y.size == 0:
        raise AffectlabError("no labelled samples to score (empty input or every label is -1)")
    pred = np.argmax(p, axis=1)  # ties go to the lowest class index
    cm = confusion_counts(y, pred, num_classes)
    undefined: dict[str, str] = {}
    out: dict[str, Any] = {"n": int(y.size), "n_missing": n_missing}
    for key, value in _agreement_from_confusion(cm).items():
        out[key] = _num(value)
    if out["cohen_kappa"] is None:
        undefined["cohen_kappa"] = "chance agreement is 1 (labels and predictions are one same class): 0/0"
    if out["krippendorff_alpha"] is None:
        undefined["krippendorff_alpha"] = (
            "only one class occurs among labels and predictions: no expected disagreement (0/0)"
        )

    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm)
    per_class: dict[str, dict[str, Any]] = {}
    aucs: list[float] = []
    aps: list[float] = []
    auc_left_out: list[str] = []
    for k, name in enumerate(names):
        row: dict[str, Any] = {"support": int(support[k])}
        row["precision"] = float(tp[k] / predicted[k]) if predicted[k] else None
        row["recall"] = float(tp[k] / support[k]) if support[k] else None
        row["f1"] = float(2 * tp[k] / (support[k] + predicted[k])) if support[k] + predicted[k] else None
        positives = y == k
        row["auc_roc"] = roc_auc(positives, p[:, k])
        row["auc_pr"] = average_precision(positives, p[:, k])
        if row["precision"] is None:
            undefined[f"per_class.{name}.precision"] = f"class '{name}' is never predicted (0/0)"
        if row["recall"] is None:
            undefined[f"per_class.{name}.recall"] = f"class '{name}' absent from y_true (0/0)"
        if row["f1"] is None:
            undefined[f"per_class.{name}.f1"] = (
                f"class '{name}' absent from y_true and predictions; left out of f1_macro"
            )
        if row["auc_roc"] is None:
            why = "absent from y_true" if not support[k] else "the only class in y_true (no negatives)"
            undefined[f"per_class.{name}.auc_roc"] = f"class '{name}' {why}"
            auc_left_out.append(f"'{name}' ({why})")
        else:
            aucs.append(row["auc_roc"])
        if row["auc_pr"] is None:
            undefined[f"per_class.{name}.auc_pr"] = f"class '{name}' absent from y_true (no positives)"
        else:
            aps.append(row["auc_pr"])
        per_class[name] = {
            key: row[key] for key in ("precision", "recall", "f1", "support", "auc_roc", "auc_pr")
        }
    out["auc_roc"] = float(np.mean(aucs)) if aucs else None
    out["auc_pr"] = float(np.mean(aps)) if aps else None
    if auc_left_out:
        undefined["auc_roc"] = f"macro over {len(aucs)} of {num_classes} classes; left out: " + ", ".join(
            auc_left_out
        )
    if len(aps) < num_classes:
        absent = [f"'{names[k]}'" for k in range(num_classes) if not support[k]]
        undefined["auc_pr"] = (
            f"macro over {len(aps)} of {num_classes} classes; left out (absent from "
            f"y_true): {', '.join(absent)}"
        )
    out["per_class"] = per_class
    out["confusion_matrix"] = cm.astype(int).tolist()
    out["class_names"] = names
    out["undefined"] = undefined
    return out


# ----------------------------------------------------------------------------------------- regression
def _regression_core(y: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    """Return rmse, Pearson corr, SAGR and CCC along the last axis (NaN where undefined)."""
    mx, my = y.mean(axis=-1), p.mean(axis=-1)
    # a constant array is centred exactly (its float mean can be off by an ulp and fake a variance)
    const_y = (y.max(axis=-1) == y.min(axis=-1))[..., None]
    const_p = (p.max(axis=-1) == p.min(axis=-1))[..., None]
    dx = np.where(const_y, 0.0, y - mx[..., None])
    dy = np.where(const_p, 0.0, p - my[..., None])
    vx, vy = (dx * dx).mean(axis=-1), (dy * dy).mean(axis=-1)  # population variances
    cov = (dx * dy).mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where((vx > 0) & (vy > 0), cov / np.sqrt(vx * vy), np.nan)
        denom = vx + vy + (mx - my) ** 2
        ccc = np.where(denom > 0, 2 * cov / denom, np.nan)
    return {
        "rmse": np.sqrt(((y - p) ** 2).mean(axis=-1)),
        "corr": np.clip(corr, -1.0, 1.0),
        "sagr": (np.sign(y) == np.sign(p)).mean(axis=-1),
        "ccc": ccc,
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Return rmse, corr (Pearson), sagr and ccc for one continuous target; NaN labels are skipped."""
    y = _check_values(y_true, "y_true")
    p = _check_values(y_pred, "y_pred")
    if y.shape != p.shape:
        raise AffectlabError(f"y_true and y_pred differ in length: {y.shape[0]} vs {p.shape[0]}")
    if np.isinf(y).any():
        raise AffectlabError("y_true contains inf; use NaN for a missing label")
    if not np.all(np.isfinite(p)):
        raise AffectlabError("y_pred contains NaN or inf; check the model outputs")
    labelled = ~np.isnan(y)
    y, p = y[labelled], p[labelled]
    if y.size == 0:
        raise AffectlabError("no labelled samples to score (empty input or every label is NaN)")
    core = _regression_core(y, p)
    out: dict[str, Any] = {"n": int(y.size), "n_missing": int((~labelled).sum())}
    out.update({key: _num(value) for key, value in core.items()})
    undefined: dict[str, str] = {}
    if out["corr"] is None:
        which = [w for w, a in (("y_true", y), ("y_pred", p)) if np.ptp(a) == 0]
        undefined["corr"] = f"{' and '.join(which)} constant: Pearson correlation is 0/0"
    if out["ccc"] is None:
        undefined["ccc"] = "y_true and y_pred are the same constant: CCC is 0/0"
    out["undefined"] = undefined
    return out


# ----------------------------------------------------------------------------------------- multi-task
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
        y, _ = _check_labels(expression_true, _check_probs(probs).shape[1], np.shape(probs)[0])
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
        t = _check_values(truth, f"{task}_true")
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
