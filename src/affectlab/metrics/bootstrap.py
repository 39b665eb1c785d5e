"""Percentile-bootstrap confidence intervals and paired model differences for affectlab metrics.

Resampling draws N sample indices with replacement, ``n_boot`` times, from ``numpy.random.default_rng(seed)``;
the same (N, n_boot, seed) always gives the same resamples, so two models scored on the same samples are
resampled identically (a paired bootstrap). See docs/metrics.md for the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.metrics.checks import check_labels, check_probs, check_values
from affectlab.metrics.classification import agreement_from_confusion
from affectlab.metrics.regression import regression_core

#: Expression metrics that get bootstrap intervals (all computed from resampled confusion matrices).
CI_EXPRESSION_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "cohen_kappa", "krippendorff_alpha")
#: Valence/arousal metrics that get bootstrap intervals.
CI_REGRESSION_METRICS = ("ccc", "rmse", "corr", "sagr")
#: Upper bound on resampled values held in memory at once (elements of the (chunk, N) index array).
_CHUNK_ELEMENTS = 4_000_000
#: An interval is reported only when at least this share of the resamples gives a defined value.
_MIN_VALID_SHARE = 0.5


def _check_boot(n_boot: int, alpha: float) -> None:
    """Raise for a bootstrap size or level that makes no sense."""
    if int(n_boot) < 1:
        raise AffectlabError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise AffectlabError(f"alpha must be in (0, 1), e.g. 0.05 for a 95% interval, got {alpha}")


def resample_indices(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Yield (chunk, n) index arrays, n_boot rows in all, drawn with replacement; deterministic in seed."""
    if n < 1:
        raise AffectlabError("cannot bootstrap an empty sample")
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _CHUNK_ELEMENTS // n))
    done = 0
    while done < n_boot:
        size = min(chunk, n_boot - done)
        yield rng.integers(0, n, size=(size, n))
        done += size


def _interval(values: np.ndarray, n_boot: int, alpha: float) -> tuple[float | None, float | None]:
    """Return the percentile interval of the finite values, or (None, None) if too few are defined."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.size < _MIN_VALID_SHARE * n_boot:
        return None, None
    low, high = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def bootstrap_ci(
    metric_fn: Callable[..., float | None],
    *arrays: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float | None, float | None]:
    """Return the percentile-bootstrap (1 - alpha) interval of metric_fn over samples resampled jointly."""
    _check_boot(n_boot, alpha)
    if not arrays:
        raise AffectlabError("bootstrap_ci needs at least one array to resample")
    arrs = [np.asarray(a) for a in arrays]
    n = arrs[0].shape[0] if arrs[0].ndim else 0
    if any(a.ndim == 0 or a.shape[0] != n for a in arrs):
        raise AffectlabError(
            f"bootstrap_ci arrays must share their first dimension, got {[a.shape for a in arrs]}"
        )
    values = np.empty(n_boot)
    row = 0
    for idx in resample_indices(n, n_boot, seed):
        for one in idx:
            v = metric_fn(*[a[one] for a in arrs])
            values[row] = np.nan if v is None else float(v)
            row += 1
    return _interval(values, n_boot, alpha)


def paired_bootstrap_diff(
    metric_fn: Callable[..., float | None],
    arrays_a: Sequence[np.ndarray],
    arrays_b: Sequence[np.ndarray],
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Return metric(a) - metric(b) with its paired-bootstrap interval and whether it excludes 0."""
    _check_boot(n_boot, alpha)
    a_arrs = [np.asarray(a) for a in arrays_a]
    b_arrs = [np.asarray(b) for b in arrays_b]
    n = a_arrs[0].shape[0] if a_arrs and a_arrs[0].ndim else 0
    if not a_arrs or any(x.ndim == 0 or x.shape[0] != n for x in a_arrs + b_arrs):
        raise AffectlabError("paired_bootstrap_diff arrays must be non-empty and share their first dimension")
    point_a, point_b = metric_fn(*a_arrs), metric_fn(*b_arrs)
    diffs = np.empty(n_boot)
    row = 0
    for idx in resample_indices(n, n_boot, seed):
        for one in idx:
            va, vb = metric_fn(*[x[one] for x in a_arrs]), metric_fn(*[x[one] for x in b_arrs])
            diffs[row] = np.nan if va is None or vb is None else float(va) - float(vb)
            row += 1
    return _diff_record(point_a, point_b, diffs, n_boot, alpha)


def _diff_record(a: Any, b: Any, diffs: np.ndarray, n_boot: int, alpha: float) -> dict[str, Any]:
    """Return the JSON record of a paired difference."""
    low, high = _interval(diffs, n_boot, alpha)
    a = None if a is None or not np.isfinite(a) else float(a)
    b = None if b is None or not np.isfinite(b) else float(b)
    distinguishable = None if low is None or high is None else bool(low > 0.0 or high < 0.0)
    return {
        "a": a,
        "b": b,
        "diff": None if a is None or b is None else a - b,
        "low": low,
        "high": high,
        "distinguishable": distinguishable,
    }


def indistinguishable(ci_a: Sequence[float | None], ci_b: Sequence[float | None]) -> bool | None:
    """Return True when two unpaired intervals overlap (a conservative rule; None if either is missing)."""
    low_a, high_a = ci_a
    low_b, high_b = ci_b
    if low_a is None or high_a is None or low_b is None or high_b is None:
        return None
    return bool(low_a <= high_b and low_b <= high_a)


