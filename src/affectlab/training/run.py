"""`train(config) -> run folder`: set up the run, fit with Lightning, export the best weights, score them."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn

from affectlab.errors import AffectlabError
from affectlab.io import ensure_writable
from affectlab.preprocessing.spec import Preprocess
from affectlab.training.callbacks import InterruptCheckpoint
from affectlab.training.config import TrainConfig, load_config, save_config
from affectlab.training.datamodule import AffectDataModule
from affectlab.training.module import AffectModule, NonFiniteLossError
from affectlab.training.trainer import build_callbacks, build_trainer

log = logging.getLogger(__name__)


class TrainingInterrupted(AffectlabError):
    """Training stopped on SIGTERM or Ctrl-C after saving a checkpoint."""


def _class_weights(dm: AffectDataModule, num_classes: int) -> list[float]:
    expr = dm.train_expressions()
    counts = np.bincount(expr[expr >= 0], minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / (num_classes * np.maximum(counts, 1)), 0.0)
    return [float(w) for w in weights]


def _check_resume(out: Path, run_info: dict[str, Any]) -> None:
    ckpt = out / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        raise AffectlabError(f"cannot resume: {ckpt} not found (start a new run without --resume)")
    path = out / "run.json"
    if not path.is_file():
        return
    before = json.loads(path.read_text())
    for key in ("arch", "class_names", "preprocess"):
        if before.get(key) != run_info[key]:
            raise AffectlabError(f"cannot resume {out}: {key} was {before.get(key)!r}, now {run_info[key]!r}")
    old, new = before.get("dataset", {}), run_info["dataset"]
    for key in ("source", "path", "manifest_sha256", "sizes"):
        if old.get(key) != new.get(key):
            raise AffectlabError(
                f"cannot resume {out}: dataset {key} was {old.get(key)!r}, now {new.get(key)!r} "
                "(a run resumes only on the data it started with)"
            )


def _keep_old_csv(out: Path) -> None:
    csv = out / "logs" / "metrics.csv"
    if csv.is_file():
        k = 1
        while (out / "logs" / f"metrics.{k}.csv").exists():
            k += 1
        csv.rename(out / "logs" / f"metrics.{k}.csv")


def _run_info(cfg: TrainConfig, dm: AffectDataModule, preprocess: Preprocess) -> dict[str, Any]:
    """What the run folder records about itself (run.json): what a resumed run must match."""
    return {
        "arch": cfg.model.arch,
        "class_names": dm.class_names,
        "image_size": dm.image_size,
        "dataset": dm.fingerprint(),
        "preprocess": preprocess.to_dict(),
    }


def _fit(
    trainer: pl.Trainer,
    module: AffectModule,
    dm: AffectDataModule,
    cfg: TrainConfig,
    interrupt: InterruptCheckpoint,
) -> None:
    """Run trainer.fit, turning a NaN stop or an interruption into an AffectlabError saying how to resume."""
    out = Path(cfg.out)
    last = out / "checkpoints" / "last.ckpt"
    hint = f"affectlab train --resume --out {out}"
    warnings.filterwarnings("ignore", message=r".*overridden `on_after_batch_transfer`.*")
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=last if cfg.resume else None)
    except NonFiniteLossError as exc:
        good = f"last good checkpoint: {last}" if last.exists() else "no checkpoint was written before it"
        raise AffectlabError(
            f"{exc}; {good}. Lower optim.lr, set trainer.gradient_clip_val, or use nan_policy=skip, "
            f"then `{hint}`"
        ) from None
    except SystemExit:  # SIGTERMException, and Lightning's exit after a Ctrl-C
        if interrupt.interrupted_by is None:
            raise
        saved = f"checkpoint saved to {last}" if interrupt.saved else "no checkpoint could be saved"
        raise TrainingInterrupted(
            f"training stopped by {interrupt.interrupted_by}; {saved}; resume with `{hint}`"
        ) from None


def _export_best(
    module: AffectModule, best: Path, out: Path, preprocess: Preprocess, meta: dict[str, Any]
) -> Any:
    """Load the best checkpoint's weights into the model and write model.safetensors; return its ModelInfo."""
    from affectlab.models import ModelInfo, save_weights
    from affectlab.models.artifacts import WEIGHTS_NAME

    state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
    weights = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
    module.model.load_state_dict(weights)
    info = ModelInfo(
        arch=module.cfg.model.arch,
        class_names=tuple(module.class_names),
        preprocess=preprocess,
        metadata=meta,
    )
    save_weights(module.model, info, out / WEIGHTS_NAME)
    return info


