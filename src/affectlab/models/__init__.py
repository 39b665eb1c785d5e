"""Multi-task models: the architecture registry, model files (open, load, save) and pretrained/legacy loading.

Names load on first use, so that opening an ONNX model or reading a file's info never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from affectlab._lazy import lazy_exports

if TYPE_CHECKING:
    from affectlab.models.artifacts import ModelArtifact, open_model, resolve_model_file
    from affectlab.models.info import VA_ACTIVATIONS, ModelInfo, read_info, sniff_format
    from affectlab.models.legacy import import_legacy_state_dict
    from affectlab.models.onnx import load_onnx_info, onnx_session
    from affectlab.models.pretrained import read_state_dict
    from affectlab.models.registry import (
        OUTPUTS,
        AffectModel,
        Backbone,
        build_model,
        list_models,
        register_model,
        torchvision_backbone,
    )
    from affectlab.models.weights import load_weights, save_weights, weights_from_lightning_ckpt

_EXPORTS: dict[str, str] = {
    "ModelArtifact": "affectlab.models.artifacts",
    "open_model": "affectlab.models.artifacts",
    "resolve_model_file": "affectlab.models.artifacts",
    "VA_ACTIVATIONS": "affectlab.models.info",
    "ModelInfo": "affectlab.models.info",
    "read_info": "affectlab.models.info",
    "sniff_format": "affectlab.models.info",
    "import_legacy_state_dict": "affectlab.models.legacy",
    "load_onnx_info": "affectlab.models.onnx",
    "onnx_session": "affectlab.models.onnx",
    "read_state_dict": "affectlab.models.pretrained",
    "OUTPUTS": "affectlab.models.registry",
    "AffectModel": "affectlab.models.registry",
    "Backbone": "affectlab.models.registry",
    "build_model": "affectlab.models.registry",
    "list_models": "affectlab.models.registry",
    "register_model": "affectlab.models.registry",
    "torchvision_backbone": "affectlab.models.registry",
    "load_weights": "affectlab.models.weights",
    "save_weights": "affectlab.models.weights",
    "weights_from_lightning_ckpt": "affectlab.models.weights",
}

__all__ = [
    "AffectModel",
    "Backbone",
    "ModelArtifact",
    "ModelInfo",
    "OUTPUTS",
    "VA_ACTIVATIONS",
    "build_model",
    "import_legacy_state_dict",
    "list_models",
    "load_onnx_info",
    "load_weights",
    "onnx_session",
    "open_model",
    "read_info",
    "read_state_dict",
    "register_model",
    "resolve_model_file",
    "save_weights",
    "sniff_format",
    "torchvision_backbone",
    "weights_from_lightning_ckpt",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)
