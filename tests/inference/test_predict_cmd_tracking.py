"""`affectlab predict` on videos with tracking options: track ids, --smooth columns, --no-track, summaries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from affectlab.inference import Predictor
from affectlab.labels import AFFECTNET_CLASSES

typer_testing = pytest.importorskip("typer.testing")


@pytest.fixture()
def cli(monkeypatch: pytest.MonkeyPatch, standin_net):
    from affectlab.cli import app
    from affectlab.inference.backends import TorchBackend
    from affectlab.preprocessing import Preprocess

    def fake_load(path, device="cpu", threads=None, **kwargs):
        pre = Preprocess(size=64)
        return Predictor(TorchBackend(standin_net, pre, device), AFFECTNET_CLASSES, pre, **kwargs)

    monkeypatch.setattr(Predictor, "load", staticmethod(fake_load))
    runner = typer_testing.CliRunner()
    return lambda *args: runner.invoke(app, ["predict", "model.safetensors", *map(str, args)])


def test_video_rows_have_tracks_and_smoothed_values(cli, sample_video: Path, tmp_path: Path) -> None:
    out, summary, ann = tmp_path / "r.jsonl", tmp_path / "s.json", tmp_path / "ann"
    result = cli(
        sample_video, "--out", out, "--smooth", "4", "--summary-json", summary, "--annotate", ann, "-q"
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and {r["track"] for r in rows} == {1}
    assert rows[0]["smooth_valence"] == pytest.approx(rows[0]["valence"], abs=1e-6)  # first: no history
    w = 1 - 2.718281828459045 ** (-1 / 4)
    expected = rows[0]["smooth_valence"] + w * (rows[1]["valence"] - rows[0]["smooth_valence"])
    assert rows[1]["smooth_valence"] == pytest.approx(expected, abs=1e-5)
    assert "1 face track(s)" in result.output and "track 1: 0.00-0.50 s, 6/6 frames" in result.output
    data = json.loads(summary.read_text())
    assert data["tracks"][str(sample_video)][0]["frames_seen"] == 6 and "detect" in data["stages_s"]
    assert (ann / "clip_tracks.json").is_file() and (ann / "clip_va.png").is_file()


def test_no_track_gives_rows_without_ids(cli, sample_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    result = cli(sample_video, "--out", out, "--no-track", "--smooth", "4", "-q")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and all(r["track"] is None and r["smooth_valence"] is None for r in rows)


def test_bad_tracking_options(cli, sample_video: Path) -> None:
    from affectlab.errors import AffectlabError

    result = cli(sample_video, "--detect-every", "0")
    assert isinstance(result.exception, AffectlabError) and "detect_every" in str(result.exception)
    result = cli(sample_video, "--smooth", "-1")
    assert isinstance(result.exception, AffectlabError) and "smoothing" in str(result.exception)