def _final_metrics(
    module: AffectModule, info: Any, dm: AffectDataModule, cfg: TrainConfig, device: Any
) -> dict[str, Any]:
    """Score the exported model on the validation split through the one evaluation path (metrics.json)."""
    from affectlab.evaluation.evaluate import evaluate_model, metrics_record
    from affectlab.evaluation.runner import load_for_eval

    assert dm.val_split is not None
    loaded = load_for_eval((module.model, info), run_dir=cfg.out)
    pred, metrics, ci, seconds = evaluate_model(
        loaded, dm.val_split, batch_size=cfg.data.val_batch_size or cfg.data.batch_size, device=str(device)
    )
    data = {"path": cfg.data.path or "in-memory", "split": cfg.data.val_split}
    return metrics_record(
        loaded, data, pred, metrics, ci, device=str(device), seconds=round(seconds, 3), training=info.metadata
    )


def _finish(
    trainer: pl.Trainer,
    module: AffectModule,
    dm: AffectDataModule,
    cfg: TrainConfig,
    best: Path,
    preprocess: Preprocess,
) -> None:
    """Export the best weights with their info and write metrics.json (rank 0 only)."""
    from affectlab.evaluation.evaluate import write_json

    out = Path(cfg.out)
    score = getattr(trainer.checkpoint_callback, "best_model_score", None)
    meta = {
        "monitor": cfg.monitor,
        "best_score": None if score is None else float(score),
        "best_checkpoint": best.name,
        "epochs_trained": trainer.current_epoch,
        "global_step": trainer.global_step,
        "skipped_steps": module.skipped_steps,
        "dataset": dm.fingerprint(),
    }
    info = _export_best(module, best, out, preprocess, meta)
    write_json(out / "metrics.json", _final_metrics(module, info, dm, cfg, trainer.strategy.root_device))
    log.info("run folder: %s (best %s = %s)", out, cfg.monitor, meta["best_score"])


def train(
    config: str | Path | dict[str, Any] | TrainConfig | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
    *,
    train_split: Any = None,
    val_split: Any = None,
    model: nn.Module | None = None,
) -> Path:
    """Train a multi-task affect model and return its run folder (see docs/training.md)."""
    cfg = load_config(config, overrides)
    out = Path(cfg.out)
    ensure_writable(out, "run folder")
    hint = f"affectlab train --resume --out {out}"
    last = out / "checkpoints" / "last.ckpt"
    if not cfg.resume and last.exists():
        raise AffectlabError(f"{out} already holds a run; continue it with `{hint}` or choose another --out")
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    dm = AffectDataModule(cfg, train_split, val_split)
    preprocess = dm.preprocess()  # from the data itself: size, margin, alignment (never a default)
    run_info = _run_info(cfg, dm, preprocess)
    if cfg.resume:
        _check_resume(out, run_info)
        _keep_old_csv(out)
    weights = _class_weights(dm, len(dm.class_names)) if cfg.loss.class_weights == "balanced" else None
    module = AffectModule(
        cfg.to_dict(), dm.class_names, class_weights=weights, model=model, preprocess=preprocess.to_dict()
    )
    callbacks, ckpt_cb, interrupt_cb = build_callbacks(cfg, out, hint)
    trainer = build_trainer(cfg, out, callbacks)
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        (out / "run.json").write_text(json.dumps(run_info, indent=2))
    _fit(trainer, module, dm, cfg, interrupt_cb)
    if trainer.is_global_zero:
        best = Path(ckpt_cb.best_model_path) if ckpt_cb.best_model_path else last
        _finish(trainer, module, dm, cfg, best, preprocess)
    return out
