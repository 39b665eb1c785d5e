"""Cross-taxonomy scoring by name: shared classes, label re-indexing, drop vs column, hand-computed."""

from __future__ import annotations

import numpy as np
import pytest

from affectlab.errors import AffectlabError
from affectlab.evaluation.label_maps import map_labels, plan_mapping, restrict, shared_classes
from affectlab.labels import AFFECTNET_CLASSES, AFFECTNET_CLASSES_7

RAF_ORDER = ["surprise", "fear", "disgust", "happy", "sad", "anger", "neutral"]


def test_shared_classes_by_name_in_affectlab_order() -> None:
    assert shared_classes(AFFECTNET_CLASSES, RAF_ORDER) == AFFECTNET_CLASSES_7
    assert shared_classes(["Happiness", "Angry"], ["anger", "joy", "sad"]) == ("happy", "anger")


def test_map_labels_by_name() -> None:
    # RAF-DB-ordered labels (3 = happy, 6 = neutral, 0 = surprise) into affectlab's order
    y = map_labels(np.array([3, 6, 0, -1]), RAF_ORDER, AFFECTNET_CLASSES)
    assert y.tolist() == [1, 0, 3, -1]
    assert map_labels(np.array([7, 1]), AFFECTNET_CLASSES, AFFECTNET_CLASSES_7).tolist() == [-1, 1]
    with pytest.raises(AffectlabError, match="out of range"):
        map_labels(np.array([9]), AFFECTNET_CLASSES, AFFECTNET_CLASSES)


def test_drop_renormalises_over_the_shared_classes_by_hand() -> None:
    mapping = plan_mapping(AFFECTNET_CLASSES, AFFECTNET_CLASSES_7, "drop")
    assert mapping.classes == AFFECTNET_CLASSES_7 and mapping.model_only == ("contempt",)
    probs = np.array([[0.1, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.8], [0.5, 0.25, 0.25, 0, 0, 0, 0, 0.0]])
    out, labels, dropped = restrict(probs, np.array([1, 0]), AFFECTNET_CLASSES, mapping)
    # contempt (0.8) removed: 0.1 / 0.2 = 0.5 each for neutral and happy
    np.testing.assert_allclose(out[0], [0.5, 0.5, 0, 0, 0, 0, 0], atol=1e-7)
    np.testing.assert_allclose(out[1], [0.5, 0.25, 0.25, 0, 0, 0, 0], atol=1e-7)
    assert labels.tolist() == [1, 0] and dropped == {}
    assert any(
        "contempt: the model predicts it" in line and "renormalised" in line for line in mapping.lines()
    )


def test_column_keeps_model_only_and_data_only_classes() -> None:
    model = ["neutral", "happy", "sad"]
    data = ["neutral", "happy", "anger"]
    mapping = plan_mapping(model, data, "column")
    assert mapping.classes == ("neutral", "happy", "sad", "anger")
    probs = np.array([[0.2, 0.3, 0.5]])
    out, labels, dropped = restrict(probs, np.array([2]), data, mapping)  # labelled anger
    np.testing.assert_allclose(out, [[0.2, 0.3, 0.5, 0.0]])  # no renormalisation, anger never predicted
    assert labels.tolist() == [3] and dropped == {}
    drop = plan_mapping(model, data, "drop")
    out, labels, dropped = restrict(probs, np.array([2, 1]), data, drop)
    np.testing.assert_allclose(out, [[0.4, 0.6]])
    assert labels.tolist() == [-1, 1] and dropped == {"anger": 1}


def test_permuted_model_columns_are_reordered_by_name() -> None:
    mapping = plan_mapping(RAF_ORDER, AFFECTNET_CLASSES_7, "drop")
    assert mapping.classes == AFFECTNET_CLASSES_7
    probs = np.eye(7)[[3]]  # the model says its class 3 = happy
    out, _, _ = restrict(probs, np.array([1]), AFFECTNET_CLASSES_7, mapping)
    assert int(out.argmax()) == AFFECTNET_CLASSES.index("happy")
    assert any("model's own order" in line for line in mapping.lines())


def test_identity_changes_nothing_and_disjoint_is_refused() -> None:
    mapping = plan_mapping(AFFECTNET_CLASSES, AFFECTNET_CLASSES)
    assert mapping.identity
    probs = np.random.default_rng(0).dirichlet(np.ones(8), 5).astype(np.float32)
    out, labels, _ = restrict(probs, np.arange(5), AFFECTNET_CLASSES, mapping)
    np.testing.assert_array_equal(out, probs)
    assert labels.tolist() == list(range(5))
    with pytest.raises(AffectlabError, match="share no class"):
        plan_mapping(["happy"], ["sad"])
    with pytest.raises(AffectlabError, match="policy"):
        plan_mapping(AFFECTNET_CLASSES, AFFECTNET_CLASSES, "merge")
