"""One way to open a model: a run folder, a model.safetensors or an exported .onnx file, judged by content.

``open_model`` is what predict, evaluate, export and serve call. It reads and validates what the file declares
(architecture, class names vs the number of expression outputs, preprocessing values) before any weights are
loaded, and never unpickles: Lightning ``.ckpt`` files and other pickles are refused with the way out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from affectlab.errors import AffectlabError
from affectlab.io import file_sha256
from affectlab.models.info import ModelInfo, read_info, sniff_format

if TYPE_CHECKING:
    from affectlab.models.registry import AffectModel

#: File name of the inference weights inside a run folder.
WEIGHTS_NAME = "model.safetensors"


def resolve_model_file(path: str | Path) -> tuple[Path, Path | None]:
    """Return (model file, run folder or None) for a run folder, a weights file or an ONNX file."""
    p = Path(path)
    if p.is_dir():
        weights = p / WEIGHTS_NAME
        if not weights.is_file():
            hint = (
                " (training has not finished, or was interrupted: resume it with "
                f"`affectlab train --resume --out {p}`)"
                if (p / "checkpoints").is_dir()
                else ""
            )
            raise AffectlabError(
                f"{p}: no {WEIGHTS_NAME} in this folder{hint}; give a run folder, a model.safetensors "
                "or an exported .onnx file"
            )
        return weights, p
    if not p.is_file():
        raise AffectlabError(
            f"{p}: no such file or folder; give a run folder, a model.safetensors or an exported .onnx file"
        )
    parent = p.parent
    is_run = p.name == WEIGHTS_NAME and (
        (parent / "run.json").is_file() or (parent / "config.yaml").is_file()
    )
    return p, parent if is_run else None


@dataclass
class ModelArtifact:
    """An opened, validated model file: where it is, its format, its info and its run folder (if any)."""

    path: Path
    format: str
    info: ModelInfo
    run_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the model file."""
        return file_sha256(self.path)

    def load_torch(self, device: str = "cpu") -> AffectModel:
        """Build the PyTorch model with these weights (safetensors files only)."""
        if self.format != "safetensors":
            raise AffectlabError(
                f"{self.path} is an ONNX file: it runs on ONNX Runtime (predict, serve and evaluate take it "
                "as is); PyTorch needs the model.safetensors it was exported from"
            )
        from affectlab.models.weights import load_weights

        model, _ = load_weights(self.path, device)
        return model


def open_model(path: str | Path) -> ModelArtifact:
    """Open a run folder, a .safetensors weights file or an .onnx export, validating what it declares."""
    file, run_dir = resolve_model_file(path)
    kind = sniff_format(file)
    if kind == "safetensors":
        return ModelArtifact(file, "safetensors", read_info(file), run_dir)
    if kind == "onnx" or (kind == "unknown" and file.suffix.lower() == ".onnx"):
        from affectlab.models.onnx import load_onnx_info

        return ModelArtifact(file, "onnx", load_onnx_info(file), run_dir)
    if kind in ("zip", "pickle"):
        what = "a Lightning resume checkpoint" if file.suffix == ".ckpt" else "a pickle/torch checkpoint"
        raise AffectlabError(
            f"{file}: {what} (a {kind} file, whatever its name), which can run code when loaded, so "
            "affectlab does not open it for inference; use the run folder or its model.safetensors, or "
            "convert a Lightning checkpoint with affectlab.models.weights_from_lightning_ckpt(CKPT, OUT), "
            "which reads only tensors and plain data (weights_only=True) and refuses anything else"
        )
    raise AffectlabError(f"{file}: not a model file affectlab knows (expected .safetensors or .onnx content)")
