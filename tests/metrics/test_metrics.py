"""affectlab.metrics against scikit-learn, SciPy, the krippendorff package and direct formulas."""

from __future__ import annotations

import json
import math
import warnings

import krippendorff
import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn import metrics as skm

from affectlab.errors import AffectlabError
from affectlab.labels import class_names
from affectlab.metrics import affect_metrics, classification_metrics, regression_metrics

NAMES = list(class_names(8))
SEEDS = [0, 1, 2, 3, 4]


def _probs(rng: np.random.Generator, y: np.ndarray, c: int, signal: float = 1.0, ties: bool = False):
    """Return (N, C) probabilities that lean toward y; with ties, scores come from a few discrete levels."""
    if ties:
        raw = rng.integers(0, 4, size=(y.size, c)).astype(float) + 0.01
        raw[np.arange(y.size), y] += rng.integers(0, 3, size=y.size)
        return raw / raw.sum(axis=1, keepdims=True)
    logits = rng.normal(size=(y.size, c))
    logits[np.arange(y.size), y] += signal
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def _imbalanced_labels(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    """Return labels with AffectNet-like imbalance (one class dominant, one rare)."""
    weights = rng.dirichlet(np.ones(c) * 0.7)
    return rng.choice(c, size=n, p=weights)


def _check_against_sklearn(y: np.ndarray, p: np.ndarray) -> None:
    """Compare every classification metric with scikit-learn and krippendorff."""
    c = p.shape[1]
    names = NAMES[:c] if c <= 8 else None
    m = classification_metrics(y, p, names)
    pred = p.argmax(axis=1)
    labels = np.arange(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
        assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
        assert m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
        assert m["f1_weighted"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
        assert m["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(y, pred))
        prec, rec, f1, sup = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    ref_alpha = krippendorff.alpha(reliability_data=np.vstack([y, pred]), level_of_measurement="nominal")
    assert m["krippendorff_alpha"] == pytest.approx(ref_alpha)
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=labels).tolist()
    aucs, aps = [], []
    for k, name in enumerate(m["class_names"]):
        row = m["per_class"][name]
        assert row["support"] == sup[k]
        assert (row["precision"] or 0.0) == pytest.approx(prec[k])
        assert (row["recall"] or 0.0) == pytest.approx(rec[k])
        assert (row["f1"] or 0.0) == pytest.approx(f1[k])
        if 0 < sup[k] < y.size:
            auc = skm.roc_auc_score(y == k, p[:, k])
            ap = skm.average_precision_score(y == k, p[:, k])
            assert row["auc_roc"] == pytest.approx(auc)
            assert row["auc_pr"] == pytest.approx(ap)
            aucs.append(auc)
            aps.append(ap)
    assert m["auc_roc"] == pytest.approx(np.mean(aucs))
    assert m["auc_pr"] == pytest.approx(np.mean(aps))


@pytest.mark.parametrize("seed", SEEDS)
def test_classification_matches_references_on_random_inputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 8, size=500)
    _check_against_sklearn(y, _probs(rng, y, 8, signal=1.0))


@pytest.mark.parametrize("seed", SEEDS)
def test_classification_matches_references_imbalanced_with_ties(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    y = _imbalanced_labels(rng, 400, 8)
    _check_against_sklearn(y, _probs(rng, y, 8, ties=True))


@pytest.mark.parametrize("c", [2, 3, 7])
def test_classification_other_class_counts(c: int) -> None:
    rng = np.random.default_rng(c)
    y = _imbalanced_labels(rng, 300, c)
    _check_against_sklearn(y, _probs(rng, y, c, signal=0.5))


def test_sklearn_multiclass_ovr_macro_matches_when_all_classes_present() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 8, size=800)
    p = _probs(rng, y, 8)
    m = classification_metrics(y, p)
    assert m["auc_roc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    onehot = np.eye(8)[y]
    assert m["auc_pr"] == pytest.approx(skm.average_precision_score(onehot, p, average="macro"))


def test_output_is_json_serialisable_and_complete() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 8, size=100)
    m = classification_metrics(y, _probs(rng, y, 8), NAMES)
    json.dumps(m, allow_nan=False)
    for key in (
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "f1_weighted",
        "cohen_kappa",
        "krippendorff_alpha",
        "auc_roc",
        "auc_pr",
        "per_class",
        "confusion_matrix",
        "undefined",
        "n",
    ):
        assert key in m
    assert list(m["per_class"]) == NAMES
    assert set(m["per_class"]["happy"]) == {"precision", "recall", "f1", "support", "auc_roc", "auc_pr"}


def test_class_absent_from_y_true_is_left_out_and_reported() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 7, size=300)  # no 'contempt' (index 7)
    p = _probs(rng, y, 8)
    p[:5, 7] += 5.0  # and a few predicted as contempt
    p /= p.sum(axis=1, keepdims=True)
    m = classification_metrics(y, p, NAMES)
    contempt = m["per_class"]["contempt"]
    assert contempt["support"] == 0
    assert contempt["auc_roc"] is None and contempt["auc_pr"] is None and contempt["recall"] is None
    assert contempt["f1"] == 0.0  # predicted but never true: F1 = 0, defined
    assert "contempt" in m["undefined"]["auc_roc"] and "absent from y_true" in m["undefined"]["auc_roc"]
    assert "per_class.contempt.auc_roc" in m["undefined"]
    expected = np.mean([skm.roc_auc_score(y == k, p[:, k]) for k in range(7)])
    assert m["auc_roc"] == pytest.approx(expected)
    _check_against_sklearn(y, p)


def test_class_absent_from_labels_and_predictions_is_left_out_of_f1_macro() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 7, size=300)
    p = _probs(rng, y, 8, signal=2.0)
    p[:, 7] = 0.0
    p /= p.sum(axis=1, keepdims=True)
    m = classification_metrics(y, p, NAMES)
    assert m["per_class"]["contempt"]["f1"] is None
    assert m["per_class"]["contempt"]["precision"] is None
    assert "per_class.contempt.f1" in m["undefined"]
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, p.argmax(1), average="macro"))


