"""`evaluate`: metrics.json matches affectlab.metrics, TTA, every report section, embedded figures."""

from __future__ import annotations

import base64
import io
import json
import math
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from affectlab.errors import AffectlabError
from affectlab.evaluation.evaluate import evaluate
from affectlab.evaluation.predictions import Predictions
from affectlab.metrics import affect_metrics

SECTIONS = (
    "Metrics",
    "Published reference figures",
    "Confusion matrix",
    "Per-class report",
    "ROC and precision-recall curves",
    "Valence and arousal",
    "Example faces",
    "Training curves",
)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.images: list[str] = []
        self.external: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("h2", "h3"):
            self._in_heading = True
            self.headings.append("")
        if tag == "img":
            self.images.append(a.get("src") or "")
        if tag in ("link", "script") and (a.get("href") or a.get("src")):
            self.external.append(a.get("href") or a.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h2", "h3"):
            self._in_heading = False

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self.headings[-1] += data


def _fake_run(folder: Path) -> Path:
    logs = folder / "logs"
    logs.mkdir(parents=True)
    lines = ["epoch,step,train/loss_step,train/loss_epoch,val/loss,val/expression_accuracy,val/valence_ccc"]
    for e in range(3):
        lines.append(f"{e},{e * 10 + 5},{1.5 - e * 0.2},,,,")
        lines.append(f"{e},{e * 10 + 9},,{1.4 - e * 0.3},{1.6 - e * 0.2},{0.2 + e * 0.1},{0.1 * e}")
    (logs / "metrics.csv").write_text("\n".join(lines) + "\n")
    (folder / "run.json").write_text("{}")
    return folder


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory, doubles: Any) -> Any:
    import torch

    torch.manual_seed(0)
    tmp = tmp_path_factory.mktemp("eval")
    run = _fake_run(tmp / "run")
    return evaluate(
        (doubles.TinyNet(), doubles.make_info("tinynet")),
        doubles.ArraySplit(),
        out=tmp / "out",
        run_dir=run,
        n_boot=100,
        progress=False,
    )


def test_metrics_json_equals_affectlab_metrics(result: Any) -> None:
    record = json.loads(result.metrics_path.read_text())
    pred = Predictions.load(result.out / "predictions.npz")
    expected = affect_metrics(
        pred.expression,
        pred.probs,
        pred.valence,
        pred.pred_valence,
        pred.arousal,
        pred.pred_arousal,
        class_names=pred.class_names,
    )
    for key, value in expected.items():
        got = record["metrics"][key]
        if isinstance(value, float):
            assert math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-12), key
        else:
            assert got == json.loads(json.dumps(value)), key
    assert record["metrics"]["expression_n"] == int((pred.expression >= 0).sum())
    assert record["ci"]["expression_accuracy"]["low"] <= record["metrics"]["expression_accuracy"]
    assert record["data"]["official_validation"] is False


def test_report_html_has_every_section_and_decodable_png(result: Any) -> None:
    page = _Page()
    page.feed(result.report_html.read_text())
    for title in SECTIONS:
        assert title in page.headings, title
    assert not page.external, "report.html must not load external assets"
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    img = Image.open(io.BytesIO(base64.b64decode(page.images[0].split(",", 1)[1])))
    img.load()
    assert img.width > 100 and img.height > 100
    assert any("training_curves" in s for s in result.report_html.read_text().split('id="fig-')[1:])


def test_report_md_has_every_section_and_figure_files(result: Any) -> None:
    text = result.report_md.read_text()
    headings = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("## ")]
    for title in SECTIONS:
        assert title in headings, title
    for name in (
        "confusion_matrix.png",
        "roc_pr.png",
        "va_hexbin.png",
        "va_plane.png",
        "faces_correct.png",
        "training_curves.png",
        "per_class.png",
    ):
        assert f"figures/{name}" in text
        Image.open(result.report_md.parent / "figures" / name).load()
    assert "Not shown:" in text  # the published table, for in-memory data


def test_tta_flip_changes_nothing_on_flip_invariant_input(tmp_path: Path, doubles: Any) -> None:
    import torch

    torch.manual_seed(1)
    pair = (doubles.TinyNet(), doubles.make_info("tinynet"))
    split = doubles.ArraySplit(n=24, symmetric=True)
    plain = evaluate(pair, split, out=tmp_path / "a", n_boot=0, progress=False)
    flipped = evaluate(pair, split, out=tmp_path / "b", tta="flip", n_boot=0, progress=False)
    np.testing.assert_allclose(plain.predictions.probs, flipped.predictions.probs, atol=1e-6)
    np.testing.assert_allclose(plain.predictions.pred_valence, flipped.predictions.pred_valence, atol=1e-6)
    with pytest.raises(AffectlabError, match="tta"):
        evaluate(pair, split, out=tmp_path / "c", tta="rotate", n_boot=0, progress=False)


def test_class_names_must_match(tmp_path: Path, doubles: Any) -> None:
    names = ["happy", "neutral", "sad", "surprise", "fear", "disgust", "anger", "contempt"]
    with pytest.raises(AffectlabError, match="class names"):
        evaluate(
            (doubles.TinyNet(), doubles.make_info("tinynet", names=names)),
            doubles.ArraySplit(n=8),
            out=tmp_path,
            n_boot=0,
            progress=False,
        )


def test_official_validation_detection(tmp_path: Path) -> None:
    from affectlab.reports.published import official_validation

    src = tmp_path / "affectnet"
    src.mkdir()
    store = tmp_path / "store"
    store.mkdir()
    manifest = {
        "format": "affectlab-store",
        "source": {"path": str(src), "layout": "official"},
        "splits": {"val": {"count": 40}},
    }
    (store / "manifest.json").write_text(json.dumps(manifest))
    assert official_validation(store, "val", 8)[0] is True
    assert official_validation(store, "train", 8)[0] is False
    assert official_validation(store, "val", 7)[0] is False
    (src / "synth.json").write_text("{}")
    ok, why = official_validation(store, "val", 8)
    assert not ok and "synthetic" in why


def test_evaluate_saved_weights_file(tmp_path: Path, doubles: Any) -> None:
    from affectlab.models import build_model, save_weights

    model = build_model("resnet18", num_classes=8)
    path = tmp_path / "model.safetensors"
    save_weights(model, doubles.make_info("resnet18", size=32), path)
    res = evaluate(
        path, doubles.ArraySplit(n=16), out=tmp_path / "eval", n_boot=0, progress=False, batch_size=8
    )
    assert res.metrics["expression_n"] > 0 and res.report_html.is_file()


def test_evaluate_on_synthetic_layout_explains_missing_published_table(tmp_path: Path, doubles: Any) -> None:
    from affectlab.data.synth import generate

    data = generate(tmp_path / "synth", train=8, val=16, size=32, workers=1, progress=False)
    res = evaluate(
        (doubles.TinyNet(), doubles.make_info("tinynet")),
        data,
        out=tmp_path / "eval",
        n_boot=0,
        progress=False,
    )
    assert res.official_validation is False and "synthetic" in res.official_reason
    assert "synthetic" in res.report_md.read_text()
    assert len(res.predictions.index) == 16
