"""Multi-task models: the architecture registry, pretrained and legacy loading, and weights files."""

from __future__ import annotations

from affectlab.models.legacy import import_legacy_state_dict
from affectlab.models.pretrained import read_state_dict
from affectlab.models.registry import (
    OUTPUTS,
    VA_ACTIVATIONS,
    AffectModel,
    Backbone,
    build_model,
    list_models,
    register_model,
    torchvision_backbone,
)
from affectlab.models.weights import (
    ModelInfo,
    file_sha256,
    load_weights,
    read_info,
    save_weights,
    sniff_format,
    weights_from_lightning_ckpt,
)

__all__ = [
    "OUTPUTS",
    "VA_ACTIVATIONS",
    "AffectModel",
    "Backbone",
    "ModelInfo",
    "build_model",
    "file_sha256",
    "import_legacy_state_dict",
    "list_models",
    "load_weights",
    "read_info",
    "read_state_dict",
    "register_model",
    "save_weights",
    "sniff_format",
    "torchvision_backbone",
    "weights_from_lightning_ckpt",
]
