"""Training and inference benchmarks on tiny inputs return well-formed, positive results."""

from __future__ import annotations

from pathlib import Path

from affectlab.bench.infer import bench_inference, bench_video, export_model, make_video
from affectlab.bench.train import bench_train


def test_bench_train_resnet18(tiny_store: Path) -> None:
    row = bench_train("resnet18", tiny_store, batch_size=8, steps=1, rounds=1)
    assert row["arch"] == "resnet18" and row["size"] == 32
    assert row["end_to_end_images_per_s"] > 0 and row["model_only_images_per_s"] > 0
    assert row["ratio"] > 0
    assert set(row["share_of_end_to_end"]) == {"fetch", "prepare", "step"}
    assert 0 < row["data_path_share"] < 1 and row["ratio_direct"] == 1 - row["data_path_share"]


def test_bench_inference_and_video(tmp_path: Path) -> None:
    row = bench_inference("mobilenet_v2", 32, tmp_path, b1_runs=2, b64_runs=1, batch=4)
    assert set(row["batch1_latency_ms"]) == {"eager", "ort_default", "ort_tuned"}
    assert all(v > 0 for v in row["batch1_latency_ms"].values())
    assert all(v > 0 for v in row["batch4_images_per_s"].values())
    _, onnx_path = export_model("mobilenet_v2", 32, tmp_path)
    video = make_video(tmp_path / "v.avi", frames=3, width=320, height=180)
    result = bench_video(onnx_path, video)
    assert result["frames"] == 3 and result["frames_per_s"] > 0 and result["faces"] >= 0
