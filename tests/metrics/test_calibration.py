"""Calibration metrics (affectlab.metrics.calibration): hand-computed cases, torchmetrics and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import brier_score_loss, log_loss
from torchmetrics.classification import BinaryCalibrationError, MulticlassCalibrationError

from affectlab.errors import AffectlabError
from affectlab.metrics import (
    abstention_at,
    affect_metrics,
    affect_metrics_ci,
    brier_score,
    calibration_metrics,
    classwise_ece,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_bins,
    risk_coverage,
)
from affectlab.metrics.bootstrap import resample_indices
from affectlab.metrics.calibration import calibration_parts, calibration_stats


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _model(n: int, seed: int, classes: int = 8, sharpen: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z) (a calibrated model) and its probabilities sharpened by `sharpen`."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, size=(n, classes))
    p = _softmax(z)
    y = (rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    return y.astype(np.int64), _softmax(z * sharpen)


def _two_bin_case() -> tuple[np.ndarray, np.ndarray]:
    """4 faces at confidence 0.95 (3 right) and 6 at 0.65 (3 right), 3 classes."""
    probs, y = [], []
    for conf, right, count in ((0.95, 3, 4), (0.65, 3, 6)):
        rest = (1 - conf) / 2
        for k in range(count):
            probs.append([conf, rest, rest])
            y.append(0 if k < right else 1)
    return np.array(y), np.array(probs)


def test_ece_of_a_perfectly_calibrated_predictor_is_near_zero() -> None:
    y, p = _model(200_000, seed=0)
    assert expected_calibration_error(y, p) < 0.005
    assert classwise_ece(y, p)[0] < 0.005


def test_ece_of_a_known_over_confident_predictor_matches_the_hand_computed_value() -> None:
    y, p = _two_bin_case()
    # bins 14 (0.95) and 9 (0.65): 0.4 * |0.75 - 0.95| + 0.6 * |0.5 - 0.65| = 0.08 + 0.09
    assert expected_calibration_error(y, p) == pytest.approx(0.17, abs=1e-12)
    # NLL: 3 x -log 0.95, 1 x -log 0.025, 3 x -log 0.65, 3 x -log 0.175
    nll = (3 * -np.log(0.95) - np.log(0.025) + 3 * -np.log(0.65) + 3 * -np.log(0.175)) / 10
    assert negative_log_likelihood(y, p) == pytest.approx(nll, rel=1e-12)
    # Brier: right at .95: .05^2 + 2 x .025^2; wrong at .95: .95^2 + .975^2 + .025^2; likewise at .65
    brier = (
        3 * (0.05**2 + 2 * 0.025**2)
        + (0.95**2 + 0.975**2 + 0.025**2)
        + 3 * (0.35**2 + 2 * 0.175**2)
        + 3 * (0.65**2 + 0.825**2 + 0.175**2)
    ) / 10
    assert brier_score(y, p) == pytest.approx(brier, rel=1e-12)
    bins = reliability_bins(y, p)
    assert bins["count"][14] == 4 and bins["count"][9] == 6 and sum(bins["count"]) == 10
    assert bins["accuracy"][14] == pytest.approx(0.75) and bins["confidence"][9] == pytest.approx(0.65)
    assert bins["accuracy"][0] is None and len(bins["edges"]) == 16


def test_sharpened_probabilities_raise_ece_and_nll() -> None:
    y, calibrated = _model(20_000, seed=1)
    _, over = _model(20_000, seed=1, sharpen=3.0)
    assert expected_calibration_error(y, over) > expected_calibration_error(y, calibrated) + 0.1
    assert negative_log_likelihood(y, over) > negative_log_likelihood(y, calibrated)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ece_equals_torchmetrics(seed: int) -> None:
    y, p = _model(3000, seed=seed, sharpen=1.0 + seed)
    p = np.clip(p, 1e-6, 1 - 1e-6)  # keep away from exactly 1.0, the one place the two binnings differ
    p /= p.sum(axis=1, keepdims=True)
    tm = MulticlassCalibrationError(num_classes=8, n_bins=15, norm="l1")
    expected = float(tm(torch.from_numpy(p), torch.from_numpy(y)))
    assert expected_calibration_error(y, p) == pytest.approx(expected, abs=1e-5)
    per_class = classwise_ece(y, p)[1]
    for c in range(8):
        binary = BinaryCalibrationError(n_bins=15, norm="l1")
        want = float(binary(torch.from_numpy(p[:, c]), torch.from_numpy((y == c).astype(np.int64))))
        assert per_class[c] == pytest.approx(want, abs=1e-5), c


def test_nll_and_brier_equal_scikit_learn() -> None:
    y, p = _model(2000, seed=4, sharpen=2.0)
    assert negative_log_likelihood(y, p) == pytest.approx(log_loss(y, p, labels=range(8)), rel=1e-9)
    per_class = sum(brier_score_loss((y == c).astype(int), p[:, c]) for c in range(8))
    assert brier_score(y, p) == pytest.approx(per_class * 1.0, rel=1e-9)


def test_missing_labels_are_skipped_and_all_missing_is_an_error() -> None:
    y, p = _model(500, seed=5)
    y_missing = y.copy()
    y_missing[::3] = -1
    keep = y_missing >= 0
    assert expected_calibration_error(y_missing, p) == expected_calibration_error(y[keep], p[keep])
    with pytest.raises(AffectlabError, match="no labelled samples"):
        negative_log_likelihood(np.full(10, -1), p[:10])
    m = affect_metrics(np.full(10, -1), p[:10])
    assert m["expression_ece"] is None and m["expression_reliability"] is None


def test_affect_metrics_carries_calibration_keys() -> None:
    y, p = _model(800, seed=6)
    m = affect_metrics(y, p)
    cal = calibration_metrics(y, p)
    for key in ("ece", "classwise_ece", "nll", "brier", "aurc"):
        assert m[f"expression_{key}"] == cal[key]
    assert m["expression_per_class"]["class_3"]["ece"] == cal["classwise_ece_per_class"][3]
    assert m["expression_reliability"]["count"] == cal["reliability"]["count"]


def test_risk_coverage_by_hand() -> None:
    # confidences 0.9 (right), 0.8 (wrong), 0.7 (right), 0.6 (right)
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    y = np.array([0, 1, 1, 1])
    curve = risk_coverage(y, p, points=4)
    assert curve["coverage"] == [0.25, 0.5, 0.75, 1.0]
    assert curve["accuracy"] == pytest.approx([1.0, 0.5, 2 / 3, 0.75])
    assert curve["threshold"] == pytest.approx([0.9, 0.8, 0.7, 0.6])
    assert curve["aurc"] == pytest.approx((0 + 0.5 + 1 / 3 + 0.25) / 4)
    at = abstention_at(y, p, 0.75)
    assert (at["answered"], at["coverage"], at["accuracy_answered"]) == (2, 0.5, 0.5)
    assert abstention_at(y, p, 0.95)["accuracy_answered"] is None


def test_vectorised_calibration_resamples_equal_the_scalar_metrics() -> None:
    y, p = _model(300, seed=7, sharpen=2.0)
    idx = next(resample_indices(300, 6, seed=0))
    stats = calibration_stats(calibration_parts(p, y), idx)
    for row, one in enumerate(idx):
        assert stats["ece"][row] == pytest.approx(expected_calibration_error(y[one], p[one]))
        assert stats["classwise_ece"][row] == pytest.approx(classwise_ece(y[one], p[one])[0])
        assert stats["nll"][row] == pytest.approx(negative_log_likelihood(y[one], p[one]))
        assert stats["brier"][row] == pytest.approx(brier_score(y[one], p[one]))
    ci = affect_metrics_ci(y, p, n_boot=200)
    for key in ("ece", "classwise_ece", "nll", "brier"):
        rec = ci[f"expression_{key}"]
        assert rec["low"] <= rec["estimate"] <= rec["high"], key
    assert ci["expression_ece"]["estimate"] == pytest.approx(expected_calibration_error(y, p))
