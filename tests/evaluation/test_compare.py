"""`compare`: comparison.json rows and best marks, the headline table, GFLOPs, the published table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from affectlab.evaluation.compare import ROWS, compare
from affectlab.evaluation.cost import gflops_per_image, measure_cost
from affectlab.reports.compare_report import headline_table
from affectlab.reports.published import load_published


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory, doubles: Any) -> Path:
    import torch

    torch.manual_seed(0)
    a = (doubles.TinyNet(), doubles.make_info("tiny_a"))
    torch.manual_seed(1)
    b = (doubles.TinyNet(), doubles.make_info("tiny_b"))
    return compare(
        doubles.ArraySplit(n=64),
        runs=[a, b],
        out=tmp_path_factory.mktemp("cmp"),
        n_boot=100,
        quick=True,
        progress=False,
    )


def test_comparison_json_has_every_row_and_marks_the_best(comparison: Path) -> None:
    record = json.loads(comparison.read_text())
    names = [m["name"] for m in record["models"]]
    assert names == ["tiny_a", "tiny_b"]
    assert [r["key"] for r in record["rows"]] == [key for _, key, *_ in ROWS]
    for row in record["rows"]:
        assert set(row["values"]) == set(names)
        defined = {n: v for n, v in row["values"].items() if v is not None}
        if row["key"] == "epoch_seconds":
            assert not defined and row["best"] == []  # no run folders, so no training time
            continue
        assert defined, row["key"]
        pick = max if row["higher_is_better"] else min
        assert row["best"] and all(defined[n] == pick(defined.values()) for n in row["best"]), row["key"]
    assert "tiny_a|tiny_b" in record["pairwise"]
    assert record["models"][0]["cost"]["gflops"] > 0
    html = (comparison.parent / "report" / "report.html").read_text()
    assert 'class="best"' in html and "Model: tiny_a" in html and "Is the best really better?" in html
    md = (comparison.parent / "report" / "report.md").read_text()
    for title in ("## Classification", "## Valence and arousal", "## Cost and speed", "### Model: tiny_b"):
        assert title in md
    assert "★" in md


def test_headline_table_lists_every_model(comparison: Path) -> None:
    text = headline_table(comparison)
    assert "tiny_a" in text and "tiny_b" in text and "Accuracy" in text and "*" in text


def test_compare_needs_something(tmp_path: Path, doubles: Any) -> None:
    from affectlab.errors import AffectlabError

    with pytest.raises(AffectlabError, match="nothing to compare"):
        compare(doubles.ArraySplit(n=8), out=tmp_path)


def test_resnet18_gflops_at_224_is_about_1_8() -> None:
    import torchvision

    assert gflops_per_image(torchvision.models.resnet18(), 224) == pytest.approx(1.82, rel=0.05)


def test_affectlab_resnet18_gflops(doubles: Any) -> None:
    from affectlab.models import build_model

    cost = measure_cost(build_model("resnet18", num_classes=8), 224, timing=False)
    assert cost.gflops == pytest.approx(1.82, rel=0.05)
    assert 10e6 < cost.params < 13e6


def test_measure_cost_times_a_small_model(doubles: Any) -> None:
    cost = measure_cost(doubles.TinyNet(), 32, latency_runs=3, throughput_batch=4, throughput_runs=1)
    assert cost.latency_ms and cost.latency_ms > 0 and cost.throughput and cost.throughput > 0
    assert cost.params == sum(p.numel() for p in doubles.TinyNet().parameters())


def test_published_table_rows_have_sources() -> None:
    rows = load_published()
    assert len(rows) >= 4
    for row in rows:
        assert row["source"] and row["url"].startswith("https://") and row["protocol"] and row["checked"]
        assert row["accuracy"] is None or 0.5 < row["accuracy"] < 1.0
    methods = " ".join(r["method"] for r in rows)
    assert "DAN" in methods and "POSTER" in methods
