"""The CLI over the new formats: synth --layout FORMAT, validate with its label map, --label-mode."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from affectlab.cli import app


def test_synth_and_validate_each_format(tmp_path: Path) -> None:
    runner = CliRunner()
    for fmt, needles in (
        ("fer2013", ("label map: FER2013", "bad_pixels", "expected 2304 pixel values")),
        ("ferplus", ("label map: FER+", "no_face", "item skipped (no_face)")),
        ("rafdb", ("label map: RAF-DB", "missing_image", "│ 4    │ Happiness")),
        ("expw", ("label map: ExpW", "box_outside_image", "bad_box")),
    ):
        out = tmp_path / fmt
        result = runner.invoke(
            app, ["synth", str(out), "--layout", fmt, "--per-split", "5", "--size", "48", "--traps"]
        )
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["validate", str(out), "--workers", "0"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        for needle in needles:
            assert needle in result.output, (fmt, needle)
    result = runner.invoke(app, ["validate", str(tmp_path / "ferplus"), "--label-mode", "votes"])
    assert result.exit_code != 0 and "label mode must be one of" in str(result.exception)
    result = runner.invoke(
        app, ["validate", str(tmp_path / "ferplus"), "--label-mode", "plurality", "--workers", "0"]
    )
    assert result.exit_code == 0 and "label_tie" in result.output
