"""The evaluation runner: open a model and run it over a split, batched, with optional flip TTA.

The model runs through the same backends as ``predict`` and ``serve`` (affectlab.inference.backends), on the
split's uint8 crops, so an evaluation sees exactly the pixels that prediction on the same files would.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.evaluation.predictions import Predictions
from affectlab.preprocessing.spec import Preprocess

log = logging.getLogger(__name__)

#: Test-time augmentations `evaluate` understands.
TTA_MODES = ("flip",)


@dataclass
class LoadedModel:
    """A model ready for evaluation plus where it came from (``model`` is None for an ONNX file)."""

    model: Any
    arch: str
    class_names: list[str]
    preprocess: Preprocess
    metadata: dict[str, Any]
    weights_path: Path | None
    run_dir: Path | None
    artifact: Any = None

    def backend(self, device: Any) -> Any:
        """The inference backend of this model on `device` (PyTorch, or ONNX Runtime for .onnx files)."""
        from affectlab.inference.backends import OnnxBackend, TorchBackend

        if self.model is None:
            return OnnxBackend(self.artifact.path, self.preprocess, str(device))
        return TorchBackend(self.model, self.preprocess, str(device))


def load_for_eval(weights: Any, run_dir: str | Path | None = None) -> LoadedModel:
    """Open weights (a run folder, a .safetensors or .onnx file, or a ``(model, ModelInfo)`` pair)."""
    if isinstance(weights, tuple) and len(weights) == 2:
        model, info = weights
        path: Path | None = None
        found_run: Path | None = None
        artifact = None
    else:
        from affectlab.models.artifacts import open_model

        artifact = open_model(weights)
        info, path, found_run = artifact.info, artifact.path, artifact.run_dir
        model = artifact.load_torch() if artifact.format == "safetensors" else None
    return LoadedModel(
        model=model,
        arch=str(info.arch),
        class_names=list(info.class_names),
        preprocess=info.preprocess,
        metadata=dict(info.metadata or {}),
        weights_path=path,
        run_dir=Path(run_dir) if run_dir is not None else found_run,
        artifact=artifact,
    )


def pick_device(device: str = "auto") -> Any:
    """Return a torch device: 'auto' picks CUDA when available, else CPU."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise AffectlabError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AffectlabError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    return dev


def check_split_pixels(split: Any, preprocess: Preprocess) -> None:
    """Refuse a split whose faces were cut differently from the model's training faces (no silent resize)."""
    found = (int(split.image_size), getattr(split, "crop_margin", None), getattr(split, "align", None))
    wanted = (preprocess.size, preprocess.crop_margin, preprocess.align)
    if (
        found[0] != wanted[0]
        or (found[1] is not None and abs(found[1] - wanted[1]) > 1e-9)
        or (found[2] is not None and found[2] != wanted[2])
    ):
        raise AffectlabError(
            f"the data's faces are cut as (size {found[0]}, margin {found[1]}, align {found[2]}) but the "
            f"model was trained on (size {wanted[0]}, margin {wanted[1]}, align {wanted[2]}); evaluate "
            "on the raw dataset (it is cut to the model's settings) or prepare a store with those settings"
        )


def _run(backend: Any, crops: np.ndarray, tta: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities, valence and arousal for uint8 crops; 'flip' averages a mirrored pass."""
    from affectlab.inference.backends import softmax

    logits, val, aro = backend.run(crops)
    probs = softmax(logits)
    if tta == "flip":
        logits_f, val_f, aro_f = backend.run(np.ascontiguousarray(crops[:, :, ::-1]))
        probs, val, aro = (probs + softmax(logits_f)) / 2, (val + val_f) / 2, (aro + aro_f) / 2
    return probs, val, aro


def predict_split(
    loaded: LoadedModel,
    split: Any,
    *,
    tta: str | None = None,
    batch_size: int = 128,
    device: str = "auto",
    progress: bool = True,
) -> Predictions:
    """Run the model over every sample of a split; ``tta='flip'`` averages a horizontally flipped pass."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if tta is not None and tta not in TTA_MODES:
        raise AffectlabError(f"unknown --tta {tta!r}; choose one of {', '.join(TTA_MODES)} (or leave it out)")
    if batch_size < 1:
        raise AffectlabError(f"--batch-size must be at least 1, got {batch_size}")
    n = len(split)
    if n == 0:
        raise AffectlabError("the split is empty: nothing to evaluate")
    check_split_pixels(split, loaded.preprocess)
    backend = loaded.backend(pick_device(device))
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("index", "expression", "valence", "arousal", "probs", "pred_valence", "pred_arousal")
    }
    columns = (TextColumn("evaluate"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("evaluate", total=n)
        for start in range(0, n, batch_size):
            batch = split.get_batch(np.arange(start, min(start + batch_size, n)))
            probs, val, aro = _run(backend, batch["image"], tta)
            parts["probs"].append(probs.astype(np.float32))
            parts["pred_valence"].append(np.asarray(val, np.float32))
            parts["pred_arousal"].append(np.asarray(aro, np.float32))
            for key in ("index", "expression", "valence", "arousal"):
                parts[key].append(np.asarray(batch[key]))
            bar.advance(task, len(batch["index"]))
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    if not np.all(np.isfinite(arrays["probs"])):
        raise AffectlabError("the model produced NaN/inf outputs; the weights may be corrupt")
    return Predictions(class_names=list(loaded.class_names), **arrays)
