"""Bootstrap intervals and paired differences in affectlab.metrics.bootstrap."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from affectlab.errors import AffectlabError
from affectlab.metrics import affect_metrics, classification_metrics, regression_metrics
from affectlab.metrics import bootstrap as metrics_ci
from affectlab.metrics.bootstrap import (
    affect_metrics_ci,
    bootstrap_ci,
    indistinguishable,
    paired_affect_diff,
    paired_bootstrap_diff,
    resample_indices,
)


def _data(n: int, seed: int = 0, signal: float = 1.5, noise: float = 0.3):
    """Return (y, probs, v, v_pred, a, a_pred) for a moderately good synthetic model."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 8, size=n)
    logits = rng.normal(size=(n, 8))
    logits[np.arange(n), y] += signal
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    v, a = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    vp = np.clip(0.7 * v + rng.normal(0, noise, n), -1, 1)
    ap = np.clip(0.5 * a + rng.normal(0, noise, n), -1, 1)
    return y, p, v, vp, a, ap


def test_ci_estimates_match_point_metrics_and_contain_them() -> None:
    data = _data(1000)
    ci = affect_metrics_ci(*data, n_boot=300, seed=1)
    point = affect_metrics(*data)
    json.dumps(ci, allow_nan=False)
    expression = ["accuracy", "balanced_accuracy", "f1_macro", "cohen_kappa", "krippendorff_alpha"]
    regression = ["ccc", "rmse", "corr", "sagr"]
    keys = [f"expression_{k}" for k in expression]
    keys += [f"{task}_{k}" for task in ("valence", "arousal") for k in regression]
    for key in keys:
        rec = ci[key]
        assert rec["estimate"] == pytest.approx(point[key]), key
        assert rec["low"] <= rec["estimate"] <= rec["high"], key
        assert rec["low"] < rec["high"] and rec["level"] == pytest.approx(0.95) and rec["n"] == 1000


def test_ci_is_deterministic_in_seed() -> None:
    data = _data(300)
    first = affect_metrics_ci(*data, n_boot=200, seed=5)
    assert first == affect_metrics_ci(*data, n_boot=200, seed=5)
    assert first != affect_metrics_ci(*data, n_boot=200, seed=6)


def test_ci_narrows_with_more_data() -> None:
    small = affect_metrics_ci(*_data(200, seed=1), n_boot=300)
    large = affect_metrics_ci(*_data(4000, seed=1), n_boot=300)
    for key in ("expression_accuracy", "expression_f1_macro", "valence_ccc", "arousal_ccc"):
        width_small = small[key]["high"] - small[key]["low"]
        width_large = large[key]["high"] - large[key]["low"]
        assert width_large < 0.5 * width_small, key


def test_accuracy_interval_coverage_is_near_nominal() -> None:
    rng = np.random.default_rng(11)
    true_acc, n, hits, trials = 0.6, 300, 0, 120
    for t in range(trials):
        y = rng.integers(0, 4, size=n)
        pred = np.where(rng.random(n) < true_acc, y, (y + rng.integers(1, 4, size=n)) % 4)
        rec = affect_metrics_ci(y, np.eye(4)[pred], n_boot=300, seed=t)["expression_accuracy"]
        hits += rec["low"] <= true_acc <= rec["high"]
    assert 0.85 <= hits / trials <= 1.0


def test_vectorised_resamples_equal_the_scalar_metrics() -> None:
    y, p, v, vp, _, _ = _data(150, seed=3)
    idx = next(resample_indices(150, 5, seed=0))
    expr = metrics_ci._expression_stats(y, p.argmax(1), 8, idx)
    regr = metrics_ci._regression_stats(v, vp, idx)
    for row, one in enumerate(idx):
        cls = classification_metrics(y[one], p[one])
        reg = regression_metrics(v[one], vp[one])
        for key in metrics_ci.CI_EXPRESSION_METRICS:
            assert expr[key][row] == pytest.approx(cls[key]), key
        for key in metrics_ci.CI_REGRESSION_METRICS:
            assert regr[key][row] == pytest.approx(reg[key]), key
    # generic bootstrap over the same resamples reproduces the vectorised interval exactly
    ci = affect_metrics_ci(y, p, v, vp, n_boot=200, seed=4)

    def f1_fn(t: np.ndarray, q: np.ndarray) -> float:
        return classification_metrics(t, q)["f1_macro"]

    def ccc_fn(t: np.ndarray, q: np.ndarray) -> float | None:
        return regression_metrics(t, q)["ccc"]

    low, high = bootstrap_ci(f1_fn, y, p, n_boot=200, seed=4)
    assert (low, high) == pytest.approx((ci["expression_f1_macro"]["low"], ci["expression_f1_macro"]["high"]))
    low, high = bootstrap_ci(ccc_fn, v, vp, n_boot=200, seed=4)
    assert (low, high) == pytest.approx((ci["valence_ccc"]["low"], ci["valence_ccc"]["high"]))


def test_ci_skips_missing_labels_per_task() -> None:
    y, p, v, vp, a, ap = _data(400, seed=2)
    y[:50] = -1
    v[::2] = np.nan
    ci = affect_metrics_ci(y, p, v, vp, a, ap, n_boot=100)
    assert ci["expression_accuracy"]["n"] == 350 and ci["valence_ccc"]["n"] == 200
    assert ci["arousal_ccc"]["n"] == 400
    assert ci["valence_ccc"]["estimate"] == pytest.approx(regression_metrics(v, vp)["ccc"])


