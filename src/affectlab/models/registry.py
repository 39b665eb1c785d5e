"""Architecture registry and the multi-task model: one shared backbone, three named heads."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from affectlab.errors import AffectlabError
from affectlab.models.info import VA_ACTIVATIONS

log = logging.getLogger(__name__)

#: Output names, in the order ONNX exports and reports use them.
OUTPUTS: tuple[str, ...] = ("expression", "valence", "arousal")


@dataclass
class Backbone:
    """A torchvision network whose classifier slot (`head_attr`) has been emptied; outputs (N, features)."""

    module: nn.Module
    features: int
    head_attr: str
    #: The dropout probability torchvision's classifier applied before its Linear layer (0: none).
    head_dropout: float = 0.0


BackboneFactory = Callable[[], Backbone]


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture: its backbone factory and the torchvision ImageNet weights enum, if any."""

    name: str
    factory: BackboneFactory
    imagenet_weights: str | None = None


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str, imagenet_weights: str | None = None
) -> Callable[[BackboneFactory], BackboneFactory]:
    """Register a backbone factory under an architecture name (timm-style decorator)."""

    def wrap(fn: BackboneFactory) -> BackboneFactory:
        _REGISTRY[name] = ModelSpec(name, fn, imagenet_weights)
        return fn

    return wrap


def list_models() -> list[str]:
    """Return the registered architecture names."""
    return sorted(_REGISTRY)


def model_spec(arch: str) -> ModelSpec:
    """Return the registry entry of `arch`, or raise an error listing the available ones."""
    if arch not in _REGISTRY:
        raise AffectlabError(f"unknown architecture {arch!r}; available: {', '.join(list_models())}")
    return _REGISTRY[arch]


def torchvision_backbone(name: str, head_attr: str) -> Backbone:
    """Build torchvision model `name` without weights and replace its classifier slot by Identity."""
    from affectlab.models.tv_import import import_torchvision

    torchvision = import_torchvision()  # without TorchDynamo: predict starts twice as fast
    net = getattr(torchvision.models, name)(weights=None)
    head = getattr(net, head_attr)
    linears = (
        [head] if isinstance(head, nn.Linear) else [m for m in head.modules() if isinstance(m, nn.Linear)]
    )
    if not linears:
        raise AffectlabError(f"torchvision {name}.{head_attr} holds no Linear layer to take the width from")
    dropouts = (
        [m.p for m in head.modules() if isinstance(m, nn.Dropout)] if isinstance(head, nn.Module) else []
    )
    setattr(net, head_attr, nn.Identity())
    return Backbone(net, linears[0].in_features, head_attr, float(dropouts[0]) if dropouts else 0.0)


@register_model("resnet18", imagenet_weights="ResNet18_Weights")
def _resnet18() -> Backbone:
    return torchvision_backbone("resnet18", "fc")


@register_model("resnet50", imagenet_weights="ResNet50_Weights")
def _resnet50() -> Backbone:
    return torchvision_backbone("resnet50", "fc")


@register_model("mobilenet_v2", imagenet_weights="MobileNet_V2_Weights")
def _mobilenet_v2() -> Backbone:
    return torchvision_backbone("mobilenet_v2", "classifier")


@register_model("efficientnet_b1", imagenet_weights="EfficientNet_B1_Weights")
def _efficientnet_b1() -> Backbone:
    return torchvision_backbone("efficientnet_b1", "classifier")


