"""`affectlab calibrate`: the temperature fit, the stored calibration, the guard, and evaluate's report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from affectlab.errors import AffectlabError
from affectlab.evaluation.calibrate import calibrate, calibration_facts, fit_temperature, uncalibrate
from affectlab.evaluation.evaluate import evaluate
from affectlab.inference.backends import softmax
from affectlab.metrics import negative_log_likelihood
from affectlab.models.info import read_info
from helpers import overconfident as oc


@pytest.fixture(scope="module")
def tiny() -> Iterator[None]:
    with oc.tiny_arch():
        yield


@pytest.fixture(scope="module")
def trained(tiny: None, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a deliberately over-confident model file (copied into each test's run folder)."""
    path = oc.train_overconfident(tmp_path_factory.mktemp("overconfident") / "run")
    return path.read_bytes()


@pytest.fixture()
def run(trained: bytes, tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(trained)
    return folder


def _calibrated_logits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z) and over-confident logits 3 z."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.0, size=(n, 8))
    y = (rng.random((n, 1)) > np.cumsum(softmax(z), axis=1)).sum(axis=1)
    return 3.0 * z, y


def test_temperature_scaling_lowers_held_out_nll_of_an_over_confident_model() -> None:
    logits, y = _calibrated_logits(6000, seed=0)
    fit, held = slice(0, 3000), slice(3000, None)
    t = fit_temperature(logits[fit], y[fit])
    assert t == pytest.approx(3.0, rel=0.1)  # the sharpening it undoes
    before = negative_log_likelihood(y[held], softmax(logits[held]))
    after = negative_log_likelihood(y[held], softmax(logits[held] / t))
    assert after < before - 0.3
    vector = fit_temperature(logits[fit], y[fit], method="vector")
    assert vector.shape == (8,) and np.all(np.abs(vector - 3.0) < 0.6)
    assert negative_log_likelihood(y[held], softmax(logits[held] / vector)) < before - 0.3
    # one temperature never changes the predicted class
    assert np.array_equal(softmax(logits / t).argmax(1), logits.argmax(1))


def test_uninformative_logits_are_refused() -> None:
    rng = np.random.default_rng(1)
    with pytest.raises(AffectlabError, match="no information"):
        fit_temperature(rng.normal(size=(500, 8)) * 5, rng.integers(0, 8, 500))
    with pytest.raises(AffectlabError, match="labelled"):
        fit_temperature(np.zeros((4, 8)), np.full(4, -1))


def test_calibrate_stores_the_temperature_keeps_the_original_and_lowers_nll(run: Path) -> None:
    weights = run / "model.safetensors"
    original = weights.read_bytes()
    result = calibrate(run, oc.splits(), "selection", n_boot=50)
    cal = result.calibration
    assert cal.method == "temperature" and cal.temperature > 1.5  # it was sharpened 4x
    report = result.record["report"]
    assert report["split"] == "val" and report["after"]["nll"] < report["before"]["nll"]
    assert report["after"]["accuracy"] == report["before"]["accuracy"]
    assert report["before"]["ci"]["ece"]["low"] is not None
    assert result.backup is not None and result.backup.read_bytes() == original
    stored = read_info(weights).calibration
    assert stored is not None and stored.temperature == pytest.approx(cal.temperature)
    assert stored.fitted_on["split"] == "selection" and stored.fitted_on["n"] > 100
    assert json.loads((run / "calibration.json").read_text())["calibration"]["method"] == "temperature"
    # the tensors are untouched
    from safetensors.numpy import load_file

    before, after = load_file(str(result.backup)), load_file(str(weights))
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    # calibrating again keeps the first, uncalibrated copy; --undo restores it byte for byte
    calibrate(run, oc.splits(), "selection", method="vector", n_boot=0)
    assert result.backup.read_bytes() == original
    uncalibrate(run)
    assert weights.read_bytes() == original and not result.backup.exists()
    with pytest.raises(AffectlabError, match="not calibrated"):
        uncalibrate(run)


def test_guard_refuses_the_reported_split_and_force_warns(
    run: Path, caplog: pytest.LogCaptureFixture
) -> None:
    original = (run / "model.safetensors").read_bytes()
    with pytest.raises(AffectlabError, match="refusing to calibrate on split 'val'.*--force"):
        calibrate(run, oc.splits(), "val")
    with pytest.raises(AffectlabError, match="refusing to calibrate on split 'selection'"):
        calibrate(run, oc.splits(), "selection", report_split="selection")
    assert (run / "model.safetensors").read_bytes() == original  # refused before anything was written
    other = {"val": oc.splits()["selection"]}  # another dataset's 'val' is held-out data
    held_out = calibrate(run, other, "val", report_data=oc.splits(), n_boot=0)
    assert not held_out.record["warnings"] and held_out.record["report"]["split"] == "val"
    assert "before" in held_out.record["report"]
    uncalibrate(run)
    result = calibrate(run, oc.splits(), "val", force=True, n_boot=0)
    assert "REPORTED SPLIT" in caplog.text and result.record["warnings"]
    assert result.calibration.fitted_on["forced"] is True
    assert "skipped" in result.record["report"]


