"""`train(config) -> run folder`: config, data, module, callbacks and loggers in a Lightning Trainer."""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import (
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    RichProgressBar,
    TQDMProgressBar,
)
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch import nn

from affectlab.errors import AffectlabError
from affectlab.io import ensure_writable
from affectlab.preprocessing.spec import Preprocess
from affectlab.training.callbacks import InterruptCheckpoint, RngState
from affectlab.training.checkpoint_io import AtomicCheckpointIO
from affectlab.training.config import TrainConfig, load_config, save_config
from affectlab.training.datamodule import AffectDataModule
from affectlab.training.evaluate import final_metrics
from affectlab.training.module import AffectModule, NonFiniteLossError

log = logging.getLogger(__name__)


class TrainingInterrupted(AffectlabError):
    """Training stopped on SIGTERM or Ctrl-C after saving a checkpoint."""


def _resolve_precision(cfg: TrainConfig, on_cpu: bool) -> str:
    if cfg.trainer.precision != "auto":
        return cfg.trainer.precision
    if not on_cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "16-mixed" if not on_cpu and torch.cuda.is_available() else "32-true"


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


def _progress_bar(kind: str) -> pl.Callback | None:
    if kind == "none":
        return None
    if kind == "rich" or (kind == "auto" and sys.stdout.isatty()):
        return RichProgressBar()
    return TQDMProgressBar(refresh_rate=1 if sys.stdout.isatty() else 20)


def _keep_old_csv(out: Path) -> None:
    csv = out / "logs" / "metrics.csv"
    if csv.is_file():
        k = 1
        while (out / "logs" / f"metrics.{k}.csv").exists():
            k += 1
        csv.rename(out / "logs" / f"metrics.{k}.csv")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.tolist()
    return str(value)


def _export_best(
    module: AffectModule, best: Path, out: Path, preprocess: Preprocess, meta: dict[str, Any]
) -> Path:
    from affectlab.models import ModelInfo, save_weights

    state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
    weights = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
    module.model.load_state_dict(weights)
    info = ModelInfo(
        arch=module.cfg.model.arch, class_names=list(module.class_names), preprocess=preprocess, metadata=meta
    )
    path = out / "model.safetensors"
    save_weights(module.model, info, path)
    return path


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
    class_names = dm.class_names
    preprocess = dm.preprocess()  # from the data itself: size, margin, alignment (never a default)
    run_info = {
        "arch": cfg.model.arch,
        "class_names": class_names,
        "image_size": dm.image_size,
        "dataset": dm.fingerprint(),
        "preprocess": preprocess.to_dict(),
    }
    if cfg.resume:
        _check_resume(out, run_info)
    weights = _class_weights(dm, len(class_names)) if cfg.loss.class_weights == "balanced" else None
    module = AffectModule(
        cfg.to_dict(), class_names, class_weights=weights, model=model, preprocess=preprocess.to_dict()
    )

    t = cfg.trainer
    on_cpu = t.accelerator == "cpu" or (t.accelerator == "auto" and not torch.cuda.is_available())
    deterministic = on_cpu if t.deterministic is None else t.deterministic
    ckpt_cb = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="best",
        monitor=cfg.monitor,
        mode=cfg.monitor_mode,
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    interrupt_cb = InterruptCheckpoint(last, hint)
    callbacks: list[pl.Callback] = [ckpt_cb, interrupt_cb, RngState(), LearningRateMonitor("step")]
    if t.early_stopping_patience > 0:
        callbacks.append(
            EarlyStopping(cfg.monitor, patience=t.early_stopping_patience, mode=cfg.monitor_mode)
        )
    bar = _progress_bar(t.progress_bar)
    if bar is not None:
        callbacks.append(bar)
    if cfg.resume:
        _keep_old_csv(out)
    loggers = [
        CSVLogger(save_dir=out, name="logs", version=""),
        TensorBoardLogger(save_dir=out / "logs", name="tensorboard", version="", default_hp_metric=False),
    ]
    trainer = pl.Trainer(
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=_resolve_precision(cfg, on_cpu),
        max_epochs=t.max_epochs,
        logger=loggers,
        callbacks=callbacks,
        gradient_clip_val=t.gradient_clip_val,
        accumulate_grad_batches=t.accumulate_grad_batches,
        limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches,
        log_every_n_steps=t.log_every_n_steps,
        deterministic=deterministic,
        enable_progress_bar=bar is not None,
        use_distributed_sampler=False,
        num_sanity_val_steps=0,
        default_root_dir=out,
        plugins=[AtomicCheckpointIO()],
    )
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        (out / "run.json").write_text(json.dumps(run_info, indent=2))
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
        if interrupt_cb.interrupted_by is None:
            raise
        saved = f"checkpoint saved to {last}" if interrupt_cb.saved else "no checkpoint could be saved"
        raise TrainingInterrupted(
            f"training stopped by {interrupt_cb.interrupted_by}; {saved}; resume with `{hint}`"
        ) from None
    if not trainer.is_global_zero:
        return out
    best = Path(ckpt_cb.best_model_path) if ckpt_cb.best_model_path else last
    score = ckpt_cb.best_model_score
    meta = {
        "monitor": cfg.monitor,
        "best_score": None if score is None else float(score),
        "best_checkpoint": best.name,
        "epochs_trained": trainer.current_epoch,
        "global_step": trainer.global_step,
        "skipped_steps": module.skipped_steps,
        "dataset": run_info["dataset"],
    }
    _export_best(module, best, out, preprocess, meta)
    assert dm.val_split is not None
    metrics = final_metrics(
        module.model,
        dm.val_split,
        preprocess,
        class_names,
        trainer.strategy.root_device,
        batch_size=cfg.data.val_batch_size or cfg.data.batch_size,
    )
    (out / "metrics.json").write_text(json.dumps({**meta, **metrics}, indent=2, default=_jsonable))
    log.info("run folder: %s (best %s = %s)", out, cfg.monitor, meta["best_score"])
    return out