def test_perfect_predictions() -> None:
    y = np.repeat(np.arange(8), 10)
    m = classification_metrics(y, np.eye(8)[y], NAMES)
    for key in (
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "f1_weighted",
        "cohen_kappa",
        "krippendorff_alpha",
        "auc_roc",
        "auc_pr",
    ):
        assert m[key] == pytest.approx(1.0), key
    assert m["undefined"] == {}


def test_constant_predictions_classification() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 8, size=200)
    p = np.full((200, 8), 1 / 8)  # every score tied: argmax is class 0, AUC 0.5
    m = classification_metrics(y, p, NAMES)
    assert m["cohen_kappa"] == pytest.approx(0.0)
    assert m["auc_roc"] == pytest.approx(0.5)
    assert m["per_class"]["happy"]["precision"] is None
    _check_against_sklearn(y, p)


def test_single_class_everywhere_leaves_agreement_undefined() -> None:
    y = np.zeros(10, dtype=int)
    m = classification_metrics(y, np.eye(3)[y])
    assert m["accuracy"] == 1.0
    assert m["cohen_kappa"] is None and "cohen_kappa" in m["undefined"]
    assert m["krippendorff_alpha"] is None and "krippendorff_alpha" in m["undefined"]
    assert m["auc_roc"] is None  # no negatives for class 0, no positives for the others
    json.dumps(m, allow_nan=False)


def test_hard_labels_give_one_roc_point() -> None:
    """The original study's mistake: AUC from one-hot predictions equals the binary balanced accuracy."""
    rng = np.random.default_rng(6)
    y = rng.integers(0, 8, size=400)
    p = _probs(rng, y, 8)
    hard = np.eye(8)[p.argmax(1)]
    soft, from_hard = classification_metrics(y, p), classification_metrics(y, hard)
    pred = p.argmax(1)
    k = 1
    tpr = np.mean(pred[y == k] == k)
    fpr = np.mean(pred[y != k] == k)
    assert from_hard["per_class"]["class_1"]["auc_roc"] == pytest.approx((1 + tpr - fpr) / 2)
    assert soft["auc_roc"] != pytest.approx(from_hard["auc_roc"])


