"""What travels with a model's weights (ModelInfo), and reading it from a file without torch or unpickling."""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affectlab.errors import AffectlabError
from affectlab.models.calibration import Calibration
from affectlab.preprocessing.spec import Preprocess

FORMAT_VERSION = 1
#: The safetensors metadata key (and ONNX metadata_props key) that holds the info as JSON.
META_KEY = "affectlab"
#: Largest safetensors JSON header accepted (affectlab's are a few tens of kB).
MAX_HEADER = 64 * 1024 * 1024
#: How the valence/arousal heads are bounded.
VA_ACTIVATIONS: tuple[str, ...] = ("tanh", "clamp", "linear")


@dataclass
class ModelInfo:
    """What travels with the weights: architecture, class names in order, preprocessing, free metadata."""

    arch: str
    class_names: tuple[str, ...]
    preprocess: Preprocess = field(default_factory=Preprocess)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: How the valence/arousal heads are bounded: "tanh" (affectlab training), "clamp" (legacy imports).
    va_activation: str = "tanh"
    #: Temperature scaling and abstention threshold from `affectlab calibrate` (None: raw softmax).
    calibration: Calibration | None = None

    def __post_init__(self) -> None:
        self.class_names = tuple(str(c) for c in self.class_names)
        if isinstance(self.preprocess, dict):
            self.preprocess = Preprocess.from_dict(self.preprocess)
        if len(self.class_names) < 2:
            raise AffectlabError(f"a model needs at least 2 class names, got {list(self.class_names)}")
        if len(set(self.class_names)) != len(self.class_names) or not all(self.class_names):
            raise AffectlabError(f"class names must be unique and non-empty, got {list(self.class_names)}")
        if self.va_activation not in VA_ACTIVATIONS:
            raise AffectlabError(
                f"va_activation must be one of {', '.join(VA_ACTIVATIONS)}, got {self.va_activation!r}"
            )
        if self.calibration is not None and not isinstance(self.calibration, Calibration):
            self.calibration = Calibration.from_dict(self.calibration)
        count = self.calibration.num_classes if self.calibration is not None else None
        if count is not None and count != self.num_classes:
            raise AffectlabError(
                f"calibration has {count} per-class temperatures for {self.num_classes} classes"
            )

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
            "calibration": self.calibration.to_dict() if self.calibration is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "model info") -> ModelInfo:
        """Build from :meth:`to_dict` output, validating every field; errors name ``where``."""
        if not isinstance(data, dict):
            raise AffectlabError(f"{where}: expected a JSON object, got {type(data).__name__}")
        try:
            version = int(data.get("format_version", 1))
            if version > FORMAT_VERSION:
                raise AffectlabError(
                    f"weights format version {version} is newer than this affectlab reads "
                    f"({FORMAT_VERSION}); upgrade affectlab"
                )
            names = data["class_names"]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise AffectlabError(f"class_names must be a list of strings, got {names!r}")
            declared = data.get("num_classes", len(names))
            if declared != len(names):
                raise AffectlabError(f"num_classes is {declared} but {len(names)} class names are listed")
            metadata = data.get("metadata") or {}
            if not isinstance(metadata, dict):
                raise AffectlabError("metadata must be a JSON object")
            return cls(
                arch=str(data["arch"]),
                class_names=tuple(names),
                preprocess=Preprocess.from_dict(data["preprocess"]),
                metadata=dict(metadata),
                va_activation=str(data.get("va_activation", "tanh")),
                calibration=data.get("calibration"),
            )
        except KeyError as exc:
            raise AffectlabError(f"{where}: incomplete (no {exc.args[0]!r}); re-export the model") from None
        except AffectlabError as exc:
            raise AffectlabError(f"{where}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise AffectlabError(f"{where}: malformed ({exc}); re-export the model") from None


def sniff_format(path: str | Path) -> str:
    """Name a model file's format from its first bytes: safetensors, onnx, zip, pickle or unknown."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if len(head) >= 10:
        (header_len,) = struct.unpack("<Q", head[:8])
        if 2 <= header_len <= min(MAX_HEADER, os.path.getsize(path) - 8) and head[8:9] == b"{":
            return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:1] == b"\x80" or head[:1] in (b"(", b"c", b"}", b"]"):
        return "pickle"
    if head[:1] == b"\x08":  # an ONNX ModelProto starts with its ir_version field (tag 1, varint)
        return "onnx"
    return "unknown"


def read_header(path: str | Path) -> dict[str, Any]:
    """Parse a safetensors JSON header with the standard library (no tensors read, nothing executed)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            raise AffectlabError(f"{path}: too short to be a safetensors file")
        (size,) = struct.unpack("<Q", head)
        if size > MAX_HEADER:
            raise AffectlabError(f"{path}: safetensors header of {size} bytes is implausibly large")
        raw = fh.read(size)
    return _json_object(raw, f"{path}: corrupt safetensors header")


def _json_object(text: str | bytes, what: str) -> dict[str, Any]:
    """Parse JSON that must be an object; errors (also absurd nesting) start with `what`."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise AffectlabError(f"{what} (JSON nested too deeply)") from None
    except ValueError as exc:
        raise AffectlabError(f"{what} (not valid JSON: {exc})") from exc
    if not isinstance(data, dict):
        raise AffectlabError(f"{what} (not a JSON object)")
    return data


def parse_info_json(text: str, where: str) -> tuple[ModelInfo, dict[str, Any]]:
    """Parse the affectlab info JSON stored in a safetensors or ONNX file; return (info, the raw JSON)."""
    data = _json_object(text, f"{where}: unreadable affectlab model info")
    return ModelInfo.from_dict(data, where), data


def require_safetensors(path: str | Path) -> None:
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
            "training run, use its model.safetensors, or convert a Lightning checkpoint with "
            "affectlab.models.weights_from_lightning_ckpt(CKPT, OUT), which reads only tensors and plain "
            "data (weights_only=True) and refuses anything else"
        )
    raise AffectlabError(f"{path}: not a safetensors weights file (unrecognised content)")


def read_info(path: str | Path) -> ModelInfo:
    """Read and validate the ModelInfo of a safetensors weights file from its header alone."""
    require_safetensors(path)
    header = read_header(path)
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or META_KEY not in meta:
        raise AffectlabError(
            f"{path}: a safetensors file without affectlab model info; it was not written by affectlab "
            "(import foreign weights with affectlab.models.import_legacy_state_dict or pretrained=PATH)"
        )
    info, _ = parse_info_json(str(meta[META_KEY]), str(path))
    head = header.get("expression.weight")
    shape = head.get("shape") if isinstance(head, dict) else None
    if isinstance(shape, list) and shape and shape[0] != info.num_classes:
        raise AffectlabError(
            f"{path}: class count mismatch: the weights have {shape[0]} expression outputs but the file "
            f"lists {info.num_classes} class names ({list(info.class_names)})"
        )
    return info