class AffectModel(nn.Module):
    """Shared backbone with `expression` logits and `valence` and `arousal` heads (tanh, clamp or linear)."""

    def __init__(
        self,
        arch: str,
        backbone: Backbone,
        num_classes: int,
        dropout: float = 0.0,
        va_activation: str = "tanh",
    ) -> None:
        super().__init__()
        if va_activation not in VA_ACTIVATIONS:
            raise AffectlabError(f"va_activation must be one of {VA_ACTIVATIONS}, got {va_activation!r}")
        self.arch = arch
        self.va_activation = va_activation
        self.num_classes = num_classes
        self.num_features = backbone.features
        self.head_attr = backbone.head_attr
        self.backbone = backbone.module
        self.dropout = nn.Dropout(dropout)
        self.expression = nn.Linear(backbone.features, num_classes)
        self.valence = nn.Linear(backbone.features, 1)
        self.arousal = nn.Linear(backbone.features, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Map a normalised NCHW batch to expression logits (N, C), valence (N,) and arousal (N,)."""
        feats = self.dropout(self.backbone(x))
        return {
            "expression": self.expression(feats),
            "valence": self._bound(self.valence(feats)).squeeze(-1),
            "arousal": self._bound(self.arousal(feats)).squeeze(-1),
        }

    def _bound(self, x: torch.Tensor) -> torch.Tensor:
        """Valence/arousal head output: tanh (default), clamp to [-1, 1] (legacy imports) or linear."""
        if self.va_activation == "tanh":
            return torch.tanh(x)
        return torch.clamp(x, -1.0, 1.0) if self.va_activation == "clamp" else x


def build_model(
    arch: str,
    num_classes: int = 8,
    pretrained: str | Path | None = None,
    dropout: float | str = 0.0,
    va_activation: str = "tanh",
    *,
    zero_init_residual: bool = False,
    stochastic_depth: float | None = None,
    bn_momentum: float | None = None,
) -> AffectModel:
    """Build a registered architecture as a multi-task model, optionally from pretrained backbone weights.

    ``dropout="original"`` keeps torchvision's classifier dropout (MobileNet-V2, EfficientNet: 0.2) in front
    of the heads, where the original study kept it; the other options are described in
    :func:`apply_init_options` and :func:`set_stochastic_depth`.
    """
    spec = model_spec(arch)
    if num_classes < 2:
        raise AffectlabError(f"num_classes must be at least 2, got {num_classes}")
    backbone = spec.factory()
    p = backbone.head_dropout if dropout == "original" else dropout
    if not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise AffectlabError(f"dropout must be in [0, 1) or 'original', got {dropout!r}")
    model = AffectModel(arch, backbone, num_classes, float(p), va_activation)
    if stochastic_depth is not None:
        set_stochastic_depth(model, stochastic_depth)
    if bn_momentum is not None:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.momentum = bn_momentum
    if pretrained is not None and str(pretrained) not in ("", "none", "None"):
        from affectlab.models.pretrained import load_pretrained_backbone

        load_pretrained_backbone(model, pretrained, spec.imagenet_weights)
        if zero_init_residual:
            log.info("zero_init_residual left out for %s: its blocks start from the pretrained weights", arch)
    elif zero_init_residual:
        # From scratch only: pretrained blocks already carry their learnt last-BN scales.
        zero_init_residual_blocks(model)
    return model


def set_stochastic_depth(model: nn.Module, max_p: float) -> int:
    """Set drop-path probabilities to ramp linearly from 0 to ``max_p`` over the blocks (as torchvision does).

    Returns the number of blocks changed; an architecture without drop-path blocks accepts only 0.
    """
    from torchvision.ops import StochasticDepth

    blocks = [m for m in model.modules() if isinstance(m, StochasticDepth)]
    if not blocks and max_p > 0:
        arch = getattr(model, "arch", type(model).__name__)
        raise AffectlabError(
            f"{arch} has no stochastic-depth (drop-path) blocks; set model.stochastic_depth=null"
        )
    for k, block in enumerate(blocks):
        block.p = max_p * k / len(blocks)
    return len(blocks)


def zero_init_residual_blocks(model: nn.Module) -> int:
    """Zero the last BatchNorm scale of every residual block, so that each block starts as the identity.

    ResNet blocks (torchvision's ``zero_init_residual``) and every block with a skip connection
    (``use_res_connect``: MobileNet-V2's inverted residuals, EfficientNet's MBConv). Returns the count.
    """
    from torchvision.models.resnet import BasicBlock, Bottleneck

    count = 0
    for m in model.modules():
        bn: nn.Module | None = None
        if isinstance(m, BasicBlock):
            bn = m.bn2
        elif isinstance(m, Bottleneck):
            bn = m.bn3
        elif getattr(m, "use_res_connect", False):
            norms = [b for b in m.modules() if isinstance(b, nn.BatchNorm2d)]
            bn = norms[-1] if norms else None
        if isinstance(bn, nn.BatchNorm2d) and bn.weight is not None:
            nn.init.zeros_(bn.weight)
            count += 1
    return count
