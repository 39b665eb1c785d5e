"""Checkpoint files of a run: atomic writes (temp file beside the target, fsync, rename), loads that never
unpickle code (``weights_only=True``, a clear error naming the file), the room they need, stale temp files."""

from __future__ import annotations

import logging
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)

#: `.NAME.tmp-PID`: what an atomic save of this process (or of a killed one) leaves while it writes.
_TEMP = re.compile(r"^\..+\.tmp-(\d+)$")
#: The key under which a checkpoint carries its run's facts (arch, classes, preprocessing, data).
RUN_KEY = "affectlab_run"
_WAY_OUT = "restore the file from a backup or start a new run (another --out, without --resume)"


def load_checkpoint_file(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a Lightning checkpoint with ``weights_only=True``: tensors and plain data only, never code.

    Anything else (a crafted pickle, a truncated or corrupt file, not a checkpoint) is an AffectlabError
    that names the file and says what to do.
    """
    file = Path(path)
    if not file.is_file():
        raise AffectlabError(f"{file}: checkpoint not found")
    if file.stat().st_size == 0:
        raise AffectlabError(f"{file}: empty checkpoint (0 bytes; a save was interrupted?); {_WAY_OUT}")
    try:
        ckpt = torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused a global: objects or code, not a training state
        raise AffectlabError(
            f"{file}: refused: it holds Python objects other than tensors and plain data (a crafted or "
            f"foreign pickle), which affectlab never loads; {_WAY_OUT}"
        ) from None
    except Exception as exc:  # torch: RuntimeError for a cut zip, EOFError, ValueError, OSError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AffectlabError(f"{file}: truncated or corrupt checkpoint ({first[:200]}); {_WAY_OUT}") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise AffectlabError(f"{file}: not a Lightning training checkpoint (no state_dict); {_WAY_OUT}")
    return ckpt


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write `.NAME.tmp-PID` in the checkpoint's own folder, fsync it, then os.replace onto the target;
    load with `weights_only=True` whatever the caller asks (Lightning's resume goes through here)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        """Save so that a kill at any moment leaves either the old or the new checkpoint, never a torn one."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as fh:
                torch.save(checkpoint, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """Load through :func:`load_checkpoint_file` (weights_only=True, clear errors): never code."""
        return load_checkpoint_file(path, map_location or (lambda storage, loc: storage))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temps(*folders: Path) -> list[Path]:
    """Delete `.NAME.tmp-PID` files left by killed saves (their PID no longer runs); return what went."""
    removed: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            match = _TEMP.match(entry.name)
            if match and entry.is_file() and not _pid_alive(int(match.group(1))):
                entry.unlink(missing_ok=True)
                removed.append(entry)
    if removed:
        log.info("removed %d temporary file(s) of interrupted saves: %s", len(removed), removed[:3])
    return removed


def checkpoint_bytes(model: torch.nn.Module, optimizer_copies: int = 2) -> int:
    """Estimated size of one checkpoint: parameters and buffers, plus the optimizer's per-parameter state
    (Adam/AdamW keep two moments; SGD with momentum one), plus 1 MiB for the rest."""
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return params * (1 + optimizer_copies) + buffers + (1 << 20)
