"""Loading the served model and describing it for `GET /v1/model`."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_predictor(path: str | Path, threads: int | None = None, **options: Any) -> Any:
    """Load a Predictor for a run folder, weights or ONNX file and build its detector now (fail at start).

    `threads` is per inference (model and detector); see `affectlab.threads.threads_per_request`;
    `options` go to Predictor.load (calibrated, uncertain_below, keep_logits).
    """
    from affectlab.inference.options import make_predictor

    return make_predictor(path, threads=threads, **options)


def describe_model(predictor: Any) -> dict[str, Any]:
    """Describe the loaded model: architecture, classes, input size, preprocessing, detector, file hash."""
    artifact = predictor.artifact
    return {
        "architecture": artifact.info.arch,
        "classes": list(predictor.class_names),
        "input_size": predictor.preprocess.size,
        "preprocess": predictor.preprocess.to_dict(),
        "detector": predictor.detector.name,
        "device": predictor.device,
        "format": artifact.format,
        "file": artifact.path.name,
        "sha256": artifact.sha256,
        "size_bytes": artifact.path.stat().st_size,
        "calibration": predictor.calibration.to_dict() if predictor.calibration is not None else None,
        "uncertain_below": predictor.uncertain_below,
    }