def test_missing_expression_labels_are_skipped() -> None:
    rng = np.random.default_rng(8)
    y = rng.integers(0, 8, size=100)
    p = _probs(rng, y, 8)
    y_missing = y.copy()
    y_missing[::4] = -1
    m = classification_metrics(y_missing, p)
    ref = classification_metrics(y[y_missing >= 0], p[y_missing >= 0])
    assert m["n"] == 75 and m["n_missing"] == 25
    assert m["accuracy"] == ref["accuracy"] and m["auc_roc"] == ref["auc_roc"]


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        (np.array([], dtype=int), np.zeros((0, 3)), "no labelled samples"),
        (np.array([-1, -1]), np.full((2, 3), 1 / 3), "no labelled samples"),
        (np.array([0, 1]), np.full((3, 3), 1 / 3), "must match"),
        (np.array([[0, 1]]), np.full((2, 3), 1 / 3), "1-D"),
        (np.array([0, 1]), np.full(3, 1 / 3), "2-D"),
        (np.array([0, 3]), np.full((2, 3), 1 / 3), "outside"),
        (np.array([0, -2]), np.full((2, 3), 1 / 3), "outside"),
        (np.array([0, 1]), np.array([[0.5, np.nan, 0.5], [0.2, 0.3, 0.5]]), "NaN"),
        (np.array([0.0, np.nan]), np.full((2, 3), 1 / 3), "NaN"),
        (np.array([0.5, 1.0]), np.full((2, 3), 1 / 3), "integer"),
        (np.array([0, 1]), np.array([[2.0, -1.0, 0.5], [1.0, 3.0, 0.5]]), "softmax"),
        (np.array([0, 1]), np.array([[0.0], [1.0]]), "at least 2"),
    ],
)
def test_classification_input_errors(y: np.ndarray, p: np.ndarray, match: str) -> None:
    with pytest.raises(AffectlabError, match=match):
        classification_metrics(y, p)


def test_class_names_count_must_match() -> None:
    with pytest.raises(AffectlabError, match="class names"):
        classification_metrics(np.array([0, 1]), np.full((2, 8), 1 / 8), NAMES[:7])


# ------------------------------------------------------------------------------------------ regression
def _ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's CCC written out with population moments."""
    mx, my = x.mean(), y.mean()
    cov = np.mean((x - mx) * (y - my))
    return 2 * cov / (np.mean((x - mx) ** 2) + np.mean((y - my) ** 2) + (mx - my) ** 2)


def _sagr(x: np.ndarray, y: np.ndarray) -> float:
    """AffectNet's SAGR: the fraction of samples whose signs agree (sign(0) = 0)."""
    agree = [(a > 0 and b > 0) or (a < 0 and b < 0) or (a == 0 and b == 0) for a, b in zip(x, y, strict=True)]
    return float(np.mean(agree))


@pytest.mark.parametrize("seed", SEEDS)
def test_regression_matches_references(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.uniform(-1, 1, size=300)
    p = np.clip(0.6 * y + rng.normal(0.1, 0.3, size=300), -1, 1)
    p[:5] = 0.0  # exact zeros exercise the sign rule
    m = regression_metrics(y, p)
    assert m["n"] == 300
    assert m["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(y, p)))
    assert m["corr"] == pytest.approx(pearsonr(y, p).statistic)
    assert m["ccc"] == pytest.approx(_ccc(y, p))
    assert m["sagr"] == pytest.approx(_sagr(y, p))
    json.dumps(m, allow_nan=False)


def test_regression_perfect() -> None:
    y = np.linspace(-1, 1, 21)
    m = regression_metrics(y, y.copy())
    assert m["rmse"] == 0.0 and m["corr"] == pytest.approx(1.0) and m["ccc"] == pytest.approx(1.0)
    assert m["sagr"] == 1.0 and m["undefined"] == {}


def test_constant_predictions_corr_undefined_ccc_defined() -> None:
    rng = np.random.default_rng(1)
    y = rng.uniform(-1, 1, size=100)
    m = regression_metrics(y, np.full(100, 0.2))
    assert m["corr"] is None and "y_pred constant" in m["undefined"]["corr"]
    assert m["ccc"] == 0.0
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((y - 0.2) ** 2)))
    json.dumps(m, allow_nan=False)


