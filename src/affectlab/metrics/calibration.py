"""Calibration metrics: top-label and classwise ECE, NLL, Brier score, reliability bins, risk-coverage.

How far a model's probabilities can be trusted (docs/metrics.md, "Calibration"). Binning: ``n_bins`` (15)
equal-width bins of the score on [0, 1]; bin k holds scores in [k/n, (k+1)/n), the last one also 1.0. ECE is
the L1 gap weighted by each bin's share of the samples (Naeini et al. 2015; Guo et al. 2017). Every function
takes labels with ``-1`` for a missing label (skipped) and probability rows, like classification_metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.metrics.checks import as_number, check_labels, check_probs

#: Bins of the reliability diagram and the ECEs (Guo et al. 2017 use 15; so does torchmetrics by default).
N_BINS = 15
#: Stated beside every ECE value.
BINNING = "15 equal-width bins of the score on [0, 1], [k/15, (k+1)/15), L1 gap weighted by bin share"
#: Probabilities are clipped to this before the log in NLL (float64 machine epsilon, as scikit-learn).
_EPS = float(np.finfo(np.float64).eps)
#: Coverages at which the risk-coverage curve is stored (the share of faces answered).
COVERAGE_POINTS = 50


def _labelled(y_true: Any, probs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return (labels, probs) of the labelled samples after the shared checks."""
    p = check_probs(probs)
    y, keep = check_labels(y_true, p.shape[1], p.shape[0])
    if not keep.any():
        raise AffectlabError("no labelled samples to compute calibration metrics on (all labels are -1)")
    return y[keep], p[keep]


