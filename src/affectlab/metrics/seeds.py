"""Seed-aware model differences: the difference of two models' seed means with both sources of noise.

Two runs of one recipe that differ only in their seed differ in their scores; the paired bootstrap over
validation samples does not see that. For two models trained ``n_a`` and ``n_b`` times and scored on the same
samples, :func:`seed_paired_diff` reports, per metric, the difference of the seed means with a (1 - alpha)
interval

    diff ± t(1 - alpha/2, df) · sqrt(v_boot + s_a² / n_a + s_b² / n_b)

where ``v_boot`` is the paired-bootstrap variance of the difference of the seed means (every run resampled
with the same sample indices), ``s²`` the sample variance of a model's per-seed values, and ``df`` the
Welch-Satterthwaite degrees of freedom of the seed terms (the bootstrap term counts as known). A difference
is *distinguishable* when the interval excludes 0. With one run of a model the seed variance is unknown and
the rule falls back to the percentile paired bootstrap (the single-run rule of ``paired_affect_diff``).
The rule is documented in docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.metrics.bootstrap import _check_boot, _interval, _prepare_tasks, resample_indices


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) for x in [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student's t cumulative distribution function (df may be fractional; inf: the normal)."""
    if math.isinf(df):
        return 0.5 * math.erfc(-t / math.sqrt(2.0))
    if t * t < df:  # near the centre: no cancellation in 1 - tail
        half = 0.5 * _betainc(0.5, df / 2.0, t * t / (df + t * t))
        return 0.5 + half if t > 0 else 0.5 - half
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with df degrees of freedom (bisection on :func:`t_cdf`)."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise AffectlabError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    low, high = -1.0, 1.0
    while t_cdf(low, df) > p:
        low *= 2.0
    while t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * max(1.0, abs(mid)):
            break
    return 0.5 * (low + high)


def combine(
    values_a: Sequence[float | None],
    values_b: Sequence[float | None],
    boot_diffs: np.ndarray | None = None,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """The seed-aware record of one metric: seed means, sds, the interval of their difference, the verdict.

    ``boot_diffs``: the paired-bootstrap resamples of the difference of seed means (None: no interval for
    this metric, so only the seed variance counts).
    """
    a = np.array([v for v in values_a if v is not None and math.isfinite(v)], dtype=np.float64)
    b = np.array([v for v in values_b if v is not None and math.isfinite(v)], dtype=np.float64)
    out: dict[str, Any] = {"n_a": int(a.size), "n_b": int(b.size), "level": 1.0 - alpha}
    if a.size == 0 or b.size == 0:
        return {**out, "a": None, "b": None, "diff": None, "low": None, "high": None, "distinguishable": None}
    mean_a, mean_b = float(a.mean()), float(b.mean())
    out.update(a=mean_a, b=mean_b, diff=mean_a - mean_b)
    out["sd_a"] = float(a.std(ddof=1)) if a.size > 1 else None
    out["sd_b"] = float(b.std(ddof=1)) if b.size > 1 else None
    finite = boot_diffs[np.isfinite(boot_diffs)] if boot_diffs is not None else np.empty(0)
    if a.size < 2 or b.size < 2:
        if boot_diffs is None:
            return {**out, "low": None, "high": None, "distinguishable": None, "rule": "no interval, one run"}
        low, high = _interval(boot_diffs, boot_diffs.size, alpha)
        verdict = None if low is None or high is None else bool(low > 0.0 or high < 0.0)
        return {
            **out,
            "low": low,
            "high": high,
            "distinguishable": verdict,
            "rule": "paired bootstrap, one run",
        }
    seed_a, seed_b = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    v_boot = float(finite.var(ddof=1)) if finite.size > 1 else 0.0
    variance = v_boot + seed_a + seed_b
    denom = (seed_a**2 / (a.size - 1) if seed_a else 0.0) + (seed_b**2 / (b.size - 1) if seed_b else 0.0)
    df = variance**2 / denom if denom > 0 else math.inf
    half = t_quantile(1.0 - alpha / 2.0, df) * math.sqrt(variance) if variance > 0 else 0.0
    low, high = out["diff"] - half, out["diff"] + half
    rule = (
        "seeds + paired bootstrap" if boot_diffs is not None else "seeds only (no bootstrap for this metric)"
    )
    return {
        **out,
        "boot_sd": math.sqrt(v_boot),
        "se": math.sqrt(variance),
        "df": None if math.isinf(df) else float(df),
        "low": float(low),
        "high": float(high),
        "distinguishable": bool(low > 0.0 or high < 0.0) if variance > 0 else out["diff"] != 0.0,
        "rule": rule,
    }


def seed_paired_diff(
    expression_true: np.ndarray | None,
    probs_a: Sequence[np.ndarray],
    probs_b: Sequence[np.ndarray],
    valence_true: np.ndarray | None = None,
    valence_a: Sequence[np.ndarray] = (),
    valence_b: Sequence[np.ndarray] = (),
    arousal_true: np.ndarray | None = None,
    arousal_a: Sequence[np.ndarray] = (),
    arousal_b: Sequence[np.ndarray] = (),
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, dict[str, Any]]:
    """{`<task>_<metric>`: seed-aware difference record} for two models' runs scored on the same samples."""
    _check_boot(n_boot, alpha)
    na, nb = len(probs_a), len(probs_b)
    if na < 1 or nb < 1:
        raise AffectlabError("seed_paired_diff needs at least one run of each model")
    va = [
        ("valence", valence_true, [*valence_a, *valence_b] if valence_a and valence_b else [None]),
        ("arousal", arousal_true, [*arousal_a, *arousal_b] if arousal_a and arousal_b else [None]),
    ]
    tasks = _prepare_tasks(expression_true, [*probs_a, *probs_b], va)
    out: dict[str, dict[str, Any]] = {}
    runs_a, runs_b = range(na), range(na, na + nb)
    for task, stats, n in tasks:
        full = np.arange(n)[None, :]
        points = [stats(m, full) for m in range(na + nb)]
        diffs: dict[str, list[np.ndarray]] = {k: [] for k in points[0]}
        for idx in resample_indices(n, n_boot, seed):
            per_run = [stats(m, idx) for m in range(na + nb)]
            for key in diffs:
                mean_a = np.mean([per_run[m][key] for m in runs_a], axis=0)
                mean_b = np.mean([per_run[m][key] for m in runs_b], axis=0)
                diffs[key].append(mean_a - mean_b)
        for key in points[0]:
            values = [float(p[key][0]) for p in points]
            record = combine(values[:na], values[na:], np.concatenate(diffs[key]), alpha)
            out[f"{task}_{key}"] = {**record, "n": n, "n_boot": int(n_boot)}
    return out
