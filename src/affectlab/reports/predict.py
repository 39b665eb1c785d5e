"""Load a model for evaluation and run it over a split, batched, with optional flip test-time augmentation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.preprocess import Preprocess

log = logging.getLogger(__name__)

#: Test-time augmentations `evaluate` understands.
TTA_MODES = ("flip",)


@dataclass
class Predictions:
    """Labels and model outputs for every sample of a split, in split order."""

    class_names: list[str]
    index: np.ndarray
    expression: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray
    probs: np.ndarray
    pred_valence: np.ndarray
    pred_arousal: np.ndarray

    @property
    def pred_expression(self) -> np.ndarray:
        """Return the argmax class of every sample."""
        return np.argmax(self.probs, axis=1)

    def save(self, path: Path) -> None:
        """Write the predictions to a compressed .npz file."""
        np.savez_compressed(
            path,
            class_names=np.array(self.class_names),
            index=self.index,
            expression=self.expression,
            valence=self.valence,
            arousal=self.arousal,
            probs=self.probs,
            pred_valence=self.pred_valence,
            pred_arousal=self.pred_arousal,
        )

    @classmethod
    def load(cls, path: str | Path) -> Predictions:
        """Read predictions written by :meth:`save`."""
        with np.load(path) as data:
            fields = {key: data[key] for key in data.files}
        fields["class_names"] = [str(n) for n in fields["class_names"]]
        return cls(**fields)


@dataclass
class LoadedModel:
    """A model ready for evaluation plus where it came from."""

    model: Any
    arch: str
    class_names: list[str]
    preprocess: Preprocess
    metadata: dict[str, Any]
    weights_path: Path | None
    run_dir: Path | None


def resolve_weights(path: str | Path) -> tuple[Path, Path | None]:
    """Return (weights file, run folder or None) for a `model.safetensors` path or a run folder."""
    p = Path(path)
    if p.is_dir():
        weights = p / "model.safetensors"
        if not weights.is_file():
            hint = " (training may not have finished)" if (p / "checkpoints").is_dir() else ""
            raise AffectlabError(
                f"{p}: no model.safetensors in this folder{hint}; pass a run folder or "
                "a model.safetensors file"
            )
        return weights, p
    if not p.is_file():
        raise AffectlabError(f"{p}: no such file or folder; pass a model.safetensors file or a run folder")
    parent = p.parent
    is_run = (parent / "run.json").is_file() or (parent / "logs").is_dir()
    return p, parent if is_run else None


def _preprocess_of(info: Any) -> Preprocess:
    pre = getattr(info, "preprocess", None)
    if isinstance(pre, Preprocess):
        return pre
    if isinstance(pre, dict):
        return Preprocess.from_dict(pre)
    raise AffectlabError("the weights carry no preprocessing information (size/mean/std); re-export them")


def load_for_eval(weights: Any, run_dir: str | Path | None = None) -> LoadedModel:
    """Load weights (a path, a run folder or a ``(model, ModelInfo)`` pair) for evaluation."""
    if isinstance(weights, tuple) and len(weights) == 2:
        model, info = weights
        path: Path | None = None
        found_run: Path | None = None
    else:
        path, found_run = resolve_weights(weights)
        try:
            from affectlab.models import load_weights
        except ImportError as exc:  # pragma: no cover - the models package is part of affectlab
            raise AffectlabError(f"cannot load {path}: affectlab.models is unavailable ({exc})") from exc
        model, info = load_weights(path)
    return LoadedModel(
        model=model,
        arch=str(getattr(info, "arch", "unknown")),
        class_names=list(info.class_names),
        preprocess=_preprocess_of(info),
        metadata=dict(getattr(info, "metadata", None) or {}),
        weights_path=path,
        run_dir=Path(run_dir) if run_dir is not None else found_run,
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


def _to_input(images: np.ndarray, preprocess: Preprocess, device: Any) -> Any:
    """uint8 NHWC numpy -> normalised float NCHW tensor at the model's input size."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-1] != preprocess.size or x.shape[-2] != preprocess.size:
        x = F.interpolate(
            x, size=(preprocess.size, preprocess.size), mode="bilinear", align_corners=False, antialias=True
        )
    mean = torch.tensor(preprocess.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(preprocess.std, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


def _outputs(model: Any, x: Any) -> tuple[Any, Any, Any]:
    import torch

    out = model(x)
    return (
        torch.softmax(out["expression"].float(), dim=1),
        out["valence"].float().reshape(-1),
        out["arousal"].float().reshape(-1),
    )


def predict(
    loaded: LoadedModel,
    split: Any,
    *,
    tta: str | None = None,
    batch_size: int = 128,
    device: str = "auto",
    progress: bool = True,
) -> Predictions:
    """Run the model over every sample of a split; ``tta='flip'`` averages a horizontally flipped pass."""
    import torch

    if tta is not None and tta not in TTA_MODES:
        raise AffectlabError(f"unknown --tta {tta!r}; choose one of {', '.join(TTA_MODES)} (or leave it out)")
    if batch_size < 1:
        raise AffectlabError(f"--batch-size must be at least 1, got {batch_size}")
    n = len(split)
    if n == 0:
        raise AffectlabError("the split is empty: nothing to evaluate")
    if split.image_size != loaded.preprocess.size:
        log.warning(
            "data images are %d px but the model expects %d px: resizing on the fly",
            split.image_size,
            loaded.preprocess.size,
        )
    dev = pick_device(device)
    model = loaded.model
    was_training = bool(getattr(model, "training", False))
    model.eval().to(dev)
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("index", "expression", "valence", "arousal", "probs", "pred_valence", "pred_arousal")
    }
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("evaluate"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=True) as bar, torch.inference_mode():
        task = bar.add_task("evaluate", total=n)
        for start in range(0, n, batch_size):
            batch = split.get_batch(np.arange(start, min(start + batch_size, n)))
            x = _to_input(batch["image"], loaded.preprocess, dev)
            probs, val, aro = _outputs(model, x)
            if tta == "flip":
                probs_f, val_f, aro_f = _outputs(model, torch.flip(x, dims=[3]))
                probs, val, aro = (probs + probs_f) / 2, (val + val_f) / 2, (aro + aro_f) / 2
            parts["probs"].append(probs.cpu().numpy().astype(np.float32))
            parts["pred_valence"].append(val.cpu().numpy().astype(np.float32))
            parts["pred_arousal"].append(aro.cpu().numpy().astype(np.float32))
            for key in ("index", "expression", "valence", "arousal"):
                parts[key].append(np.asarray(batch[key]))
            bar.advance(task, len(batch["index"]))
    model.train(was_training)
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    if not np.all(np.isfinite(arrays["probs"])):
        raise AffectlabError("the model produced NaN/inf outputs; the weights may be corrupt")
    return Predictions(class_names=list(loaded.class_names), **arrays)
