"""Loading the served model and describing it for `GET /v1/model`."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

from affectlab.errors import AffectlabError

#: Largest safetensors JSON header read when looking for the architecture name.
_MAX_HEADER = 16 * 1024 * 1024


def open_predictor(path: Path) -> Any:
    """Load a Predictor for a weights or ONNX file and build its detector now (fail at start, not later)."""
    from affectlab.inference.predictor import Predictor

    predictor = Predictor.load(path)
    _ = predictor.detector
    return predictor


def sha256_of(path: Path) -> str:
    """Return the SHA-256 of a file (affectlab.models.file_sha256 when available)."""
    try:
        from affectlab.models import file_sha256  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    return str(file_sha256(path))


def _find_key(obj: Any, keys: tuple[str, ...], depth: int = 0) -> Any:
    """Search nested dicts (and JSON-encoded strings) for the first of `keys`."""
    if depth > 4:
        return None
    if isinstance(obj, str) and obj[:1] == "{":
        try:
            obj = json.loads(obj)
        except ValueError:
            return None
    if isinstance(obj, dict):
        for key in keys:
            if isinstance(obj.get(key), str):
                return obj[key]
        for value in obj.values():
            found = _find_key(value, keys, depth + 1)
            if found is not None:
                return found
    return None


def _safetensors_metadata(path: Path) -> dict[str, Any]:
    """Read a safetensors file's `__metadata__` without loading tensors (and without unpickling)."""
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            return {}
        (size,) = struct.unpack("<Q", head)
        if size > _MAX_HEADER:
            return {}
        try:
            header = json.loads(fh.read(size))
        except ValueError:
            return {}
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def _architecture(predictor: Any, path: Path, file_format: str) -> str | None:
    for attr in ("arch", "architecture"):
        if isinstance(getattr(predictor, attr, None), str):
            return str(getattr(predictor, attr))
    info = getattr(predictor, "info", None)
    if info is not None and isinstance(getattr(info, "arch", None), str):
        return str(info.arch)
    keys = ("arch", "architecture")
    if file_format == "onnx":
        try:
            from affectlab.inference.export import load_onnx_info

            onnx_info = load_onnx_info(path)
        except (ImportError, AffectlabError):
            return None
        arch = getattr(onnx_info, "arch", None)
        return str(arch) if arch else _find_key(getattr(onnx_info, "metadata", {}), keys)
    return _find_key(_safetensors_metadata(path), keys)


def describe_model(predictor: Any, path: Path) -> dict[str, Any]:
    """Describe the loaded model: architecture, classes, input size, preprocessing, detector, file hash."""
    file_format = "onnx" if path.suffix.lower() == ".onnx" else "safetensors"
    preprocess = getattr(predictor, "preprocess", None)
    detector = getattr(predictor, "_detector", None) or getattr(predictor, "detector", None)
    pre_dict = preprocess.to_dict() if preprocess is not None and hasattr(preprocess, "to_dict") else None
    return {
        "architecture": _architecture(predictor, path, file_format),
        "classes": list(getattr(predictor, "class_names", ())),
        "input_size": getattr(preprocess, "size", None),
        "preprocess": pre_dict,
        "detector": getattr(detector, "name", None),
        "device": getattr(predictor, "device", None),
        "format": file_format,
        "file": path.name,
        "sha256": sha256_of(path),
        "size_bytes": path.stat().st_size,
    }
