"""Seed-aware differences: Student t against SciPy, the combined interval by hand, the one-run fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from affectlab.metrics.bootstrap import paired_affect_diff
from affectlab.metrics.seeds import combine, seed_paired_diff, t_cdf, t_quantile


@pytest.mark.parametrize("df", [1.0, 2.0, 2.7, 5.0, 11.3, 40.0, math.inf])
@pytest.mark.parametrize("p", [0.025, 0.3, 0.5, 0.9, 0.975, 0.999])
def test_t_quantile_matches_scipy(p: float, df: float) -> None:
    assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-7, abs=1e-9)
    assert t_cdf(1.3, df) == pytest.approx(stats.t.cdf(1.3, df), rel=1e-9)


def test_combined_interval_by_hand() -> None:
    a, b = [0.80, 0.78, 0.83], [0.70, 0.76, 0.69]
    boot = np.random.default_rng(0).normal(0.09, 0.01, 2000)
    got = combine(a, b, boot)
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 3
    v = np.var(boot, ddof=1) + va + vb
    df = v**2 / (va**2 / 2 + vb**2 / 2)
    half = stats.t.ppf(0.975, df) * math.sqrt(v)
    diff = np.mean(a) - np.mean(b)
    assert got["diff"] == pytest.approx(diff)
    assert got["low"] == pytest.approx(diff - half) and got["high"] == pytest.approx(diff + half)
    assert got["df"] == pytest.approx(df) and got["distinguishable"] is bool(diff - half > 0)
    assert got["sd_a"] == pytest.approx(np.std(a, ddof=1))


def test_seed_noise_can_undo_a_bootstrap_verdict() -> None:
    boot = np.random.default_rng(1).normal(0.03, 0.005, 2000)  # the sample alone says: different
    assert combine([0.60], [0.57], boot)["distinguishable"] is True
    noisy = combine([0.70, 0.50, 0.60], [0.57, 0.62, 0.52], boot)  # the seeds say: could be either
    assert noisy["distinguishable"] is False and noisy["low"] < 0 < noisy["high"]
    assert combine([0.9, 0.91], [0.5, 0.51], None)["rule"].startswith("seeds only")


def _runs(rng: np.random.Generator, truth: np.ndarray, skill: float, n: int) -> list[np.ndarray]:
    runs = []
    for _ in range(n):
        logits = rng.normal(0, 1, (truth.size, 8))
        logits[np.arange(truth.size), truth] += skill + rng.normal(0, 0.1)
        e = np.exp(logits - logits.max(1, keepdims=True))
        runs.append(e / e.sum(1, keepdims=True))
    return runs


def test_seed_paired_diff_on_predictions() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 8, 300)
    va = rng.uniform(-1, 1, 300)
    good, weak = _runs(rng, y, 3.0, 3), _runs(rng, y, 0.5, 3)
    vp = [va + rng.normal(0, 0.2, 300) for _ in range(6)]
    out = seed_paired_diff(y, good, weak, va, vp[:3], vp[3:], n_boot=200)
    acc = [float((np.argmax(p, 1) == y).mean()) for p in good + weak]
    assert out["expression_accuracy"]["diff"] == pytest.approx(np.mean(acc[:3]) - np.mean(acc[3:]))
    assert out["expression_accuracy"]["distinguishable"] is True
    assert out["expression_accuracy"]["n_a"] == out["expression_accuracy"]["n_b"] == 3
    assert "valence_ccc" in out and "arousal_ccc" not in out


def test_one_run_each_is_the_paired_bootstrap() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 8, 200)
    (a,), (b,) = _runs(rng, y, 1.0, 1), _runs(rng, y, 1.1, 1)
    seeded = seed_paired_diff(y, [a], [b], n_boot=300, seed=7)["expression_f1_macro"]
    paired = paired_affect_diff(y, a, b, n_boot=300, seed=7)["expression_f1_macro"]
    assert seeded["low"] == pytest.approx(paired["low"]) and seeded["high"] == pytest.approx(paired["high"])
    assert seeded["distinguishable"] == paired["distinguishable"] and seeded["rule"].startswith("paired")
