"""Expression (classification) metrics: agreement from confusion counts, per-class scores, AUC, AUC-PR."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.metrics.checks import as_number, check_labels, check_names, check_probs


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


def agreement_from_confusion(cm: np.ndarray) -> dict[str, float | None]:
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


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Return the (C, C) confusion count matrix, rows = true class, columns = predicted class."""
    flat = np.asarray(y_true, np.int64) * num_classes + np.asarray(y_pred, np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _class_row(
    k: int, name: str, cm: np.ndarray, y: np.ndarray, p: np.ndarray, undefined: dict[str, str]
) -> dict[str, Any]:
    """Precision, recall, F1, support, AUC and AUC-PR of class k; undefined values are None with a reason."""
    support, predicted, tp = int(cm[k].sum()), int(cm[:, k].sum()), int(cm[k, k])
    positives = y == k
    row: dict[str, Any] = {
        "precision": tp / predicted if predicted else None,
        "recall": tp / support if support else None,
        "f1": 2 * tp / (support + predicted) if support + predicted else None,
        "support": support,
        "auc_roc": roc_auc(positives, p[:, k]),
        "auc_pr": average_precision(positives, p[:, k]),
    }
    reasons = {
        "precision": f"class '{name}' is never predicted (0/0)",
        "recall": f"class '{name}' absent from y_true (0/0)",
        "f1": f"class '{name}' absent from y_true and predictions; left out of f1_macro",
        "auc_roc": f"class '{name}' {_why_no_auc(support)}",
        "auc_pr": f"class '{name}' absent from y_true (no positives)",
    }
    for key, reason in reasons.items():
        if row[key] is None:
            undefined[f"per_class.{name}.{key}"] = reason
    return row


def _why_no_auc(support: int) -> str:
    return "absent from y_true" if not support else "the only class in y_true (no negatives)"


def _macro_ranking(
    per_class: dict[str, dict[str, Any]], undefined: dict[str, str]
) -> dict[str, float | None]:
    """Macro AUC and AUC-PR over the classes where each is defined, saying which were left out."""
    out: dict[str, float | None] = {}
    for key, why in (
        ("auc_roc", lambda row: _why_no_auc(row["support"])),
        ("auc_pr", lambda row: "absent from y_true"),
    ):
        values = [row[key] for row in per_class.values() if row[key] is not None]
        out[key] = float(np.mean(values)) if values else None
        left_out = [f"'{name}' ({why(row)})" for name, row in per_class.items() if row[key] is None]
        if left_out:
            undefined[key] = f"macro over {len(values)} of {len(per_class)} classes; left out: " + ", ".join(
                left_out
            )
    return out


def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Return expression metrics from true class indices (N,) and class probabilities (N, C)."""
    p = check_probs(probs)
    num_classes = p.shape[1]
    names = check_names(class_names, num_classes)
    y, labelled = check_labels(y_true, num_classes, p.shape[0])
    n_missing = int((~labelled).sum())
    y, p = y[labelled], p[labelled]
    if y.size == 0:
        raise AffectlabError("no labelled samples to score (empty input or every label is -1)")
    pred = np.argmax(p, axis=1)  # ties go to the lowest class index
    cm = confusion_counts(y, pred, num_classes)
    undefined: dict[str, str] = {}
    out: dict[str, Any] = {"n": int(y.size), "n_missing": n_missing}
    for key, value in agreement_from_confusion(cm).items():
        out[key] = as_number(value)
    if out["cohen_kappa"] is None:
        undefined["cohen_kappa"] = "chance agreement is 1 (labels and predictions are one same class): 0/0"
    if out["krippendorff_alpha"] is None:
        undefined["krippendorff_alpha"] = (
            "only one class occurs among labels and predictions: no expected disagreement (0/0)"
        )
    per_class = {name: _class_row(k, name, cm, y, p, undefined) for k, name in enumerate(names)}
    out.update(_macro_ranking(per_class, undefined))
    out["per_class"] = per_class
    out["confusion_matrix"] = cm.astype(int).tolist()
    out["class_names"] = names
    out["undefined"] = undefined
    return out
