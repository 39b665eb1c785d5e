"""Inference: face detection, training-matched crops, and the Predictor API (PyTorch or ONNX Runtime)."""

from __future__ import annotations

from affectlab.inference.detect import Detection, Detector, create_detector, list_detectors, register_detector
from affectlab.inference.predictor import Predictor
from affectlab.inference.results import FaceResult, FrameResult, Summary, result_columns

__all__ = [
    "Detection",
    "Detector",
    "FaceResult",
    "FrameResult",
    "Predictor",
    "Summary",
    "create_detector",
    "list_detectors",
    "register_detector",
    "result_columns",
]
