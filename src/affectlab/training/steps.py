"""What a training step keeps on the device so that it never waits for it: loss checks and running sums.

A host read of a device tensor (``bool(t)``, ``t.item()``, a boolean-mask gather, a per-step ``sync_dist``)
stalls a GPU until its queue drains. The training step records into the two objects below instead; the host
reads them every few steps (`FiniteGuard`) or once per epoch (`RunningSums`).
"""

from __future__ import annotations

from typing import Any

import torch

Where = tuple[int, int, int]


def where_text(where: Where) -> str:
    """'global step S (epoch E, batch B)'."""
    step, epoch, batch = where
    return f"global step {step} (epoch {epoch}, batch {batch})"


def finite_check_every(setting: int | None, log_every: int, device: torch.device) -> int:
    """Steps between host checks of the loss: the setting, else 1 on the CPU (free), `log_every` elsewhere."""
    if setting is not None:
        return max(1, int(setting))
    return 1 if device.type == "cpu" else max(1, int(log_every))


class FiniteGuard:
    """Non-finite-loss flags of the last `every` steps, kept on the device and read in one sync."""

    def __init__(self, every: int) -> None:
        self.every = max(1, every)
        self._flags: torch.Tensor | None = None
        self._where: list[Where] = []

    def record(self, loss: torch.Tensor, where: Where) -> None:
        """Note (on the device) whether this step's loss is finite; `where` names the step."""
        if self._flags is None or self._flags.device != loss.device:
            self._flags = torch.zeros(self.every, dtype=torch.bool, device=loss.device)
        if len(self._where) == self.every:  # a check was skipped (should not happen): keep the oldest
            return
        self._flags[len(self._where)] = ~torch.isfinite(loss.detach())
        self._where.append(where)

    def due(self) -> bool:
        """True when `every` steps are recorded (time for the host to look)."""
        return len(self._where) >= self.every

    def first_bad(self, strategy: Any = None) -> Where | None:
        """Read the flags (any rank's, via `strategy.reduce`) and clear them; return the first bad step."""
        if not self._where or self._flags is None:
            return None
        flags = self._flags[: len(self._where)].to(torch.float32)
        if strategy is not None:
            flags = strategy.reduce(flags, reduce_op="max")
        where, self._where = self._where, []
        self._flags.zero_()
        hits = torch.nonzero(flags > 0).reshape(-1).tolist()  # the one host sync
        return where[hits[0]] if hits else None


class RunningSums:
    """Per-epoch sums of the loss terms (weighted by batch size) and of right/labelled predictions."""

    def __init__(self) -> None:
        self._sums: torch.Tensor | None = None
        self._names: list[str] = []

    def reset(self) -> None:
        """Start a new epoch."""
        self._sums = None

    def add(self, terms: dict[str, torch.Tensor], logits: torch.Tensor, target: torch.Tensor, n: int) -> None:
        """Add one batch: every term times `n`, correct and labelled counts (argmax; -1 = unlabelled)."""
        names = list(terms)
        labelled = target >= 0
        correct = (logits.argmax(dim=1) == target) & labelled
        values = torch.stack(
            [*(terms[k].detach().float() * n for k in names), correct.sum().float(), labelled.sum().float()]
        )
        total = values.new_full((1,), float(n))  # a constant fill on the device: no copy from the host
        row = torch.cat([values, total])
        if self._sums is None or names != self._names:
            self._sums, self._names = row, names
        else:
            self._sums += row

    def means(self, strategy: Any = None) -> dict[str, float]:
        """Epoch means, summed over ranks (one reduction, one host read): train/loss_<term> and accuracy."""
        if self._sums is None:
            return {}
        sums = self._sums if strategy is None else strategy.reduce(self._sums.clone(), reduce_op="sum")
        values = sums.tolist()
        *term_sums, correct, labelled, total = values
        out = {}
        for name, value in zip(self._names, term_sums, strict=True):
            out["train/loss_epoch" if name == "loss" else f"train/loss_{name}"] = value / max(total, 1.0)
        if labelled > 0:
            out["train/expression_accuracy"] = correct / labelled
        self._sums = None
        return out
