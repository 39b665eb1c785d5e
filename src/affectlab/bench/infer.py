"""Inference benchmarks: PyTorch eager vs ONNX Runtime per architecture; predict on a video."""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from affectlab.bench.machine import physical_cores


def ort_session(path: Path, tuned: bool, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session: library defaults or tuned (all graph optimisations, sequential)."""
    from affectlab.models.onnx import onnx_session

    if tuned:
        return onnx_session(path, threads=threads or physical_cores())
    return onnx_session(path, optimize=False)


def export_model(arch: str, size: int, out: Path) -> tuple[torch.nn.Module, Path]:
    """Build an untrained `arch` at `size` px and export it with affectlab's ONNX exporter."""
    from affectlab.inference.export import export_onnx
    from affectlab.labels import AFFECTNET_CLASSES
    from affectlab.models import ModelInfo, build_model
    from affectlab.preprocessing import Preprocess

    torch.manual_seed(0)
    model = build_model(arch, num_classes=len(AFFECTNET_CLASSES)).eval()
    info = ModelInfo(arch, AFFECTNET_CLASSES, Preprocess(size=size))
    path = out / f"{arch}-{size}.onnx"
    if not path.is_file():
        export_onnx(model, path, info=info, check=False)
    return model, path


def _blocks(runners: dict[str, Callable[[], Any]], runs: int, repeats: int = 2) -> dict[str, float]:
    """Median seconds per call of each runner, timed in blocks of `runs` calls, blocks repeated in turn.

    Blocks rather than alternate calls: torch's and ONNX Runtime's thread pools spin after a call, and on
    few cores that spinning would slow the other runtime's next call.
    """
    times: dict[str, list[float]] = {name: [] for name in runners}
    per_block = max(1, -(-runs // repeats))
    for _ in range(repeats):
        for name, run in runners.items():
            run()  # warm-up
            for _ in range(per_block):
                started = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_inference(
    arch: str,
    size: int,
    workdir: Path,
    *,
    b1_runs: int = 30,
    b64_runs: int = 3,
    batch: int = 64,
    threads: int | None = None,
) -> dict[str, Any]:
    """Batch-1 median latency and batch-64 throughput: eager PyTorch vs ONNX Runtime (default and tuned)."""
    model, path = export_model(arch, size, workdir)
    sessions = {
        "ort_default": ort_session(path, tuned=False),
        "ort_tuned": ort_session(path, tuned=True, threads=threads),
    }
    input_name = sessions["ort_tuned"].get_inputs()[0].name
    rng = np.random.default_rng(0)
    result: dict[str, Any] = {
        "arch": arch,
        "size": size,
        "onnx": path.name,
        "ort_threads": threads or physical_cores(),
        "torch_threads": torch.get_num_threads(),
    }
    for n, runs, key in ((1, b1_runs, "batch1_latency_ms"), (batch, b64_runs, f"batch{batch}_images_per_s")):
        x = rng.standard_normal((n, 3, size, size), dtype=np.float32)
        xt = torch.from_numpy(x)

        def eager(xt: torch.Tensor = xt) -> Any:
            with torch.inference_mode():
                return model(xt)

        runners: dict[str, Callable[[], Any]] = {"eager": eager}
        for name, sess in sessions.items():
            runners[name] = functools.partial(sess.run, None, {input_name: x})
        medians = _blocks(runners, runs)
        if n == 1:
            result[key] = {k: v * 1000.0 for k, v in medians.items()}
            result["batch1_speedup"] = {k: medians["eager"] / v for k, v in medians.items() if k != "eager"}
        else:
            result[key] = {k: n / v for k, v in medians.items()}
            result[f"batch{batch}_speedup"] = {
                k: medians["eager"] / v for k, v in medians.items() if k != "eager"
            }
    return result


def make_video(
    path: Path, frames: int = 24, width: int = 640, height: int = 360, fps: float = 12.0, seed: int = 0
) -> Path:
    """Write a short MJPG video of two synthetic faces (the generator's renderer) drifting sideways."""
    import cv2

    from affectlab.data.synth import sample_va
    from affectlab.data.synth_classes import expression_for
    from affectlab.data.synth_render import render

    rng = np.random.default_rng(seed)
    half = width // 2
    faces = []
    for cls in (1, 3):
        valence, arousal = sample_va(cls, rng)
        faces.append(expression_for(cls, valence, arousal, rng))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    try:
        for i in range(frames):
            parts = []
            for k, expr in enumerate(faces):
                drift = (i / max(frames - 1, 1) - 0.5) * 0.3 * half
                center = (half / 2 + (drift if k == 0 else -drift), height / 2)
                frame_rng = np.random.default_rng([seed, k])
                parts.append(
                    render(expr, frame_rng, canvas=(half, height), face_px=0.42 * height, center=center).image
                )
            writer.write(cv2.cvtColor(np.hstack(parts), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def bench_video(
    onnx_path: Path,
    video: Path,
    *,
    detector: str = "retinaface",
    batch_size: int = 32,
    threads: int | None = None,
) -> dict[str, Any]:
    """The end-to-end `predict` pipeline (decode, detect, crop, ONNX Runtime) on a video."""
    from affectlab.inference import Predictor

    predictor = Predictor.from_onnx(onnx_path, detector=detector, batch_size=batch_size, threads=threads)
    next(iter(predictor.predict_video(video)))  # warm-up: detector and model sessions
    frames = faces = 0
    started = time.perf_counter()
    for result in predictor.predict_video(video):
        frames += 1
        faces += len(result.faces)
    seconds = time.perf_counter() - started
    return {
        "video": video.name,
        "detector": detector,
        "model": onnx_path.name,
        "frames": frames,
        "faces": faces,
        "seconds": seconds,
        "frames_per_s": frames / seconds,
        "faces_per_s": faces / seconds,
    }
