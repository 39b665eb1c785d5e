"""Inference weights: one .safetensors file carrying the model's info; loaded by content, never unpickled."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from affectlab.errors import AffectlabError
from affectlab.models.registry import AffectModel, build_model, list_models
from affectlab.preprocess import Preprocess

FORMAT_VERSION = 1
_META_KEY = "affectlab"
#: Largest safetensors JSON header accepted (affectlab's are a few tens of kB).
_MAX_HEADER = 64 * 1024 * 1024


@dataclass
class ModelInfo:
    """What travels with the weights: architecture, class names in order, preprocessing, free metadata."""

    arch: str
    class_names: tuple[str, ...]
    preprocess: Preprocess = field(default_factory=Preprocess)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: How the valence/arousal heads are bounded: "tanh" (affectlab training) or "clamp" (legacy imports).
    va_activation: str = "tanh"

    def __post_init__(self) -> None:
        self.class_names = tuple(str(c) for c in self.class_names)
        if isinstance(self.preprocess, dict):
            self.preprocess = Preprocess.from_dict(self.preprocess)
        if len(self.class_names) < 2:
            raise AffectlabError(f"ModelInfo needs at least 2 class names, got {list(self.class_names)}")

    @property
    def num_classes(self) -> int:
        """Number of expression classes."""
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "format_version": FORMAT_VERSION,
            "arch": self.arch,
            "class_names": list(self.class_names),
            "num_classes": self.num_classes,
            "preprocess": self.preprocess.to_dict(),
            "va_activation": self.va_activation,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        """Build from :meth:`to_dict` output."""
        try:
            version = int(data.get("format_version", 1))
            if version > FORMAT_VERSION:
                raise AffectlabError(
                    f"weights format version {version} is newer than this affectlab reads "
                    f"({FORMAT_VERSION}); upgrade affectlab"
                )
            return cls(
                arch=str(data["arch"]),
                class_names=tuple(str(c) for c in data["class_names"]),
                preprocess=Preprocess.from_dict(data["preprocess"]),
                metadata=dict(data.get("metadata") or {}),
                va_activation=str(data.get("va_activation", "tanh")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AffectlabError(
                f"model info is incomplete or malformed ({exc}); re-export the weights"
            ) from exc


def file_sha256(path: str | Path) -> str:
    """Return the hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sniff_format(path: str | Path) -> str:
    """Name a weights file's format from its first bytes: 'safetensors', 'zip', 'pickle' or 'unknown'."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if len(head) >= 10:
        (header_len,) = struct.unpack("<Q", head[:8])
        if 2 <= header_len <= min(_MAX_HEADER, os.path.getsize(path) - 8) and head[8:9] == b"{":
            return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:1] == b"\x80" or head[:1] in (b"(", b"c", b"}", b"]"):
        return "pickle"
    return "unknown"


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
        save_file(state, str(tmp), metadata={_META_KEY: json.dumps(info.to_dict(), default=str)})
        os.replace(tmp, path)
    except OSError as exc:
        raise AffectlabError(f"could not write weights to {path}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _header(path: str | Path) -> dict[str, Any]:
    """Parse a safetensors JSON header with the standard library (no tensors read, nothing executed)."""
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        if size > _MAX_HEADER:
            raise AffectlabError(f"{path}: safetensors header of {size} bytes is implausibly large")
        raw = fh.read(size)
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise AffectlabError(f"{path}: corrupt safetensors header ({exc})") from exc
    if not isinstance(header, dict):
        raise AffectlabError(f"{path}: corrupt safetensors header (not a JSON object)")
    return header


def read_info(path: str | Path) -> ModelInfo:
    """Read only the ModelInfo from a weights file's header."""
    _require_safetensors(path)
    meta = _header(path).get("__metadata__") or {}
    if _META_KEY not in meta:
        raise AffectlabError(
            f"{path}: a safetensors file without affectlab model info; it was not written by affectlab "
            "(import foreign weights with affectlab.models.import_legacy_state_dict or pretrained=PATH)"
        )
    try:
        data = json.loads(meta[_META_KEY])
    except ValueError as exc:
        raise AffectlabError(f"{path}: the affectlab model info is not valid JSON ({exc})") from exc
    return ModelInfo.from_dict(data)


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


def _require_safetensors(path: str | Path) -> None:
    """Refuse anything that is not a safetensors file, judged by content rather than extension."""
    path = Path(path)
    if not path.is_file():
        raise AffectlabError(f"{path}: no such weights file")
    kind = sniff_format(path)
    if kind == "safetensors":
        return
    if kind in ("zip", "pickle"):
        raise AffectlabError(
            f"{path}: this is a pickle/torch checkpoint (its content is a {kind} file, whatever its name), "
            "which can run code when loaded; affectlab loads only .safetensors weights for inference. For a "
            "training run of your own, use its model.safetensors, or convert your own trusted Lightning "
            "checkpoint with affectlab.models.weights_from_lightning_ckpt(CKPT, OUT)"
        )
    raise AffectlabError(f"{path}: not a safetensors weights file (unrecognised content)")


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
    """Recover arch, class names and preprocessing from a Lightning checkpoint's hyper_parameters."""
    config = hparams.get("config") or {}
    model_cfg = config.get("model") or {} if isinstance(config, Mapping) else {}
    data_cfg = config.get("data") or {} if isinstance(config, Mapping) else {}
    arch = hparams.get("arch") or model_cfg.get("arch")
    names = hparams.get("class_names")
    pre = hparams.get("preprocess")
    if pre is None and data_cfg.get("size"):
        pre = {
            "size": data_cfg["size"],
            "mean": data_cfg.get("mean", Preprocess().mean),
            "std": data_cfg.get("std", Preprocess().std),
        }
    sibling = Path(ckpt_path).parent.parent / "model.safetensors"  # run/checkpoints/best.ckpt -> run/
    if pre is None and arch and names and sibling.is_file():
        run_info = read_info(sibling)
        if run_info.arch == arch and list(run_info.class_names) == list(names):
            pre = run_info.preprocess.to_dict()
    if not arch or not names or pre is None:
        raise AffectlabError(
            f"{ckpt_path}: hyper_parameters lack the architecture, class names or preprocessing (input size) "
            "(found keys " + ", ".join(sorted(hparams)) + "); pass info=ModelInfo(...) explicitly"
        )
    meta = {"source": "lightning checkpoint", "checkpoint": Path(ckpt_path).name}
    return ModelInfo(str(arch), tuple(names), Preprocess.from_dict(dict(pre)), meta)


def weights_from_lightning_ckpt(
    ckpt_path: str | Path, out_path: str | Path, info: ModelInfo | None = None, prefix: str = "model."
) -> Path:
    """Convert a trusted Lightning checkpoint of your own into a .safetensors weights file.

    Uses torch.load(weights_only=True), which restricts but does not sandbox unpickling: only for your own
    files. Without `info`, arch, class names and preprocessing come from the checkpoint's hyper_parameters
    (the input size, when the config left it to the data, from the run folder's model.safetensors).
    """
    try:
        ckpt = torch.load(str(ckpt_path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise AffectlabError(f"{ckpt_path}: not a loadable Lightning checkpoint ({exc})") from exc
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("state_dict"), Mapping):
        raise AffectlabError(f"{ckpt_path}: no 'state_dict' in this checkpoint; is it a Lightning .ckpt?")
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
