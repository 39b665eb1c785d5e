"""Building the Lightning Trainer of a run: callbacks, loggers, precision, progress bar."""

from __future__ import annotations

import sys
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import (
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    RichProgressBar,
    TQDMProgressBar,
)
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from affectlab.training.callbacks import InterruptCheckpoint, RngState
from affectlab.training.checkpoint_io import AtomicCheckpointIO
from affectlab.training.config import TrainConfig


def resolve_precision(cfg: TrainConfig, on_cpu: bool) -> str:
    """The Lightning precision: the configured one, or bf16/fp16 mixed on a GPU and fp32 on the CPU."""
    if cfg.trainer.precision != "auto":
        return cfg.trainer.precision
    if not on_cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "16-mixed" if not on_cpu and torch.cuda.is_available() else "32-true"


def progress_bar(kind: str) -> pl.Callback | None:
    """The progress bar callback for `trainer.progress_bar` (None: no bar)."""
    if kind == "none":
        return None
    if kind == "rich" or (kind == "auto" and sys.stdout.isatty()):
        return RichProgressBar()
    return TQDMProgressBar(refresh_rate=1 if sys.stdout.isatty() else 20)


def build_callbacks(
    cfg: TrainConfig, out: Path, hint: str
) -> tuple[list[pl.Callback], ModelCheckpoint, InterruptCheckpoint]:
    """Checkpoints (best by the monitor, last), SIGTERM saving, RNG state, LR log, early stopping, bar."""
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
    interrupt_cb = InterruptCheckpoint(out / "checkpoints" / "last.ckpt", hint)
    callbacks: list[pl.Callback] = [ckpt_cb, interrupt_cb, RngState(), LearningRateMonitor("step")]
    if cfg.trainer.early_stopping_patience > 0:
        callbacks.append(
            EarlyStopping(cfg.monitor, patience=cfg.trainer.early_stopping_patience, mode=cfg.monitor_mode)
        )
    bar = progress_bar(cfg.trainer.progress_bar)
    if bar is not None:
        callbacks.append(bar)
    return callbacks, ckpt_cb, interrupt_cb


def build_trainer(cfg: TrainConfig, out: Path, callbacks: list[pl.Callback]) -> pl.Trainer:
    """The Lightning Trainer for a run folder, with CSV and TensorBoard logs under out/logs."""
    t = cfg.trainer
    on_cpu = t.accelerator == "cpu" or (t.accelerator == "auto" and not torch.cuda.is_available())
    loggers = [
        CSVLogger(save_dir=out, name="logs", version=""),
        TensorBoardLogger(save_dir=out / "logs", name="tensorboard", version="", default_hp_metric=False),
    ]
    return pl.Trainer(
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=resolve_precision(cfg, on_cpu),  # type: ignore[arg-type]
        max_epochs=t.max_epochs,
        logger=loggers,
        callbacks=callbacks,
        gradient_clip_val=t.gradient_clip_val,
        accumulate_grad_batches=t.accumulate_grad_batches,
        limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches,
        log_every_n_steps=t.log_every_n_steps,
        deterministic=on_cpu if t.deterministic is None else t.deterministic,
        enable_progress_bar=any(isinstance(c, (RichProgressBar, TQDMProgressBar)) for c in callbacks),
        use_distributed_sampler=False,
        num_sanity_val_steps=0,
        default_root_dir=out,
        plugins=[AtomicCheckpointIO()],
    )