def test_calibration_facts_flag_evaluating_on_the_fitted_split(run: Path, tmp_path: Path) -> None:
    calibrate(run, oc.splits(), "selection", n_boot=0)
    cal = read_info(run / "model.safetensors").calibration
    assert cal is not None
    cal.fitted_on["data"] = str(tmp_path / "store")
    loaded = SimpleNamespace(calibration=cal)
    y = np.array([0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    pred = SimpleNamespace(expression=y, probs=probs, raw_probs=probs)
    assert calibration_facts(loaded, pred, tmp_path / "store", "selection")["fitted_on_this_split"]
    assert not calibration_facts(loaded, pred, tmp_path / "store", "val")["fitted_on_this_split"]
    assert not calibration_facts(loaded, pred, tmp_path / "other", "selection")["fitted_on_this_split"]


def test_evaluate_applies_the_calibration_and_reports_before_and_after(run: Path, tmp_path: Path) -> None:
    calibrate(run, oc.splits(), "selection", coverage=0.8, n_boot=0)
    val = oc.splits()["val"]
    result = evaluate(run, val, "val", tmp_path / "eval", n_boot=100, progress=False)
    record = json.loads(result.metrics_path.read_text())
    facts = record["calibration"]
    cal = read_info(run / "model.safetensors").calibration
    assert cal is not None and facts["applied"]["temperature"] == pytest.approx(cal.temperature)
    pred = result.predictions
    assert np.allclose(pred.probs, softmax(pred.logits / cal.temperature), atol=1e-6)
    assert np.allclose(pred.raw_probs, softmax(pred.logits), atol=1e-6)
    assert record["metrics"]["expression_nll"] < facts["uncalibrated"]["nll"]
    for key in ("expression_ece", "expression_classwise_ece", "expression_nll", "expression_brier"):
        assert record["ci"][key]["low"] <= record["metrics"][key] <= record["ci"][key]["high"], key
    assert facts["abstention"]["threshold"] == pytest.approx(cal.uncertain_below)
    md = result.report_md.read_text()
    html = result.report_html.read_text()
    for text in ("Calibration and abstention", "reliability.png", "risk_coverage.png", "Saliency (Grad-CAM)"):
        assert text in md, text
    assert "saliency_correct.png" in md and md.count("data:image/png") == 0
    assert html.count("data:image/png;base64") >= 8 and "Uncalibrated" in html
    assert f"{record['metrics']['expression_ece']:.4f}" in md
    raw = evaluate(run, val, "val", tmp_path / "raw", n_boot=0, progress=False, calibrated=False)
    assert raw.calibration["applied"] is None and raw.calibration["available"] is True
    assert np.allclose(raw.predictions.probs, softmax(raw.predictions.logits), atol=1e-6)


def _folders(root: Path, splits: dict[str, object]) -> Path:
    """Write splits as a class-folders layout (train/<class>/k.png, val/<class>/k.png)."""
    from PIL import Image

    for name, split in splits.items():
        for k, (image, label) in enumerate(zip(split.images, split.expression, strict=True)):  # type: ignore[attr-defined]
            folder = root / name / split.class_names[int(label)]  # type: ignore[attr-defined]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{k}.png")
    return root


def test_cli_calibrate_evaluate_and_predict(run: Path, tmp_path: Path) -> None:
    from affectlab.cli import app

    parts = oc.splits(96)
    data = _folders(tmp_path / "faces", {"train": parts["selection"], "val": parts["val"]})
    runner = CliRunner()
    refused = runner.invoke(app, ["calibrate", str(run), "--data", str(data), "--split", "val"])
    assert refused.exit_code == 1 and "refusing to calibrate" in str(refused.exception)
    ok = runner.invoke(
        app, ["calibrate", str(run), "--data", str(data), "--split", "train", "--coverage", "0.7"]
    )
    assert ok.exit_code == 0, ok.output
    assert "calibrated test_tiny_cnn: temperature" in ok.output and "report split 'val'" in ok.output
    assert "uncertain below" in ok.output and "model.uncalibrated.safetensors" in ok.output
    out = tmp_path / "val.jsonl"
    explain = tmp_path / "explain"
    faces = data / "val" / "happy"
    args = ["predict", str(run), str(faces), "--no-detect", "--out", str(out), "--explain", str(explain)]
    predicted = runner.invoke(app, [*args, "-q", "--logits"])
    assert predicted.exit_code == 0, predicted.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    threshold = read_info(run / "model.safetensors").calibration.uncertain_below  # type: ignore[union-attr]
    assert rows and all("logit_happy" in r for r in rows)
    for r in rows:
        top = max(r[f"prob_{c}"] for c in parts["val"].class_names)
        assert r["uncertain"] == (top < threshold) and (r["expression"] == "uncertain") == r["uncertain"]
    assert len(list(explain.rglob("*_face0.png"))) == len(rows)