# ---------------------------------------------------------------------------- vectorised affect metrics
def _expression_stats(y: np.ndarray, pred: np.ndarray, c: int, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Return each CI expression metric for every resample row of idx (NaN where undefined)."""
    boots = idx.shape[0]
    flat = (np.arange(boots)[:, None] * (c * c) + y[idx] * c + pred[idx]).ravel()
    cm = np.bincount(flat, minlength=boots * c * c).reshape(boots, c, c)
    stats = agreement_from_confusion(cm)
    return {k: np.asarray(stats[k], dtype=np.float64) for k in CI_EXPRESSION_METRICS}


def _regression_stats(y: np.ndarray, p: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Return each CI regression metric for every resample row of idx (NaN where undefined)."""
    core = regression_core(y[idx], p[idx])
    return {k: np.asarray(core[k], dtype=np.float64) for k in CI_REGRESSION_METRICS}


_Stats = Callable[[int, np.ndarray], dict[str, np.ndarray]]


def _regression_task(t: np.ndarray, ps: list[np.ndarray]) -> _Stats:
    """Return stats(model_index, idx) for one valence/arousal task."""
    return lambda m, idx: _regression_stats(t, ps[m], idx)


def _prepare_tasks(
    expression_true: np.ndarray | None,
    probs_list: Sequence[np.ndarray | None],
    va: Sequence[tuple[str, np.ndarray | None, Sequence[np.ndarray | None]]],
) -> list[tuple[str, _Stats, int]]:
    """Return (task, stats(model_index, idx), n) per scored task, with missing labels already removed."""
    tasks: list[tuple[str, _Stats, int]] = []
    if expression_true is not None and all(p is not None for p in probs_list):
        probs = [check_probs(p) for p in probs_list]
        c = probs[0].shape[1]
        if any(p.shape != probs[0].shape for p in probs):
            raise AffectlabError("the models' probs arrays must have the same shape")
        y, labelled = check_labels(expression_true, c, probs[0].shape[0])
        y = y[labelled]
        preds = [np.argmax(p[labelled], axis=1) for p in probs]
        if y.size:
            tasks.append(("expression", lambda m, idx: _expression_stats(y, preds[m], c, idx), int(y.size)))
    for task, truth, preds_in in va:
        if truth is None or any(p is None for p in preds_in):
            continue
        t = check_values(truth, f"{task}_true")
        ps = [check_values(p, f"{task}_pred") for p in preds_in]
        if any(p.shape != t.shape for p in ps):
            raise AffectlabError(f"{task}_true and {task}_pred differ in length")
        if any(not np.all(np.isfinite(p)) for p in ps) or np.isinf(t).any():
            raise AffectlabError(f"{task} predictions must be finite (NaN marks a missing label only)")
        keep = ~np.isnan(t)
        t_kept, ps_kept = t[keep], [p[keep] for p in ps]
        if t_kept.size:
            tasks.append((task, _regression_task(t_kept, ps_kept), int(t_kept.size)))
    return tasks


def affect_metrics_ci(
    expression_true: np.ndarray | None,
    probs: np.ndarray | None,
    valence_true: np.ndarray | None = None,
    valence_pred: np.ndarray | None = None,
    arousal_true: np.ndarray | None = None,
    arousal_pred: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, dict[str, Any]]:
    """Return {`<task>_<metric>`: {estimate, low, high, n, n_boot, level}} by percentile bootstrap."""
    _check_boot(n_boot, alpha)
    tasks = _prepare_tasks(
        expression_true,
        [probs],
        [("valence", valence_true, [valence_pred]), ("arousal", arousal_true, [arousal_pred])],
    )
    out: dict[str, dict[str, Any]] = {}
    for task, stats, n in tasks:
        point = stats(0, np.arange(n)[None, :])
        parts = [stats(0, idx) for idx in resample_indices(n, n_boot, seed)]
        for key, value in point.items():
            low, high = _interval(np.concatenate([p[key] for p in parts]), n_boot, alpha)
            est = float(value[0])
            out[f"{task}_{key}"] = {
                "estimate": est if np.isfinite(est) else None,
                "low": low,
                "high": high,
                "n": n,
                "n_boot": int(n_boot),
                "level": 1.0 - alpha,
            }
    return out


def paired_affect_diff(
    expression_true: np.ndarray | None = None,
    probs_a: np.ndarray | None = None,
    probs_b: np.ndarray | None = None,
    valence_true: np.ndarray | None = None,
    valence_pred_a: np.ndarray | None = None,
    valence_pred_b: np.ndarray | None = None,
    arousal_true: np.ndarray | None = None,
    arousal_pred_a: np.ndarray | None = None,
    arousal_pred_b: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, dict[str, Any]]:
    """Return {`<task>_<metric>`: {a, b, diff, low, high, distinguishable}} for two models, same samples."""
    _check_boot(n_boot, alpha)
    tasks = _prepare_tasks(
        expression_true,
        [probs_a, probs_b],
        [
            ("valence", valence_true, [valence_pred_a, valence_pred_b]),
            ("arousal", arousal_true, [arousal_pred_a, arousal_pred_b]),
        ],
    )
    out: dict[str, dict[str, Any]] = {}
    for task, stats, n in tasks:
        full = np.arange(n)[None, :]
        point_a, point_b = stats(0, full), stats(1, full)
        diffs: dict[str, list[np.ndarray]] = {k: [] for k in point_a}
        for idx in resample_indices(n, n_boot, seed):
            sa, sb = stats(0, idx), stats(1, idx)
            for key in diffs:
                diffs[key].append(sa[key] - sb[key])
        for key in point_a:
            record = _diff_record(point_a[key][0], point_b[key][0], np.concatenate(diffs[key]), n_boot, alpha)
            out[f"{task}_{key}"] = {**record, "n": n, "n_boot": int(n_boot), "level": 1.0 - alpha}
    return out
