"""affectlab: train, compare and run multi-task facial affect models (expression, valence, arousal)."""

from __future__ import annotations

import importlib
from typing import Any

from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES, class_names

__version__ = "0.2.0"

#: Public names imported on first use, so `import affectlab` stays light (no torch until needed).
_LAZY: dict[str, str] = {
    "train": "affectlab.training",
    "evaluate": "affectlab.evaluation",
    "compare": "affectlab.evaluation",
    "Predictor": "affectlab.inference",
    "FaceResult": "affectlab.inference",
    "build_model": "affectlab.models",
    "load_weights": "affectlab.models",
    "export_onnx": "affectlab.inference.export",
    "open_model": "affectlab.models",
    "prepare": "affectlab.data",
    "open_split": "affectlab.data",
    "validate_dataset": "affectlab.data",
    "generate_synthetic": "affectlab.data.synth",
    "classification_metrics": "affectlab.metrics",
    "regression_metrics": "affectlab.metrics",
}
_RENAMED = {"generate_synthetic": "generate"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return getattr(module, _RENAMED.get(name, name))
    raise AttributeError(f"module 'affectlab' has no attribute {name!r}")


__all__ = ["AFFECTNET_CLASSES", "AffectlabError", "__version__", "class_names", *_LAZY]
