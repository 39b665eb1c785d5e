"""The LightningModule: multi-task model, masked losses as a dict of terms, epoch metrics, optimizers."""

from __future__ import annotations

import logging
import math
from typing import Any, cast

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from affectlab.data.transforms import BatchAugment, prepare_batch
from affectlab.errors import AffectlabError
from affectlab.training.config import LossConfig, TrainConfig, load_config
from affectlab.training.steps import FiniteGuard, RunningSums, finite_check_every
from affectlab.training.steps import where_text as _where

log = logging.getLogger(__name__)

VA_TASKS = ("valence", "arousal")
#: The three tasks, in the order of the model's outputs.
TASKS: tuple[str, ...] = ("expression", *VA_TASKS)
#: affectlab.metrics keys logged as `val/<key>` after every validation epoch (with `val/score`).
VAL_LOGGED = (
    "expression_accuracy",
    "expression_balanced_accuracy",
    "expression_f1_macro",
    "expression_cohen_kappa",
    *(f"{task}_{m}" for task in VA_TASKS for m in ("ccc", "rmse", "corr", "sagr")),
)


class NonFiniteLossError(AffectlabError):
    """The loss became NaN/inf and `nan_policy` is `stop`."""

    def __init__(self, message: str, step: int, epoch: int) -> None:
        super().__init__(message)
        self.step = step
        self.epoch = epoch


def _masked_ccc(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Concordance correlation over the masked entries (differentiable)."""
    m = mask.to(pred.dtype)
    n = m.sum().clamp(min=1.0)
    mp = (pred * m).sum() / n
    mt = (target * m).sum() / n
    vp = (((pred - mp) ** 2) * m).sum() / n
    vt = (((target - mt) ** 2) * m).sum() / n
    cov = ((pred - mp) * (target - mt) * m).sum() / n
    return 2.0 * cov / (vp + vt + (mp - mt) ** 2 + 1e-8)


def compute_losses(
    outputs: dict[str, torch.Tensor],
    batch: dict[str, torch.Tensor],
    cfg: LossConfig,
    class_weights: torch.Tensor | None = None,
    tasks: tuple[str, ...] | list[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Return the loss terms of `tasks` (default: all three) and their weighted sum under "loss".

    Missing labels (-1 / NaN) are masked; a task with no label in the batch adds exactly 0 (its CCC term
    too), and a task outside `tasks` (no labels in the training data) has no term at all. No host sync.
    """
    tasks = TASKS if tasks is None else tuple(tasks)
    terms: dict[str, torch.Tensor] = {}
    total = outputs["expression"].float().sum() * 0.0  # keeps the graph when every term is absent
    if "expression" in tasks:
        logits = outputs["expression"].float()
        target = batch["expression"].long()
        valid = target >= 0
        per = F.cross_entropy(
            logits,
            target,
            weight=class_weights,
            ignore_index=-1,
            reduction="none",
            label_smoothing=cfg.label_smoothing,
        )
        weights = class_weights[target.clamp(min=0)] * valid if class_weights is not None else valid
        terms["expression"] = per.sum() / weights.sum().clamp(min=1e-8)
        total = total + cfg.expression_weight * terms["expression"]
    for task in VA_TASKS:
        if task not in tasks:
            continue
        pred = outputs[task].float().reshape(-1)
        tgt = batch[task].float().reshape(-1)
        mask = torch.isfinite(tgt)
        tgt = torch.where(mask, tgt, torch.zeros_like(tgt))
        count = mask.sum()
        terms[task] = (((pred - tgt) ** 2) * mask).sum() / count.clamp(min=1)
        task_loss = terms[task]
        if cfg.ccc_weight > 0:
            # (count > 0): a batch without this task's labels adds nothing, not the constant 1 - 0.
            terms[f"{task}_ccc"] = (1.0 - _masked_ccc(pred, tgt, mask)) * (count > 0)
            task_loss = task_loss + cfg.ccc_weight * terms[f"{task}_ccc"]
        total = total + getattr(cfg, f"{task}_weight") * task_loss
    terms["loss"] = total
    return terms


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two optimiser groups: weights with `weight_decay`; norm scales/shifts and biases (1-D) without."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, o: Any, **extra: Any) -> torch.optim.Optimizer:
    """The optimiser of `optim.*`; every one leaves norms and biases out of weight decay.

    `extra` goes to the optimiser as is (``fused=True`` on CUDA, from `speed.fused_optimizer`).
    """
    groups = parameter_groups(model, o.weight_decay)
    betas = (o.betas[0], o.betas[1])
    if o.name == "adamw":
        return torch.optim.AdamW(groups, lr=o.lr, betas=betas, **extra)
    if o.name == "adam":
        return torch.optim.Adam(groups, lr=o.lr, betas=betas, **extra)
    return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.momentum > 0, **extra)


