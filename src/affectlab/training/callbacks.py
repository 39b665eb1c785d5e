"""Callbacks: RNG state in checkpoints, a checkpoint on SIGTERM/Ctrl-C, and the resume hint."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)


def _numpy_state() -> list[Any]:
    """NumPy's global RNG state as plain types and a tensor (loadable with `weights_only=True`)."""
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    keys = np.asarray(keys)
    return [str(name), torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]


class RngState(pl.Callback):
    """Save and restore Python, NumPy, torch (CPU/CUDA) and augmentation RNG states with each checkpoint."""

    def __init__(self) -> None:
        self._module: Any = None
        self._pending_augment: dict[str, torch.Tensor] | None = None

    def state_dict(self) -> dict[str, Any]:
        """Current RNG states."""
        state: dict[str, Any] = {
            "python": random.getstate(),
            "numpy": _numpy_state(),
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        if self._module is not None and self._module.augment is not None:
            state["augment"] = self._module.augment.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore RNG states (augmentation state is applied when the module is attached)."""
        random.setstate(state_dict["python"])
        name, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
        self._pending_augment = state_dict.get("augment")
        if self._module is not None:
            self._apply_augment()

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Remember the module whose augmenter state travels with checkpoints."""
        self._module = pl_module
        self._apply_augment()

    def _apply_augment(self) -> None:
        if self._pending_augment and getattr(self._module, "augment", None) is not None:
            self._module.augment.load_state_dict(self._pending_augment)
            self._pending_augment = None


class InterruptCheckpoint(pl.Callback):
    """On SIGTERM or Ctrl-C, write `last.ckpt` before the run stops, and say how to resume."""

    def __init__(self, ckpt_path: Path, resume_hint: str) -> None:
        self.ckpt_path = Path(ckpt_path)
        self.resume_hint = resume_hint
        self.interrupted_by: str | None = None
        self.saved = False

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        """Save a checkpoint when the exception is an interruption, not an error."""
        if isinstance(exception, SIGTERMException):
            self.interrupted_by = "SIGTERM"
        elif isinstance(exception, KeyboardInterrupt):
            self.interrupted_by = "Ctrl-C"
        else:
            return
        try:
            trainer.save_checkpoint(self.ckpt_path)
            self.saved = True
        except Exception as exc:  # a failed save must not hide the interruption itself
            log.error("could not save a checkpoint on %s: %s", self.interrupted_by, exc)
            return
        if trainer.is_global_zero:
            log.warning(
                "%s received at epoch %d, global step %d: checkpoint saved to %s; resume with: %s",
                self.interrupted_by,
                trainer.current_epoch,
                trainer.global_step,
                self.ckpt_path,
                self.resume_hint,
            )