def test_both_constant() -> None:
    equal = regression_metrics(np.full(5, 0.3), np.full(5, 0.3))
    assert equal["ccc"] is None and "ccc" in equal["undefined"] and equal["rmse"] == 0.0
    differ = regression_metrics(np.full(5, 0.3), np.full(5, -0.1))
    assert differ["ccc"] == 0.0 and differ["corr"] is None and differ["sagr"] == 0.0


def test_regression_skips_missing_labels() -> None:
    rng = np.random.default_rng(2)
    y = rng.uniform(-1, 1, size=50)
    p = rng.uniform(-1, 1, size=50)
    y_missing = y.copy()
    y_missing[:10] = np.nan
    m = regression_metrics(y_missing, p)
    assert m["n"] == 40 and m["n_missing"] == 10
    assert m["ccc"] == pytest.approx(_ccc(y[10:], p[10:]))


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        (np.array([]), np.array([]), "no labelled samples"),
        (np.array([np.nan, np.nan]), np.array([0.1, 0.2]), "no labelled samples"),
        (np.array([0.1, 0.2]), np.array([0.1]), "differ in length"),
        (np.array([0.1, 0.2]), np.array([0.1, np.nan]), "y_pred contains NaN"),
        (np.array([0.1, np.inf]), np.array([0.1, 0.2]), "inf"),
        (np.zeros((2, 2)), np.zeros((2, 2)), "1-D"),
    ],
)
def test_regression_input_errors(y: np.ndarray, p: np.ndarray, match: str) -> None:
    with pytest.raises(AffectlabError, match=match):
        regression_metrics(y, p)


# ------------------------------------------------------------------------------------------ multi-task
def test_affect_metrics_flat_keys_and_masking() -> None:
    rng = np.random.default_rng(9)
    n = 200
    y = rng.integers(0, 8, size=n)
    p = _probs(rng, y, 8)
    v, a = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    vp, ap = np.clip(v + rng.normal(0, 0.3, n), -1, 1), np.clip(a + rng.normal(0, 0.3, n), -1, 1)
    y[:20] = -1
    v[10:40] = np.nan
    out = affect_metrics(y, p, v, vp, a, ap, NAMES)
    json.dumps(out, allow_nan=False)
    assert out["expression_n"] == 180 and out["valence_n"] == 170 and out["arousal_n"] == 200
    assert out["expression_accuracy"] == classification_metrics(y[20:], p[20:])["accuracy"]
    keep = ~np.isnan(v)
    assert out["valence_ccc"] == pytest.approx(_ccc(v[keep], vp[keep]))
    assert out["arousal_rmse"] == pytest.approx(np.sqrt(np.mean((a - ap) ** 2)))
    assert list(out["expression_per_class"]) == NAMES
    assert len(out["expression_confusion_matrix"]) == 8
    for key in (
        "expression_f1_macro",
        "expression_krippendorff_alpha",
        "expression_auc_pr",
        "valence_sagr",
        "arousal_corr",
    ):
        assert key in out


def test_affect_metrics_task_without_labels_and_constant_prediction() -> None:
    y = np.array([0, 1, 2, 1])
    p = np.eye(3)[y]
    out = affect_metrics(y, p, np.full(4, np.nan), np.zeros(4), np.array([0.1, -0.2, 0.3, 0.0]), np.zeros(4))
    assert out["valence_ccc"] is None and out["valence_n"] == 0 and "valence" in out["undefined"]
    assert out["arousal_corr"] is None and "arousal_corr" in out["undefined"]
    assert out["arousal_ccc"] == 0.0
    only_expression = affect_metrics(y, p)
    assert "valence_ccc" not in only_expression and only_expression["expression_accuracy"] == 1.0
    with pytest.raises(AffectlabError, match="together"):
        affect_metrics(y, p, np.zeros(4))