class WarmupCosine:
    """LR multiplier: linear warmup over `warmup` steps, then cosine decay to `min_ratio` at `total` steps."""

    def __init__(self, warmup: int, total: int, min_ratio: float) -> None:
        self.warmup, self.total, self.min_ratio = warmup, max(total, 1), min_ratio

    def __call__(self, step: int) -> float:
        """Return the multiplier for optimizer step `step`."""
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def gather_rows(module: pl.LightningModule, tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate a per-rank tensor of any length along dim 0 across DDP ranks (one rank: itself)."""
    if module.trainer.world_size == 1:
        return tensor
    count = torch.tensor([tensor.shape[0]], device=tensor.device)
    sizes = cast(torch.Tensor, module.all_gather(count)).reshape(-1)
    padded = tensor.new_zeros((int(sizes.max()), *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    gathered = cast(torch.Tensor, module.all_gather(padded))
    return torch.cat([gathered[rank, : int(n)] for rank, n in enumerate(sizes)])


def model_from_config(cfg: TrainConfig, num_classes: int) -> nn.Module:
    """Build the multi-task model that `model.*` describes (architecture, heads, initialisation)."""
    from affectlab.models import build_model

    m = cfg.model
    return build_model(
        m.arch,
        num_classes=num_classes,
        pretrained=m.pretrained,
        dropout=m.dropout,
        va_activation=m.va_activation,
        zero_init_residual=m.zero_init_residual,
        stochastic_depth=m.stochastic_depth,
        bn_momentum=m.bn_momentum,
    )


class AffectModule(pl.LightningModule):
    """Train a multi-task affect model (expression logits, valence, arousal) under a `TrainConfig`."""

    def __init__(
        self,
        config: dict[str, Any],
        class_names: list[str],
        class_weights: list[float] | None = None,
        model: nn.Module | None = None,
        preprocess: dict[str, Any] | None = None,
        tasks: list[str] | None = None,
    ) -> None:
        super().__init__()
        # `preprocess` is kept only in the hyper-parameters, so a checkpoint says how its faces were cut.
        self.save_hyperparameters(ignore=["model"])
        self.cfg: TrainConfig = load_config(config)
        self.class_names = list(class_names)
        #: The tasks with labels in the training data: the only ones in the loss, metrics and score.
        self.tasks: tuple[str, ...] = TASKS if tasks is None else tuple(t for t in TASKS if t in tasks)
        if model is None:
            model = model_from_config(self.cfg, len(self.class_names))
        if self.cfg.model.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        weights = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weights", weights, persistent=False)
        a = self.cfg.augment
        self.augment = (
            BatchAugment(
                (a.crop_scale[0], a.crop_scale[1]),
                (a.crop_ratio[0], a.crop_ratio[1]),
                a.hflip,
                a.brightness,
                a.contrast,
                a.saturation,
                a.erasing,
                (a.erasing_scale[0], a.erasing_scale[1]),
                seed=self.cfg.seed,
            )
            if a.enabled
            else None
        )
        # Running progress figures only (every reported metric comes from affectlab.metrics), summed on
        # the device and read once per epoch.
        self.train_sums = RunningSums()
        self.finite_guard = FiniteGuard(1)
        self._val_parts: list[dict[str, torch.Tensor]] = []
        self.skipped_steps = 0
        self._compiled: Any = None

    def _class_weights(self) -> torch.Tensor | None:
        """The cross-entropy class weights buffer (None: unweighted)."""
        return cast("torch.Tensor | None", self.class_weights)

    def configure_model(self) -> None:
        """Compile the model for this process when `model.compile` is set."""
        if self.cfg.model.compile and self._compiled is None:
            self.__dict__["_compiled"] = torch.compile(self.model)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the (optionally compiled) model on a normalised NCHW batch."""
        return (self._compiled or self.model)(x)

    def on_after_batch_transfer(self, batch: dict[str, torch.Tensor], dataloader_idx: int) -> dict[str, Any]:
        """On device: uint8 NHWC -> normalised float NCHW (channels_last), augmented when training."""
        if batch["image"].dtype == torch.uint8:
            training = self._trainer is not None and self.trainer.training
            batch = dict(batch)
            batch["image"] = prepare_batch(
                batch["image"],
                self.cfg.data.mean,
                self.cfg.data.std,
                self.augment if training else None,
                self.cfg.model.channels_last,
            )
        return batch

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor | None:
        """Forward, loss terms, non-finite guard, running sums kept on the device (no per-step host sync)."""
        outputs = self(batch["image"])
        terms = compute_losses(outputs, batch, self.cfg.loss, self._class_weights(), self.tasks)
        loss = terms["loss"]
        where = (self.trainer.global_step, self.current_epoch, batch_idx)
        if self.cfg.nan_policy == "skip":
            finite = bool(torch.isfinite(loss.detach()))  # skipping must be decided now: one sync per step
            if not self.trainer.strategy.reduce_boolean_decision(finite, all=True):
                self.skipped_steps += 1
                log.warning(
                    "non-finite loss at %s: step skipped (%d skipped so far)",
                    _where(where),
                    self.skipped_steps,
                )
                self.log("train/skipped_steps", float(self.skipped_steps), on_step=True, on_epoch=False)
                return None
        else:
            self.finite_guard.record(loss, where)
            if self.finite_guard.due():
                self._check_finite()
        n = batch["image"].shape[0]
        # The step value reaches the logger every `log_every_n_steps` steps; the progress bar reads it every
        # step, so it shows it only where the host reads the loss every step anyway (the CPU default).
        bar = self.finite_guard.every == 1
        self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False, prog_bar=bar, batch_size=n)
        self.train_sums.add(terms, outputs["expression"].detach(), batch["expression"], n)
        return loss

    def _check_finite(self) -> None:
        """Ask the device (all ranks) whether a recorded loss was non-finite; stop naming the first one."""
        bad = self.finite_guard.first_bad(self.trainer.strategy)
        if bad is not None:
            step, epoch, _ = bad
            raise NonFiniteLossError(f"non-finite loss at {_where(bad)}", step, epoch)

    def on_train_epoch_start(self) -> None:
        """Start the epoch's on-device running sums."""
        self.train_sums.reset()

    def on_train_epoch_end(self) -> None:
        """Check pending losses; log the epoch's mean loss terms and accuracy (one reduction, one sync)."""
        if self.cfg.nan_policy != "skip":
            self._check_finite()
        for key, value in self.train_sums.means(self.trainer.strategy).items():
            self.log(key, value, on_step=False, on_epoch=True)

    def on_fit_start(self) -> None:
        """How often the host reads the loss flags: every step on the CPU, every few on a GPU."""
        every = finite_check_every(
            self.cfg.speed.finite_check_every,
            int(getattr(self.trainer, "log_every_n_steps", 50)),
            self.device,
        )
        self.finite_guard = FiniteGuard(every)

    def _fitting(self) -> bool:
        return self._trainer is not None and self.trainer.state.fn == "fit" and self.cfg.nan_policy != "skip"

    def on_validation_start(self) -> None:
        """No checkpoint may follow a non-finite step unnoticed: check pending losses before validating."""
        if self._fitting():
            self._check_finite()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse to save weights that a pending non-finite step may have corrupted."""
        if self._fitting():
            self._check_finite()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Log validation losses; keep the batch's outputs and labels (on device) for the epoch's metrics."""
        outputs = self(batch["image"])
        terms = compute_losses(outputs, batch, self.cfg.loss, self._class_weights(), self.tasks)
        n = batch["image"].shape[0]
        for name, value in terms.items():
            key = "val/loss" if name == "loss" else f"val/loss_{name}"
            self.log(key, value, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        self._val_parts.append(
            {
                "probs": torch.softmax(outputs["expression"].float(), dim=1).detach(),
                "pred_valence": outputs["valence"].float().reshape(-1).detach(),
                "pred_arousal": outputs["arousal"].float().reshape(-1).detach(),
                "expression": batch["expression"].long(),
                "valence": batch["valence"].float().reshape(-1),
                "arousal": batch["arousal"].float().reshape(-1),
            }
        )

    def on_validation_epoch_start(self) -> None:
        """Start collecting a new epoch's outputs."""
        self._val_parts = []

    def on_validation_epoch_end(self) -> None:
        """Score the whole validation split with affectlab.metrics (all ranks' outputs); log `val/score`."""
        from affectlab.evaluation.evaluate import score
        from affectlab.evaluation.predictions import Predictions

        if not self._val_parts:
            return
        arrays = {
            key: gather_rows(self, torch.cat([part[key] for part in self._val_parts])).cpu().numpy()
            for key in self._val_parts[0]
        }
        self._val_parts = []
        outputs = ("probs", "pred_valence", "pred_arousal")
        if not all(np.all(np.isfinite(arrays[k])) for k in outputs):
            log.warning("validation outputs are NaN/inf at epoch %d: val/score is NaN", self.current_epoch)
            self.log("val/score", float("nan"), prog_bar=True)
            return
        metrics, _ = score(Predictions.from_arrays(self.class_names, arrays), n_boot=0, tasks=self.tasks)
        for key in VAL_LOGGED:
            if metrics.get(key) is not None:
                self.log(f"val/{key}", float(metrics[key]))
        # Every rank holds the same gathered outputs, so the monitored value agrees without another sync.
        value = metrics["score"]
        self.log("val/score", float("nan") if value is None else float(value), prog_bar=True)

    def _fused(self) -> dict[str, bool]:
        """`fused=True` (one kernel per optimiser step) on CUDA when `speed.fused_optimizer` is on.

        Not with fp16 loss scaling plus clipping: a fused step unscales inside itself, after the clipping.
        """
        if not self.cfg.speed.fused_optimizer or self.device.type != "cuda":
            return {}
        if self.cfg.trainer.gradient_clip_val and self._loss_scaler() is not None:
            return {}
        return {"fused": True}

    def _loss_scaler(self) -> Any:
        return getattr(self.trainer.precision_plugin, "scaler", None) if self._trainer is not None else None

    def configure_gradient_clipping(
        self,
        optimizer: Any,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip as configured; a fused optimizer without loss scaling (bf16) is clipped here directly, since
        Lightning's mixed-precision plugin refuses to clip for any fused optimizer."""
        fused = getattr(optimizer, "_step_supports_amp_scaling", False)
        if gradient_clip_val and fused and self._loss_scaler() is None:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            if gradient_clip_algorithm == "value":
                torch.nn.utils.clip_grad_value_(params, gradient_clip_val)
            else:
                torch.nn.utils.clip_grad_norm_(params, gradient_clip_val)
            return
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self) -> Any:
        """Optimizer and LR schedule from `optim.*` and `scheduler.*`."""
        s = self.cfg.scheduler
        opt = build_optimizer(self.model, self.cfg.optim, **self._fused())
        if s.name == "none":
            return opt
        if s.name == "step":
            step = torch.optim.lr_scheduler.StepLR(opt, step_size=s.step_size, gamma=s.gamma)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": step, "interval": "epoch"}}
        total = int(self.trainer.estimated_stepping_batches)
        warmup = int(round(s.warmup_epochs * total / max(1, self.trainer.max_epochs or 1)))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosine(warmup, total, s.min_lr_ratio))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
