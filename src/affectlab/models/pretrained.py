"""Pretrained backbone weights: torchvision's ImageNet checkpoints (online, cached) or a local file."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from affectlab.errors import AffectlabError

if TYPE_CHECKING:
    from affectlab.models.registry import AffectModel

log = logging.getLogger(__name__)


def imagenet_state_dict(arch: str, enum_name: str | None) -> dict[str, torch.Tensor]:
    """Return torchvision's ImageNet weights (enum `enum_name`) for `arch`, cached after one download."""
    import torchvision

    if enum_name is None:
        raise AffectlabError(
            f"no ImageNet weights registered for {arch!r}; pass pretrained=PATH to a local file"
        )
    weights = getattr(torchvision.models, enum_name).DEFAULT
    try:
        # weights_only=True: torch.hub's own default is False (full unpickling) even for plain state dicts.
        return weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
    except Exception as exc:  # network errors come in many types (URLError, OSError, HTTPError, hash errors)
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        raise AffectlabError(
            f"could not fetch ImageNet weights for {arch} ({type(exc).__name__}: {exc}). Two ways out: "
            f"go online once (the file is then cached in {cache} and later runs work offline), or download "
            f"{weights.url} elsewhere and pass pretrained=PATH (CLI: --set model.pretrained=PATH) "
            "to the local file"
        ) from exc


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from .safetensors (by content), or from a torch .pth file with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise AffectlabError(f"pretrained weights file not found: {path}")
    from affectlab.models.info import sniff_format

    if sniff_format(path) == "safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own SafetensorError
            raise AffectlabError(f"{path}: unreadable safetensors file ({exc})") from exc
    # weights_only=True restricts unpickling to tensors and containers; still, load only files you trust.
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise AffectlabError(f"{path}: not a readable state dict ({exc})") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise AffectlabError(f"{path}: expected a state dict (name -> tensor)")
    return obj


def key_mismatch(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> str | None:
    """How the keys of `state` differ from `expected` (counts, the first three of each), or None."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if not (missing or unexpected):
        return None
    return (
        f"{len(missing)} missing keys (e.g. {missing[:3]}), "
        f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})"
    )


def shape_mismatch(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> tuple[str, tuple[int, ...], tuple[int, ...]] | None:
    """The first tensor of `state` whose shape differs from its namesake in `expected`: key, shape, needed."""
    for key, value in state.items():
        target = expected.get(key)
        if target is not None and tuple(value.shape) != tuple(target.shape):
            return key, tuple(value.shape), tuple(target.shape)
    return None


def load_pretrained_backbone(
    model: AffectModel, pretrained: str | Path, imagenet_weights: str | None
) -> None:
    """Load 'imagenet' or a local torchvision-shaped state dict into the model's backbone.

    The backbone is loaded strictly: every key must be present with the right shape; the ImageNet classifier
    (`fc.*` / `classifier.*`) is dropped. An affectlab weights file also works (its `backbone.*` part).
    """
    arch, head_attr = model.arch, model.head_attr
    if str(pretrained) == "imagenet":
        state = imagenet_state_dict(arch, imagenet_weights)
    else:
        state = read_state_dict(pretrained)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if any(k.startswith("backbone.") for k in state):  # an affectlab model: keep its backbone, drop its heads
        state = {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
    backbone = model.backbone
    expected = backbone.state_dict()
    # Drop the ImageNet classifier: keys in the classifier slot that the backbone does not keep.
    state = {k: v for k, v in state.items() if k in expected or not k.startswith(f"{head_attr}.")}
    keys = key_mismatch(state, expected)
    if keys:
        raise AffectlabError(f"pretrained weights {pretrained} do not fit the {arch} backbone: {keys}")
    shapes = shape_mismatch(state, expected)
    if shapes:
        key, got, needed = shapes
        raise AffectlabError(
            f"pretrained weights {pretrained}: {key} has shape {got}, the {arch} backbone needs {needed}"
        )
    backbone.load_state_dict(state)
    log.info("loaded pretrained %s backbone weights from %s", arch, pretrained)
