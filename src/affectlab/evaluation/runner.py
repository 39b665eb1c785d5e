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
    #: ONNX Runtime intra-op threads (None: its default); torch's are set process-wide by the caller.
    threads: int | None = None
    #: The model's temperature scaling (affectlab.models.calibration.Calibration), or None.
    calibration: Any = None

    def backend(self, device: Any) -> Any:
        """The inference backend of this model on `device` (PyTorch, or ONNX Runtime for .onnx files)."""
        from affectlab.inference.backends import OnnxBackend, TorchBackend

        if self.model is None:
            return OnnxBackend(self.artifact.path, self.preprocess, str(device), threads=self.threads)
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
        calibration=getattr(info, "calibration", None),
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


def _run(backend: Any, crops: np.ndarray, tta: str | None, calibration: Any) -> dict[str, np.ndarray]:
    """Probabilities (calibrated if given), raw ones, logits, valence and arousal; 'flip' averages passes."""
    from affectlab.inference.backends import probabilities

    passes = [backend.run(crops)]
    if tta == "flip":
        passes.append(backend.run(np.ascontiguousarray(crops[:, :, ::-1])))
    out = {
        "probs": np.mean([probabilities(p[0], calibration) for p in passes], axis=0),
        "raw_probs": np.mean([probabilities(p[0]) for p in passes], axis=0),
        "logits": np.mean([p[0] for p in passes], axis=0),
        "pred_valence": np.mean([p[1] for p in passes], axis=0),
        "pred_arousal": np.mean([p[2] for p in passes], axis=0),
    }
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def predict_split(
    loaded: LoadedModel,
    split: Any,
    *,
    tta: str | None = None,
    batch_size: int = 128,
    device: str = "auto",
    progress: bool = True,
    calibrated: bool = True,
) -> Predictions:
    """Run the model over every sample of a split; ``tta='flip'`` averages a horizontally flipped pass.

    ``probs`` are calibrated by the model's temperature unless ``calibrated=False``; the raw logits and (for a
    calibrated model) the uncalibrated probabilities are kept beside them.
    """
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
    calibration = loaded.calibration if calibrated else None
    outputs = ("probs", "raw_probs", "logits", "pred_valence", "pred_arousal")
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("index", "expression", "valence", "arousal", *outputs)
    }
    columns = (TextColumn("evaluate"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    from rich.console import Console

    bar_console = Console(stderr=True)  # stdout is the caller's (a script printing results, a pipe)
    with Progress(*columns, console=bar_console, disable=not progress, transient=True) as bar:
        task = bar.add_task("evaluate", total=n)
        for start in range(0, n, batch_size):
            batch = split.get_batch(np.arange(start, min(start + batch_size, n)))
            for key, value in _run(backend, batch["image"], tta, calibration).items():
                parts[key].append(value)
            for key in ("index", "expression", "valence", "arousal"):
                parts[key].append(np.asarray(batch[key]))
            bar.advance(task, len(batch["index"]))
    arrays: dict[str, Any] = {k: np.concatenate(v) for k, v in parts.items()}
    if not np.all(np.isfinite(arrays["probs"])):
        raise AffectlabError("the model produced NaN/inf outputs; the weights may be corrupt")
    if calibration is None:
        arrays["raw_probs"] = None  # the same numbers as probs
    return Predictions(class_names=list(loaded.class_names), **arrays)
