"""Building the Lightning Trainer of a run: callbacks, loggers, precision, progress bar."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

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
from affectlab.training.console import EpochLog

log = logging.getLogger(__name__)


def runs_on_cpu(cfg: TrainConfig) -> bool:
    """True when the run trains on the CPU (asked for, or `auto` without a GPU)."""
    t = cfg.trainer
    return t.accelerator == "cpu" or (t.accelerator == "auto" and not torch.cuda.is_available())


def _processes_per_node(cfg: TrainConfig) -> int:
    """CPU processes a DDP run starts on this machine (1 unless `trainer.devices` is a count > 1)."""
    devices = cfg.trainer.devices
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    return devices if isinstance(devices, int) and devices > 1 else 1


def apply_speed(cfg: TrainConfig) -> dict[str, Any]:
    """Set this process's speed settings (`speed.*`): torch threads, cuDNN autotuning, TF32; return them.

    Threads default to the physical cores, shared among the CPU processes of a DDP run on one machine.
    """
    from affectlab.threads import physical_cores, resolve_threads, set_torch_threads

    s, on_cpu = cfg.speed, runs_on_cpu(cfg)
    share = max(1, physical_cores() // _processes_per_node(cfg)) if on_cpu else None
    threads = set_torch_threads(resolve_threads(s.threads, share))
    if not on_cpu:
        torch.backends.cudnn.benchmark = s.cudnn_benchmark
        torch.backends.cuda.matmul.allow_tf32 = s.tf32
        torch.backends.cudnn.allow_tf32 = s.tf32
    return {
        "device": "cpu" if on_cpu else "gpu",
        "threads": threads,
        "cudnn_benchmark": None if on_cpu else s.cudnn_benchmark,
        "tf32": None if on_cpu else s.tf32,
        "fused_optimizer": None if on_cpu else s.fused_optimizer,
        "channels_last": cfg.model.channels_last,
        "precision": resolve_precision(cfg, on_cpu),
        "fill_uninitialized_memory": s.fill_uninitialized_memory,
        "finite_check_every": s.finite_check_every,
    }


def resolve_precision(cfg: TrainConfig, on_cpu: bool) -> str:
    """The Lightning precision: the configured one, or bf16/fp16 mixed on a GPU and fp32 on the CPU."""
    if cfg.trainer.precision != "auto":
        return cfg.trainer.precision
    if not on_cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "16-mixed" if not on_cpu and torch.cuda.is_available() else "32-true"


def progress_bar(kind: str) -> pl.Callback | None:
    """The progress bar callback for `trainer.progress_bar` (None: no bar), drawn on stderr.

    Without a terminal ("auto" into a log file) a bar is a stream of carriage returns: `EpochLog`'s one line
    per epoch is added instead (`build_callbacks`).
    """
    if kind == "none":
        return None
    if kind == "rich" or (kind == "auto" and sys.stderr.isatty()):
        return RichProgressBar(console_kwargs={"stderr": True})
    if kind == "tqdm":
        return TQDMProgressBar(refresh_rate=1 if sys.stdout.isatty() else 20)
    return None


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
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    # last.ckpt after every epoch, improved or not: Lightning's save_last writes it only when a top-k
    # checkpoint was saved in the same step, so a run whose score fell would resume (and export=last
    # would export) an older epoch. A second callback without a monitor keeps one file, replaced each epoch.
    last_cb = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="last",
        monitor=None,
        save_top_k=1,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    interrupt_cb = InterruptCheckpoint(out / "checkpoints" / "last.ckpt", hint)
    callbacks: list[pl.Callback] = [ckpt_cb, last_cb, interrupt_cb, RngState(), LearningRateMonitor("step")]
    if cfg.trainer.early_stopping_patience > 0:
        callbacks.append(
            EarlyStopping(cfg.monitor, patience=cfg.trainer.early_stopping_patience, mode=cfg.monitor_mode)
        )
    bar = progress_bar(cfg.trainer.progress_bar)
    scored = "selection" if cfg.selection.split == "holdout" else cfg.data.val_split
    callbacks.append(bar if bar is not None else EpochLog(cfg.monitor, cfg.monitor_mode, scored))
    return callbacks, ckpt_cb, interrupt_cb


def build_trainer(cfg: TrainConfig, out: Path, callbacks: list[pl.Callback]) -> pl.Trainer:
    """The Lightning Trainer for a run folder, with CSV and TensorBoard logs under out/logs."""
    t = cfg.trainer
    on_cpu = runs_on_cpu(cfg)
    deterministic = on_cpu if t.deterministic is None else t.deterministic
    loggers = [
        CSVLogger(save_dir=out, name="logs", version=""),
        TensorBoardLogger(save_dir=out / "logs", name="tensorboard", version="", default_hp_metric=False),
    ]
    trainer = pl.Trainer(
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
        deterministic=deterministic,
        benchmark=None if on_cpu or deterministic else cfg.speed.cudnn_benchmark,
        enable_progress_bar=any(isinstance(c, (RichProgressBar, TQDMProgressBar)) for c in callbacks),
        use_distributed_sampler=False,
        num_sanity_val_steps=0,
        enable_model_summary=False,  # affectlab logs the model and data in one line (training.console)
        default_root_dir=out,
        plugins=[AtomicCheckpointIO()],
    )
    if deterministic:
        # Lightning turned on torch's deterministic algorithms, which also fill every new tensor with NaN
        # (to expose reads of uninitialised memory): 20-30% of a CPU step, the same results without it.
        torch.utils.deterministic.fill_uninitialized_memory = cfg.speed.fill_uninitialized_memory  # type: ignore[attr-defined]
    return trainer
