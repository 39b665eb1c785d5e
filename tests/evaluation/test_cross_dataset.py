"""An AffectNet-taxonomy model evaluated on RAF-DB / FER2013 fixtures, and several datasets side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from affectlab.data.synth_formats import generate_format
from affectlab.evaluation.cross_dataset import compare_datasets, parse_dataset
from affectlab.evaluation.evaluate import evaluate
from affectlab.labels import AFFECTNET_CLASSES, AFFECTNET_CLASSES_7
from affectlab.reports.cross_dataset_report import datasets_text
from affectlab.reports.published import load_published, official_reference


@pytest.fixture(scope="module")
def raf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_format(tmp_path_factory.mktemp("raf") / "raf", "rafdb", per_split=14, size=48)


def test_8_class_model_on_rafdb_is_scored_on_the_7_shared_classes(
    raf: Path, tmp_path: Path, doubles: Any
) -> None:
    import torch

    torch.manual_seed(0)
    pair = (doubles.TinyNet(), doubles.make_info("tinynet"))
    drop = evaluate(pair, raf, "test", out=tmp_path / "drop", n_boot=0, progress=False)
    assert drop.predictions.class_names == list(AFFECTNET_CLASSES_7)
    np.testing.assert_allclose(drop.predictions.probs.sum(axis=1), 1.0, atol=1e-5)
    assert drop.metrics["expression_n"] == 14
    assert drop.label_map["model_only"] == ["contempt"] and drop.label_map["dataset"] == "RAF-DB (basic)"
    record = json.loads(drop.metrics_path.read_text())
    assert record["data"]["label_map"]["classes"] == list(AFFECTNET_CLASSES_7)
    text = drop.report_md.read_text()
    assert "## Label map" in text and "contempt: the model predicts it" in text
    assert "| 4 | Happiness | happy |" in text  # the dataset's own code, printed with its mapping
    assert "synthetic" in drop.official_reason or "fixture" in drop.official_reason
    column = evaluate(pair, raf, "test", out=tmp_path / "col", n_boot=0, progress=False, unshared="column")
    assert column.predictions.class_names == list(AFFECTNET_CLASSES)
    # scoring the same predictions: 'drop' renormalises over 7, so its argmax ignores contempt
    raw = column.predictions.probs
    expected = raw[:, :7] / raw[:, :7].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(drop.predictions.probs, expected, atol=1e-5)
    assert column.metrics["expression_per_class"]["contempt"]["support"] == 0


def test_compare_puts_one_model_on_several_datasets_side_by_side(
    raf: Path, tmp_path: Path, doubles: Any
) -> None:
    fer = generate_format(tmp_path / "fer", "fer2013", per_split=8)
    pair = (doubles.TinyNet(), doubles.make_info("tinynet"))
    path = compare_datasets(pair, [raf, f"{fer}@private_test"], tmp_path / "cross", n_boot=0, progress=False)
    record = json.loads(path.read_text())
    assert [(r["dataset"], r["split"]) for r in record["datasets"]] == [
        ("raf", "test"),
        ("fer", "private_test"),
    ]
    assert all(r["classes"] == list(AFFECTNET_CLASSES_7) for r in record["datasets"])
    assert record["datasets"][1]["values"]["expression_n"] == 8
    text = datasets_text(path)
    assert "raf (test)" in text and "fer (private_test)" in text
    md = (tmp_path / "cross" / "report" / "report.md").read_text()
    assert "## raf (test)" in md and "Happiness" in md and "Angry" in md
    assert (tmp_path / "cross" / "report" / "report.html").is_file()
    assert parse_dataset("a/b@test") == (Path("a/b"), "test") and parse_dataset("a/b") == (Path("a/b"), None)


def test_published_rows_only_beside_the_real_official_split(tmp_path: Path, raf: Path) -> None:
    raf_rows = load_published("rafdb")
    assert raf_rows and all(r["split"] == "test" and r["source"] and r["protocol"] for r in raf_rows)
    assert all(r["dataset"] == "affectnet" for r in load_published())
    real = tmp_path / "real"
    real.mkdir()
    (real / "basic").symlink_to(raf / "basic")  # the same layout without synth.json: taken as the real RAF-DB
    seven = list(AFFECTNET_CLASSES_7)
    assert official_reference(real, "test", seven)[0] == "rafdb"
    assert official_reference(real, "train", seven)[0] is None
    assert official_reference(real, "test", list(AFFECTNET_CLASSES))[0] is None  # 'column' scoring: 8 classes
    key, why = official_reference(raf, "test", seven)
    assert key is None and "synth.json" in why
    store = tmp_path / "store"
    store.mkdir()
    manifest = {
        "format": "affectlab-store",
        "source": {"path": str(tmp_path / "gone"), "layout": "rafdb"},
        "splits": {"test": {"count": 40}},
    }
    (store / "manifest.json").write_text(json.dumps(manifest))
    assert official_reference(store, "test", seven)[0] is None
    manifest["splits"]["test"]["count"] = 3068
    (store / "manifest.json").write_text(json.dumps(manifest))
    assert official_reference(store, "test", seven)[0] == "rafdb"
    fer = tmp_path / "fer"
    fer.mkdir()
    (fer / "fer2013.csv").write_text("emotion,pixels,Usage\n")
    assert official_reference(fer, "public_test", seven)[0] == "fer2013"  # the published row's split
    assert official_reference(fer, "test", seven)[0] is None
