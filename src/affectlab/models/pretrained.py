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
            f"{weights.url} elsewhere and pass pretrained=PATH to the local file (CLI: --set "
            f"model.pretrained=PATH; in a comparison of several architectures, for this one only: --set "
            f"per_arch.{arch}.model.pretrained=PATH)"
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
    obj = _unwrap(obj)
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise AffectlabError(f"{path}: expected a state dict (name -> tensor)")
    return obj


#: Where training scripts keep the weights inside a saved checkpoint dict.
CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights")


def _unwrap(obj: object) -> object:
    """The state dict inside a checkpoint dict ({"state_dict": ...}, {"model": ...}, ...), else obj."""
    for _ in range(3):
        if not isinstance(obj, dict) or all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
        inner = next((obj[k] for k in CONTAINER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            return obj
        obj = inner
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


def _prefixes(keys: list[str], depth: int = 3) -> set[str]:
    """Every dotted prefix of up to `depth` parts that some key starts with (and "")."""
    out = {""}
    for key in keys:
        parts = key.split(".")
        out |= {".".join(parts[:i]) + "." for i in range(1, min(depth, len(parts) - 1) + 1)}
    return out


def map_backbone_keys(
    state: Mapping[str, torch.Tensor], backbone: torch.nn.Module, head_attr: str
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename a backbone state dict from another code base into torchvision's names; return (state, notes).

    Handles what face-pretrained checkpoints (e.g. MS-Celeb-1M ResNet-18s) and training scripts add: a
    wrapper prefix (``module.``, ``model.``, ``backbone.``, ... : the one that matches most keys is
    stripped), ``nn.Sequential(*children)`` numbering (``0.weight`` -> ``conv1.weight``), and missing
    ``num_batches_tracked`` counters (filled with 0). Keys outside the backbone's modules (identity
    classifiers such as ``fc.*`` or ``feature.*``) are dropped and noted; a key inside them that the
    backbone lacks (a deeper network) is kept, so that the strict check refuses the file.
    """
    expected = backbone.state_dict()
    children = [name for name, _ in backbone.named_children()]
    renames = {str(i): name for i, name in enumerate(children)}
    best: dict[str, torch.Tensor] = {}
    best_hits, best_how = -1, ""
    for prefix in sorted(_prefixes(list(state)), key=len):
        stripped = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        numbered = {_renumber(k, renames): v for k, v in stripped.items()}
        for how, cand in (
            (f"prefix {prefix!r}" if prefix else "", stripped),
            ("children numbering", numbered),
        ):
            hits = sum(1 for k, v in cand.items() if k in expected and v.shape == expected[k].shape)
            if hits > best_hits:
                best, best_hits, best_how = cand, hits, how
    notes = [f"keys mapped by {best_how}"] if best_how else []
    modules = set(children) - {head_attr}
    dropped = sorted(k for k in best if k not in expected and k.split(".")[0] not in modules)
    if dropped:
        notes.append(f"dropped {len(dropped)} keys outside the backbone (e.g. {dropped[:4]})")
    mapped = {k: v for k, v in best.items() if k not in dropped}
    counters = [k for k in expected if k.endswith("num_batches_tracked") and k not in mapped]
    for key in counters:
        mapped[key] = torch.zeros_like(expected[key])
    if counters:
        notes.append(f"filled {len(counters)} missing num_batches_tracked counters with 0")
    return mapped, notes


def _renumber(key: str, renames: Mapping[str, str]) -> str:
    """``4.0.conv1.weight`` -> ``layer1.0.conv1.weight`` (a Sequential of the backbone's children)."""
    head, _, rest = key.partition(".")
    return f"{renames[head]}.{rest}" if head in renames and rest else key


def load_pretrained_backbone(
    model: AffectModel, pretrained: str | Path, imagenet_weights: str | None
) -> list[str]:
    """Load 'imagenet' or a local state dict (torchvision-shaped, or mappable to it) into the backbone.

    The backbone is loaded strictly after :func:`map_backbone_keys`: every key must be present with the
    right shape. An affectlab weights file works too (its ``backbone.*`` part). Returns the mapping notes.
    """
    arch, head_attr = model.arch, model.head_attr
    if str(pretrained) == "imagenet":
        state = imagenet_state_dict(arch, imagenet_weights)
    else:
        state = read_state_dict(pretrained)
    if any(k.startswith("backbone.") for k in state) and any(k.startswith("expression.") for k in state):
        # an affectlab model: keep its backbone, drop its heads
        state = {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
    backbone = model.backbone
    expected = backbone.state_dict()
    state, notes = map_backbone_keys(state, backbone, head_attr)
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
    log.info(
        "loaded pretrained %s backbone weights from %s%s",
        arch,
        pretrained,
        "; " + "; ".join(notes) if notes else "",
    )
    return notes


def weights_source(arch: str, pretrained: str | Path | None) -> str:
    """Say where a model's starting weights come from, without loading them."""
    if pretrained is None or str(pretrained) in ("", "none", "None"):
        return "from scratch (random initialisation)"
    if str(pretrained) == "imagenet":
        from affectlab.models.registry import model_spec

        enum = model_spec(arch).imagenet_weights
        return f"ImageNet (torchvision {enum}.DEFAULT)" if enum else "ImageNet (none registered)"
    return f"local file {pretrained}"


def check_weights_source(arch: str, pretrained: str | Path | None) -> str:
    """Load the starting weights into a fresh model (fetching ImageNet weights if not cached); describe them.

    Raises AffectlabError (naming the architecture and the fix) when they cannot be had or do not fit.
    """
    from affectlab.io import file_sha256
    from affectlab.models.registry import build_model

    described = weights_source(arch, pretrained)
    if pretrained is None or str(pretrained) in ("", "none", "None"):
        return described
    try:
        build_model(arch, pretrained=pretrained)
    except AffectlabError as exc:
        raise AffectlabError(f"{arch}: starting weights {pretrained!r} unusable: {exc}") from None
    if str(pretrained) != "imagenet":
        described += f" (sha256 {file_sha256(Path(pretrained))[:12]})"
    return described
