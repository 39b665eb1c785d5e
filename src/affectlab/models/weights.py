"""Inference weights: one .safetensors file carrying the model's info; loaded by content, never unpickled."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from affectlab.errors import AffectlabError
from affectlab.models.artifacts import WEIGHTS_NAME
from affectlab.models.info import META_KEY, ModelInfo, read_header, read_info
from affectlab.models.registry import AffectModel, build_model, list_models
from affectlab.preprocessing.spec import Preprocess


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """Return the module under torch.compile / DDP wrappers."""
    for attr in ("_orig_mod", "module"):
        while isinstance(getattr(model, attr, None), torch.nn.Module):
            model = getattr(model, attr)
    return model


def save_weights(model: torch.nn.Module, info: ModelInfo, path: str | Path) -> Path:
    """Write the model's weights and info to one .safetensors file, atomically (temp file + rename)."""
    from safetensors.torch import save_file

    model = _unwrap(model)
    if getattr(model, "arch", info.arch) != info.arch:
        raise AffectlabError(f"save_weights: model is {model.arch!r} but info says {info.arch!r}")
    if getattr(model, "num_classes", info.num_classes) != info.num_classes:
        raise AffectlabError(
            f"save_weights: model has {model.num_classes} classes but info lists {info.num_classes} names"
        )
    info = replace(info, va_activation=getattr(model, "va_activation", info.va_activation))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(state, str(tmp), metadata={META_KEY: json.dumps(info.to_dict(), default=str)})
        os.replace(tmp, path)
    except OSError as exc:
        raise AffectlabError(f"could not write weights to {path}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def replace_info(path: str | Path, info: ModelInfo, backup: str | Path | None = None) -> Path:
    """Rewrite the ModelInfo of a weights file, tensors unchanged, atomically (temp file + rename).

    With ``backup``, the file as it is now is first copied there unless that file exists already (so the
    first, uncalibrated original is the one kept). Architecture and class names must stay the same.
    """
    from safetensors.torch import load_file, save_file

    path = Path(path)
    old = read_info(path)
    if (old.arch, old.class_names) != (info.arch, info.class_names):
        raise AffectlabError(f"{path}: replace_info may not change the architecture or the class names")
    meta = dict(read_header(path).get("__metadata__") or {})
    meta[META_KEY] = json.dumps(info.to_dict(), default=str)
    state = load_file(str(path), device="cpu")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    keep = None if backup is None else Path(backup).with_name(f".{Path(backup).name}.tmp-{os.getpid()}")
    try:
        if backup is not None and keep is not None and not Path(backup).exists():
            shutil.copy2(path, keep)
            os.replace(keep, backup)  # the original is safe before the file is touched
        save_file(state, str(tmp), metadata=meta)
        os.replace(tmp, path)
    except OSError as exc:
        raise AffectlabError(f"could not rewrite {path}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
        if keep is not None:
            keep.unlink(missing_ok=True)
    return path


def load_weights(
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    expect_arch: str | None = None,
    expect_classes: Sequence[str] | None = None,
) -> tuple[AffectModel, ModelInfo]:
    """Load an affectlab .safetensors weights file into a fresh eval-mode model; no code from it runs."""
    from safetensors.torch import load_file

    info = read_info(path)
    if expect_arch is not None and info.arch != expect_arch:
        raise AffectlabError(f"{path}: weights are for architecture {info.arch!r}, expected {expect_arch!r}")
    if expect_classes is not None and tuple(expect_classes) != info.class_names:
        raise AffectlabError(
            f"{path}: weights have classes {list(info.class_names)}, expected {list(expect_classes)}"
        )
    if info.arch not in list_models():
        raise AffectlabError(
            f"{path}: weights are for architecture {info.arch!r}, which this affectlab does not know "
            f"(available: {', '.join(list_models())})"
        )
    model = build_model(info.arch, num_classes=info.num_classes, va_activation=info.va_activation)
    try:
        state = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own SafetensorError for truncated/corrupt files
        raise AffectlabError(f"{path}: unreadable safetensors weights ({exc})") from exc
    check_state(path, model, state, info)
    model.load_state_dict(state)
    return model.to(device).eval(), info


def _guess_arch(keys: set[str], num_classes: int) -> str | None:
    """Name the registered architecture whose state-dict keys equal `keys` (built on the meta device)."""
    for arch in list_models():
        with torch.device("meta"):
            candidate = build_model(arch, num_classes=num_classes)
        if set(candidate.state_dict()) == keys:
            return arch
    return None


def check_state(
    path: str | Path, model: torch.nn.Module, state: Mapping[str, torch.Tensor], info: ModelInfo
) -> None:
    """Raise a message naming the mismatch when a state dict does not fit the declared arch/class count."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        guess = _guess_arch(set(state), info.num_classes)
        found = f"they look like {guess!r}" if guess else "they fit no registered architecture"
        raise AffectlabError(
            f"{path}: weights do not match the declared architecture {info.arch!r} ({found}): "
            f"{len(missing)} missing keys (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    head = state.get("expression.weight")
    if head is not None and head.shape[0] != info.num_classes:
        raise AffectlabError(
            f"{path}: class count mismatch: the weights have {head.shape[0]} expression classes, "
            f"the declared class names are {info.num_classes} ({list(info.class_names)}) for {info.arch}"
        )
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise AffectlabError(
                f"{path}: shape mismatch at {key}: file has {tuple(tensor.shape)}, {info.arch} with "
                f"{info.num_classes} classes needs {tuple(expected[key].shape)}"
            )


def _info_from_hparams(hparams: Mapping[str, Any], ckpt_path: str | Path) -> ModelInfo:
    """Recover arch, class names and preprocessing from a Lightning checkpoint's hyper_parameters.

    The preprocessing is never guessed from config defaults: it comes from the checkpoint (``train()``
    records it) or from the run folder's own model.safetensors.
    """
    config = hparams.get("config") or {}
    model_cfg = config.get("model") or {} if isinstance(config, Mapping) else {}
    arch = hparams.get("arch") or model_cfg.get("arch")
    names = hparams.get("class_names")
    pre = hparams.get("preprocess")
    sibling = Path(ckpt_path).parent.parent / WEIGHTS_NAME  # run/checkpoints/best.ckpt -> run/
    if pre is None and arch and names and sibling.is_file():
        run_info = read_info(sibling)
        if run_info.arch == arch and list(run_info.class_names) == list(names):
            pre = run_info.preprocess.to_dict()
    if not arch or not names or pre is None:
        raise AffectlabError(
            f"{ckpt_path}: hyper_parameters lack the architecture, class names or preprocessing "
            "(found keys " + ", ".join(sorted(hparams)) + "); pass info=ModelInfo(...) explicitly"
        )
    meta = {"source": "lightning checkpoint", "checkpoint": Path(ckpt_path).name}
    return ModelInfo(str(arch), tuple(names), Preprocess.from_dict(dict(pre)), meta)


def weights_from_lightning_ckpt(
    ckpt_path: str | Path, out_path: str | Path, info: ModelInfo | None = None, prefix: str = "model."
) -> Path:
    """Convert a Lightning checkpoint into a .safetensors weights file.

    The checkpoint is read by training.checkpoint_io.load_checkpoint_file (``weights_only=True``: tensors
    and plain data, never code; a crafted pickle, a cut or a foreign file is one error naming it). Without
    `info`, arch, class names and preprocessing come from the checkpoint's hyper_parameters (the input size,
    when the config left it to the data, from the run folder's model.safetensors).
    """
    from affectlab.training.checkpoint_io import load_checkpoint_file  # imports Lightning: only when used

    ckpt = load_checkpoint_file(ckpt_path)
    if info is None:
        info = _info_from_hparams(ckpt.get("hyper_parameters") or {}, ckpt_path)
    state = {
        k[len(prefix) :].replace("_orig_mod.", ""): v
        for k, v in ckpt["state_dict"].items()
        if k.startswith(prefix)
    }
    if not state:
        raise AffectlabError(f"{ckpt_path}: no state_dict keys start with {prefix!r}; pass the right prefix=")
    model = build_model(info.arch, num_classes=info.num_classes, va_activation=info.va_activation)
    check_state(ckpt_path, model, state, info)
    model.load_state_dict(state)
    return save_weights(model, info, out_path)
