"""The tracking benchmark on a tiny clip: both modes run the predict path; recall, stages, ratio, rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectlab.bench.infer import export_model
from affectlab.bench.video_track import bench_clip, tracking_rows, tracking_targets


def test_bench_clip_small(tmp_path: Path) -> None:
    pytest.importorskip("skimage")
    from affectlab.bench.clips import interview, write_clip

    _, onnx_path = export_model("mobilenet_v2", 32, tmp_path)
    clip = write_clip(tmp_path / "i.avi", interview(640, 360), 8, (640, 360))
    result = bench_clip(onnx_path, clip, tmp_path, repeats=1, threads=1)
    for mode in ("per_frame", "tracked"):
        r = result[mode]
        assert r["recall_vs_truth"] == 1.0 and r["faces"] == 16
        assert set(r["ms_per_frame"]) == {"decode", "detect", "track", "crop", "model", "write"}
    assert result["tracked"]["tracks"] == 2 and result["per_frame"]["tracks"] == 0
    assert result["per_frame"]["ms_per_frame"]["track"] == 0.0
    assert result["tracked"]["recall_vs_per_frame"] == 1.0
    expected = result["tracked"]["frames_per_s"] / result["per_frame"]["frames_per_s"]
    assert result["speedup"] == pytest.approx(expected)
    results = {"video": {"clips": [result]}}
    assert len(tracking_rows(results)) == 2 and tracking_targets(results)[0]["measured"] == result["speedup"]