def test_undefined_resamples_give_no_interval() -> None:
    y = np.zeros(20, dtype=int)
    ci = affect_metrics_ci(y, np.eye(3)[y], np.full(20, 0.5), np.full(20, 0.5), n_boot=50)
    assert ci["expression_accuracy"]["low"] == 1.0
    assert ci["expression_cohen_kappa"]["estimate"] is None and ci["expression_cohen_kappa"]["low"] is None
    assert ci["valence_corr"]["low"] is None and ci["valence_ccc"]["estimate"] is None
    json.dumps(ci, allow_nan=False)


def test_bootstrap_speed_4000_samples_1000_resamples() -> None:
    data = _data(4000)
    start = time.perf_counter()
    ci = affect_metrics_ci(*data, n_boot=1000)
    elapsed = time.perf_counter() - start
    assert elapsed < 15.0, f"bootstrap took {elapsed:.1f}s"
    assert ci["expression_accuracy"]["n_boot"] == 1000


def test_generic_bootstrap_ci() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 1.0, size=500)
    low, high = bootstrap_ci(lambda a: float(a.mean()), x, n_boot=500, seed=1)
    assert low < x.mean() < high
    assert high - low == pytest.approx(2 * 1.96 / np.sqrt(500), rel=0.25)
    assert bootstrap_ci(lambda a: None, x, n_boot=20) == (None, None)


def test_paired_diff_identical_and_clearly_different_models() -> None:
    y, p, v, vp, a, ap = _data(1000, seed=7)
    same = paired_affect_diff(y, p, p, v, vp, vp, a, ap, ap, n_boot=200)
    for rec in same.values():
        assert rec["diff"] in (0.0, None) and rec["distinguishable"] in (False, None)
    y2, weak, _, _, _, _ = _data(1000, seed=7, signal=0.2)
    noisy = np.clip(vp + np.random.default_rng(1).normal(0, 0.6, 1000), -1, 1)
    diff = paired_affect_diff(y, p, weak, v, vp, noisy, n_boot=200)
    assert diff["expression_accuracy"]["diff"] > 0 and diff["expression_accuracy"]["distinguishable"]
    assert diff["valence_ccc"]["diff"] > 0 and diff["valence_ccc"]["distinguishable"]
    assert diff["expression_accuracy"]["low"] <= diff["expression_accuracy"]["diff"]
    assert "arousal_ccc" not in diff
    json.dumps(diff, allow_nan=False)


def test_paired_diff_close_models_not_distinguishable() -> None:
    y, p, _, _, _, _ = _data(300, seed=8)
    right = np.flatnonzero(p.argmax(1) == y)[:5]
    wrong = np.flatnonzero(p.argmax(1) != y)[:4]
    p2 = p.copy()
    p2[right] = np.eye(8)[(y[right] + 1) % 8]  # b loses five that a gets right ...
    p2[wrong] = np.eye(8)[y[wrong]]  # ... and wins four that a gets wrong
    res = paired_affect_diff(y, p, p2, n_boot=300)["expression_accuracy"]
    assert res["diff"] == pytest.approx(1 / 300)
    assert res["low"] < 0 < res["high"] and res["distinguishable"] is False
    # one-sided changes on the same samples are caught by the paired rule even though marginal CIs overlap
    p3 = p.copy()
    lost = np.flatnonzero(p.argmax(1) == y)[:12]
    p3[lost] = np.eye(8)[(y[lost] + 1) % 8]
    one_sided = paired_affect_diff(y, p, p3, n_boot=300)["expression_accuracy"]
    ci_a = affect_metrics_ci(y, p, n_boot=300)["expression_accuracy"]
    ci_b = affect_metrics_ci(y, p3, n_boot=300)["expression_accuracy"]
    assert indistinguishable((ci_a["low"], ci_a["high"]), (ci_b["low"], ci_b["high"])) is True
    assert one_sided["diff"] > 0 and one_sided["distinguishable"] is True


def test_generic_paired_diff_matches_vectorised() -> None:
    y, p, v, vp, _, _ = _data(200, seed=9)
    _, p2, _, vp2, _, _ = _data(200, seed=10)
    vec = paired_affect_diff(y, p, p2, v, vp, vp2, n_boot=150, seed=2)

    def acc(t: np.ndarray, q: np.ndarray) -> float:
        return float(np.mean(t == q.argmax(1)))

    gen = paired_bootstrap_diff(acc, [y, p], [y, p2], n_boot=150, seed=2)
    for key in ("a", "b", "diff", "low", "high", "distinguishable"):
        assert gen[key] == pytest.approx(vec["expression_accuracy"][key]), key


def test_indistinguishable_overlap_rule() -> None:
    assert indistinguishable((0.5, 0.6), (0.55, 0.7)) is True
    assert indistinguishable((0.5, 0.6), (0.61, 0.7)) is False
    assert indistinguishable((None, None), (0.1, 0.2)) is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_boot": 0}, "n_boot"), ({"alpha": 1.5}, "alpha")],
)
def test_bootstrap_argument_errors(kwargs: dict, match: str) -> None:
    data = _data(20)
    with pytest.raises(AffectlabError, match=match):
        affect_metrics_ci(*data, **kwargs)
    with pytest.raises(AffectlabError, match=match):
        bootstrap_ci(lambda a: 0.0, data[0], **kwargs)


def test_bootstrap_shape_errors() -> None:
    with pytest.raises(AffectlabError, match="first dimension"):
        bootstrap_ci(lambda a, b: 0.0, np.zeros(3), np.zeros(4))
    with pytest.raises(AffectlabError, match="empty"):
        bootstrap_ci(lambda a: 0.0, np.zeros(0))
    y, p, _, _, _, _ = _data(20)
    with pytest.raises(AffectlabError, match="same shape"):
        paired_affect_diff(y, p, p[:, :7] / p[:, :7].sum(1, keepdims=True))
    with pytest.raises(AffectlabError, match="finite"):
        affect_metrics_ci(None, None, np.zeros(3), np.array([0.0, np.nan, 0.1]))
