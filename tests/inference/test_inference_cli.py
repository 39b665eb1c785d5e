"""`affectlab predict` through Typer's CliRunner (the model loader swapped for the stand-in model)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer import testing as typer_testing

from affectlab.inference import Predictor
from affectlab.labels import AFFECTNET_CLASSES


@pytest.fixture()
def cli(monkeypatch: pytest.MonkeyPatch, standin_net):
    from affectlab.cli import app
    from affectlab.inference.backends import TorchBackend
    from affectlab.preprocessing import Preprocess

    def fake_load(path, device="cpu", threads=None, **kwargs):
        assert Path(path).name == "model.safetensors"
        pre = Preprocess(size=64)
        return Predictor(TorchBackend(standin_net, pre, device), AFFECTNET_CLASSES, pre, **kwargs)

    monkeypatch.setattr(Predictor, "load", staticmethod(fake_load))
    runner = typer_testing.CliRunner()
    return lambda *args: runner.invoke(app, ["predict", "model.safetensors", *map(str, args)])


def test_cli_predict_folder_to_csv_with_summary(cli, photo_folder: Path, tmp_path: Path) -> None:
    out, summary = tmp_path / "r.csv", tmp_path / "summary.json"
    result = cli(photo_folder, "--out", out, "--summary-json", summary, "--batch-size", "2", "-q")
    assert result.exit_code == 0, result.output
    assert "faces 1" in result.output and "no face 1" in result.output and "errors 1" in result.output
    assert "broken.jpg" in result.output
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["source"].endswith("astronaut.png")
    data = json.loads(summary.read_text())
    assert data["files"] == 3 and data["errors"][0]["source"].endswith("broken.jpg")


def test_cli_no_detect_video_jsonl_and_annotate(cli, sample_video: Path, tmp_path: Path) -> None:
    out, ann = tmp_path / "r.jsonl", tmp_path / "ann"
    result = cli(sample_video, "--no-detect", "--out", out, "--annotate", ann, "--stride", "3")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in rows] == [0, 3] and all(r["box_w"] == 512 for r in rows)
    assert (ann / "clip.mp4").is_file() and (ann / "clip_timeline.png").is_file()


def test_cli_user_errors(cli, tmp_path: Path) -> None:
    from affectlab.errors import AffectlabError

    result = cli()
    assert isinstance(result.exception, AffectlabError) and "--webcam" in str(result.exception)
    result = cli(tmp_path / "missing.jpg")
    assert isinstance(result.exception, AffectlabError) and "missing.jpg" in str(result.exception)
    result = cli(tmp_path, "--detector", "nope")
    assert isinstance(result.exception, AffectlabError) and "nope" in str(result.exception)


def test_cli_webcam_without_camera_is_a_clear_error(cli) -> None:
    from affectlab.errors import AffectlabError

    result = cli("--webcam", "7")
    assert isinstance(result.exception, AffectlabError) and "camera 7" in str(result.exception)