def bin_index(scores: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Return the bin of every score in [0, 1]: floor(score * n_bins), 1.0 in the last bin."""
    if n_bins < 1:
        raise AffectlabError(f"n_bins must be at least 1, got {n_bins}")
    return np.minimum((np.asarray(scores, np.float64) * n_bins).astype(np.int64), n_bins - 1)


def top_label(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (confidence = the top probability, 1.0 where the argmax is the label else 0.0)."""
    pred = np.argmax(probs, axis=1)
    return probs[np.arange(len(probs)), pred], (pred == y).astype(np.float64)


def _gap(bins: np.ndarray, score: np.ndarray, hit: np.ndarray, n_bins: int) -> float:
    """Sum over bins of |sum(hit) - sum(score)| / N: the share-weighted L1 gap of one binned score."""
    s_hit = np.bincount(bins, weights=hit, minlength=n_bins)
    s_score = np.bincount(bins, weights=score, minlength=n_bins)
    return float(np.abs(s_hit - s_score).sum() / len(score))


def expected_calibration_error(y_true: Any, probs: Any, n_bins: int = N_BINS) -> float:
    """Top-label ECE: sum over confidence bins of (bin share) x |accuracy - mean confidence| in the bin."""
    y, p = _labelled(y_true, probs)
    conf, correct = top_label(p, y)
    return _gap(bin_index(conf, n_bins), conf, correct, n_bins)


def classwise_ece(y_true: Any, probs: Any, n_bins: int = N_BINS) -> tuple[float, list[float]]:
    """Classwise ECE (Kull et al. 2019): per class, the binned gap of p_c vs [y = c]; (mean, per class)."""
    y, p = _labelled(y_true, probs)
    per_class = [
        _gap(bin_index(p[:, c], n_bins), p[:, c], (y == c).astype(np.float64), n_bins)
        for c in range(p.shape[1])
    ]
    return float(np.mean(per_class)), per_class


def nll_per_sample(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """-log p(true class), the probability clipped at machine epsilon so that a 0 gives a finite value."""
    return -np.log(np.clip(probs[np.arange(len(y)), y], _EPS, 1.0))


def brier_per_sample(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sum over classes of (p_c - [y = c])^2 (Brier 1950; 0 best, 2 worst)."""
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(y)), y] = 1.0
    return np.asarray(((probs - onehot) ** 2).sum(axis=1))


def negative_log_likelihood(y_true: Any, probs: Any) -> float:
    """Mean negative log-likelihood of the true class (natural log)."""
    y, p = _labelled(y_true, probs)
    return float(nll_per_sample(p, y).mean())


def brier_score(y_true: Any, probs: Any) -> float:
    """Multi-class Brier score: mean over samples of the squared distance to the one-hot label."""
    y, p = _labelled(y_true, probs)
    return float(brier_per_sample(p, y).mean())


def reliability_bins(y_true: Any, probs: Any, n_bins: int = N_BINS) -> dict[str, Any]:
    """The reliability diagram's data: per confidence bin its edges, count, mean confidence and accuracy."""
    y, p = _labelled(y_true, probs)
    conf, correct = top_label(p, y)
    bins = bin_index(conf, n_bins)
    count = np.bincount(bins, minlength=n_bins)
    s_conf = np.bincount(bins, weights=conf, minlength=n_bins)
    s_acc = np.bincount(bins, weights=correct, minlength=n_bins)
    ratio = [(a / c, b / c) if c else (None, None) for a, b, c in zip(s_conf, s_acc, count, strict=True)]
    return {
        "edges": [k / n_bins for k in range(n_bins + 1)],
        "count": [int(c) for c in count],
        "confidence": [None if r[0] is None else float(r[0]) for r in ratio],
        "accuracy": [None if r[1] is None else float(r[1]) for r in ratio],
        "binning": BINNING if n_bins == N_BINS else f"{n_bins} equal-width bins of the score on [0, 1]",
    }


def risk_coverage(y_true: Any, probs: Any, points: int = COVERAGE_POINTS) -> dict[str, Any]:
    """Accuracy of the answered faces when only the most confident share is answered, at `points` coverages.

    Faces are answered in order of decreasing confidence (ties broken by position); ``threshold`` is the
    lowest confidence answered at each coverage, so "answer when confidence >= threshold" gives (about) that
    coverage. ``aurc`` is the area under the risk (1 - accuracy) vs coverage curve over every sample
    (Geifman & El-Yaniv 2017): lower is better.
    """
    y, p = _labelled(y_true, probs)
    conf, correct = top_label(p, y)
    order = np.argsort(-conf, kind="stable")
    hits = np.cumsum(correct[order])
    n = len(y)
    answered = np.arange(1, n + 1)
    cover = np.unique(np.clip(np.ceil(np.linspace(1, points, points) / points * n), 1, n).astype(np.int64))
    return {
        "coverage": [float(k / n) for k in cover],
        "accuracy": [float(hits[k - 1] / k) for k in cover],
        "threshold": [float(conf[order][k - 1]) for k in cover],
        "n": n,
        "aurc": float(np.mean(1.0 - hits / answered)),
    }


def abstention_at(y_true: Any, probs: Any, threshold: float) -> dict[str, Any]:
    """Coverage and accuracy when faces whose top probability is below `threshold` are marked uncertain."""
    y, p = _labelled(y_true, probs)
    conf, correct = top_label(p, y)
    answered = conf >= threshold
    k = int(answered.sum())
    return {
        "threshold": float(threshold),
        "n": len(y),
        "answered": k,
        "coverage": k / len(y),
        "accuracy_answered": as_number(correct[answered].mean()) if k else None,
        "accuracy_all": float(correct.mean()),
    }


def calibration_metrics(y_true: Any, probs: Any, n_bins: int = N_BINS) -> dict[str, Any]:
    """ECE, classwise ECE (with per-class values), NLL, Brier, AURC, reliability bins and risk-coverage."""
    y, p = _labelled(y_true, probs)
    mean_cw, per_class = classwise_ece(y, p, n_bins)
    curve = risk_coverage(y, p)
    return {
        "ece": expected_calibration_error(y, p, n_bins),
        "classwise_ece": mean_cw,
        "classwise_ece_per_class": per_class,
        "nll": negative_log_likelihood(y, p),
        "brier": brier_score(y, p),
        "aurc": curve["aurc"],
        "reliability": reliability_bins(y, p, n_bins),
        "risk_coverage": curve,
    }


# ----------------------------------------------------------------------- vectorised for the bootstrap
#: Calibration metrics that get bootstrap intervals.
CI_CALIBRATION_METRICS = ("ece", "classwise_ece", "nll", "brier")


def calibration_parts(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> dict[str, np.ndarray]:
    """Per-sample pieces from which each resample's calibration metrics are sums (for the bootstrap)."""
    conf, correct = top_label(probs, y)
    return {
        "conf": conf,
        "correct": correct,
        "bin": bin_index(conf, n_bins),
        "class_bin": bin_index(probs, n_bins),
        "probs": probs,
        "y": y,
        "nll": nll_per_sample(probs, y),
        "brier": brier_per_sample(probs, y),
    }


def _batched_gap(bins: np.ndarray, score: np.ndarray, hit: np.ndarray, n_bins: int) -> np.ndarray:
    """_gap for every row of (B, N) arrays at once."""
    boots, n = bins.shape
    flat = (np.arange(boots)[:, None] * n_bins + bins).ravel()
    s_hit = np.bincount(flat, weights=hit.ravel(), minlength=boots * n_bins).reshape(boots, n_bins)
    s_score = np.bincount(flat, weights=score.ravel(), minlength=boots * n_bins).reshape(boots, n_bins)
    return np.asarray(np.abs(s_hit - s_score).sum(axis=1) / n)


def calibration_stats(parts: dict[str, np.ndarray], idx: np.ndarray, n_bins: int = N_BINS) -> dict[str, Any]:
    """Each CI calibration metric for every resample row of idx (B, N) of the labelled samples."""
    y = parts["y"][idx]
    classes = parts["probs"].shape[1]
    cw = [
        _batched_gap(parts["class_bin"][idx, c], parts["probs"][idx, c], (y == c).astype(np.float64), n_bins)
        for c in range(classes)
    ]
    return {
        "ece": _batched_gap(parts["bin"][idx], parts["conf"][idx], parts["correct"][idx], n_bins),
        "classwise_ece": np.mean(cw, axis=0),
        "nll": parts["nll"][idx].mean(axis=1),
        "brier": parts["brier"][idx].mean(axis=1),
    }
