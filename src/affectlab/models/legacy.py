"""Import checkpoints of the original study: torchvision models whose classifier holds fc1/fc2/fc3 heads."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch

from affectlab.errors import AffectlabError
from affectlab.models.pretrained import key_mismatch, read_state_dict, shape_mismatch
from affectlab.models.registry import AffectModel, build_model

log = logging.getLogger(__name__)

#: The original heads: fc1 -> valence, fc2 -> arousal, fc3 -> expression logits.
LEGACY_HEADS: dict[str, str] = {"fc1": "valence", "fc2": "arousal", "fc3": "expression"}


def _strip(key: str) -> str:
    """Drop DataParallel/DDP (`module.`) and torch.compile (`_orig_mod.`) prefixes."""
    for prefix in ("module.", "_orig_mod."):
        key = key.removeprefix(prefix)
    return key


def _split_state(
    state_dict: Mapping[str, torch.Tensor], model: AffectModel, arch: str
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Split a legacy state dict into the backbone's keys and the heads, renamed (`valence.weight`, ...)."""
    slot = model.head_attr
    state = {_strip(k): v for k, v in state_dict.items()}
    expected = model.backbone.state_dict()
    in_backbone = {k for k in state if k in expected or not k.startswith(f"{slot}.")}
    backbone = {k: v for k, v in state.items() if k in in_backbone}
    heads: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key in in_backbone:
            continue
        head, param = key.split(".")[-2:]  # suffix matching: fc.fc1.weight, classifier.1.fc1.weight, ...
        if head not in LEGACY_HEADS or param not in ("weight", "bias"):
            raise AffectlabError(
                f"legacy checkpoint for {arch}: unexpected key {key!r} under '{slot}.' "
                "(expected only the heads fc1 (valence), fc2 (arousal), fc3 (expression))"
            )
        heads[f"{LEGACY_HEADS[head]}.{param}"] = value
    return backbone, heads


def _check_heads(heads: Mapping[str, torch.Tensor], model: AffectModel, arch: str, num_classes: int) -> None:
    """Refuse incomplete heads, and an expression head whose class count is not `num_classes`."""
    slot = model.head_attr
    wanted = {k for k in model.state_dict() if k.split(".")[0] in LEGACY_HEADS.values()}
    if set(heads) != wanted:
        raise AffectlabError(
            f"legacy checkpoint for {arch}: heads under '{slot}.' incomplete, missing "
            f"{sorted(wanted - set(heads))} (expected keys like {slot}.fc1.weight or {slot}.1.fc3.bias)"
        )
    found_classes = heads["expression.weight"].shape[0]
    if found_classes != num_classes:
        raise AffectlabError(
            f"legacy checkpoint has {found_classes} expression classes (fc3), but num_classes={num_classes}; "
            f"pass num_classes={found_classes}"
        )


def _check_fit(
    backbone: Mapping[str, torch.Tensor], heads: Mapping[str, torch.Tensor], model: AffectModel, arch: str
) -> None:
    """Refuse a backbone with other keys than the architecture's, and any tensor of the wrong shape."""
    expected = model.backbone.state_dict()
    keys = key_mismatch(backbone, expected)
    if keys:
        raise AffectlabError(f"legacy checkpoint does not fit the {arch} backbone: {keys}; wrong arch?")
    shapes = shape_mismatch({**backbone, **heads}, {**model.state_dict(), **expected})
    if shapes:
        key, got, needed = shapes
        raise AffectlabError(f"legacy checkpoint: {key} has shape {got}, {arch} needs {needed}")


def _warn_about_va(arch: str, va_activation: str) -> None:
    """Say what happens to the original unbounded valence/arousal values under the chosen activation."""
    if va_activation == "clamp":
        log.warning(
            "imported original-study heads into %s: its fc1/fc2 valence/arousal heads were linear "
            "(unbounded); affectlab clamps them to [-1, 1], so values inside that range are unchanged and "
            "values outside are clipped",
            arch,
        )
    else:
        log.warning(
            "imported original-study heads into %s with tanh-bounded valence/arousal: the original fc1/fc2 "
            "heads were linear, so every prediction v becomes tanh(v) (close to v only near 0); fine-tune "
            "briefly, or import with va_activation='clamp' to keep the original values",
            arch,
        )


def import_legacy_state_dict(
    arch: str,
    state_dict: Mapping[str, torch.Tensor] | str | Path,
    num_classes: int = 8,
    va_activation: str = "clamp",
) -> AffectModel:
    """Map an original-study state dict (backbone + `<slot>.[...]fc1/fc2/fc3`) into an affectlab model.

    The original valence/arousal heads were plain linear layers (unbounded). With the default
    `va_activation="clamp"` the imported model gives exactly the original values wherever they lie in [-1, 1]
    and clips them outside; `va_activation="tanh"` uses affectlab's trainable head, giving tanh(original).
    """
    if isinstance(state_dict, str | Path):
        state_dict = read_state_dict(state_dict)
    model = build_model(arch, num_classes=num_classes, va_activation=va_activation)
    backbone, heads = _split_state(state_dict, model, arch)
    _check_heads(heads, model, arch, num_classes)
    _check_fit(backbone, heads, model, arch)
    model.backbone.load_state_dict(backbone)
    own = model.state_dict()
    with torch.no_grad():
        for key, value in heads.items():
            own[key].copy_(value)
    _warn_about_va(arch, va_activation)
    return model.eval()
