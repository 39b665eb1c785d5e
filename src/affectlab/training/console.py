"""What a training run prints: each Lightning message once, no adverts or known-harmless warnings, and one
line per epoch when no progress bar is drawn."""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl

log = logging.getLogger(__name__)

#: Lightning's loggers that carry their own handlers (set up at import, before the CLI configured logging).
LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")
#: Lightning INFO lines that say nothing about this run (adverts, "GPU available: False" on a CPU run ...).
NOISE = (
    "💡 Tip:",
    "GPU available:",
    "TPU available:",
    "HPU available:",
    "Loading `train_dataloader`",
    "`Trainer.fit` stopped: `max_epochs=",  # the end-of-run table follows
)
#: Warnings that do not apply to how affectlab drives Lightning (message regexes).
HARMLESS_WARNINGS = (
    # Lightning's own pytree helper calls a torch API that torch deprecated: nothing a user can change.
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
    # Small datasets have fewer batches than the step-logging interval; epoch-level metrics are logged anyway.
    r".*smaller than the logging interval Trainer\(log_every_n_steps.*",
    r".*overridden `on_after_batch_transfer`.*",
)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger("affectlab").isEnabledFor(logging.DEBUG):
            return True
        return not str(record.msg).startswith(NOISE)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Within the block, Lightning logs through the application's handlers once, without its noise."""
    saved: list[tuple[logging.Logger, list[logging.Handler], bool]] = []
    if logging.getLogger().hasHandlers():  # the application logs: let Lightning's records reach it once
        for name in LIGHTNING_LOGGERS:
            logger = logging.getLogger(name)
            saved.append((logger, list(logger.handlers), logger.propagate))
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True
    drop = _DropNoise()
    rank_zero = [logging.getLogger(f"lightning.{p}.utilities.rank_zero") for p in ("pytorch", "fabric")]
    for logger in rank_zero:
        logger.addFilter(drop)
    try:
        with warnings.catch_warnings():
            for pattern in HARMLESS_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for logger in rank_zero:
            logger.removeFilter(drop)
        for logger, handlers, propagate in saved:
            for handler in handlers:
                logger.addHandler(handler)
            logger.propagate = propagate


def describe_start(
    trainer: pl.Trainer, cfg: Any, module: pl.LightningModule, run_info: dict[str, Any]
) -> None:
    """Log, once, what is about to train: model, size, data, device, precision, epochs."""
    params = sum(p.numel() for p in module.parameters()) / 1e6
    sizes = run_info.get("dataset", {}).get("sizes", {})
    data = ", ".join(f"{n} {split}" for split, n in sizes.items()) or "?"
    log.info(
        "training %s (%.2f M parameters) on %s images at %s px, %s, %s precision, %d epochs -> %s",
        cfg.model.arch,
        params,
        data,
        run_info.get("image_size"),
        trainer.strategy.root_device,
        trainer.precision,
        cfg.trainer.max_epochs,
        cfg.out,
    )


def best_epoch(checkpoint: Any) -> int | None:
    """The 1-based epoch a Lightning checkpoint was saved at (None if it cannot be read)."""
    import torch

    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # an unreadable checkpoint is reported by the export that reads it next
        return None
    epoch = state.get("epoch") if isinstance(state, dict) else None
    return int(epoch) + 1 if isinstance(epoch, int) else None


def _fmt(value: Any) -> str:
    try:
        return f"{float(value):.4f}"
    except (TypeError, ValueError):
        return "-"


class EpochLog(pl.Callback):
    """One log line per finished epoch (loss, validation score, accuracy, time): the bar for log files."""

    def __init__(self, monitor: str = "val/score", mode: str = "max", split: str = "val") -> None:
        # `split`: the split scored each epoch (the held-out selection split, unless selection is off)
        self.monitor, self.mode, self.split = monitor, mode, split
        self._start = time.perf_counter()
        # summed on the device and read once an epoch: a per-step float() would make the host wait for the GPU
        self._loss_sum: Any = 0.0
        self._steps = 0
        self._best: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()
        self._loss_sum, self._steps = 0.0, 0

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None:
            self._loss_sum = self._loss_sum + loss.detach()
            self._steps += 1

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        m = trainer.callback_metrics
        score = m.get(self.monitor)
        value = None if score is None else float(score)
        better = value is not None and (self._best is None or (value > self._best) == (self.mode == "max"))
        best = better and value != self._best
        if best:
            self._best = value
        loss = float(self._loss_sum) / self._steps if self._steps else None
        log.info(
            "epoch %d/%d: train loss %s, %s %s%s, %s accuracy %s, %.1f s",
            trainer.current_epoch + 1,
            trainer.max_epochs,
            _fmt(loss),
            self.monitor,
            _fmt(score),
            " (best so far)" if best else "",
            self.split,
            _fmt(m.get("val/expression_accuracy")),
            time.perf_counter() - self._start,
        )
