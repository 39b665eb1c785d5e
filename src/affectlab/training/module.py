"""The LightningModule: multi-task model, masked losses as a dict of terms, torchmetrics, optimizers."""

from __future__ import annotations

import logging
import math
from typing import Any, cast

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from affectlab.data.transforms import BatchAugment, prepare_batch
from affectlab.errors import AffectlabError
from affectlab.training.config import LossConfig, TrainConfig, load_config

log = logging.getLogger(__name__)

VA_TASKS = ("valence", "arousal")
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
) -> dict[str, torch.Tensor]:
    """Return the loss terms and their weighted sum under "loss"; missing labels (-1 / NaN) are masked."""
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
    denom = (class_weights[target.clamp(min=0)] * valid).sum() if class_weights is not None else valid.sum()
    terms = {"expression": per.sum() / denom.clamp(min=1e-8)}
    total = cfg.expression_weight * terms["expression"]
    for task in VA_TASKS:
        pred = outputs[task].float().reshape(-1)
        tgt = batch[task].float().reshape(-1)
        mask = torch.isfinite(tgt)
        tgt = torch.where(mask, tgt, torch.zeros_like(tgt))
        mse = (((pred - tgt) ** 2) * mask).sum() / mask.sum().clamp(min=1)
        terms[task] = mse
        task_loss = mse
        if cfg.ccc_weight > 0:
            terms[f"{task}_ccc"] = 1.0 - _masked_ccc(pred, tgt, mask)
            task_loss = task_loss + cfg.ccc_weight * terms[f"{task}_ccc"]
        total = total + getattr(cfg, f"{task}_weight") * task_loss
    terms["loss"] = total
    return terms


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


class AffectModule(pl.LightningModule):
    """Train a multi-task affect model (expression logits, valence, arousal) under a `TrainConfig`."""

    def __init__(
        self,
        config: dict[str, Any],
        class_names: list[str],
        class_weights: list[float] | None = None,
        model: nn.Module | None = None,
        preprocess: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        # `preprocess` is kept only in the hyper-parameters, so a checkpoint says how its faces were cut.
        self.save_hyperparameters(ignore=["model"])
        self.cfg: TrainConfig = load_config(config)
        self.class_names = list(class_names)
        num_classes = len(self.class_names)
        if model is None:
            from affectlab.models import build_model

            model = build_model(
                self.cfg.model.arch, num_classes=num_classes, pretrained=self.cfg.model.pretrained
            )
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
        # A running progress figure only; every reported metric comes from affectlab.metrics.
        self.train_accuracy = MulticlassAccuracy(num_classes, average="micro")
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
        """Forward, loss terms, non-finite guard, running metrics."""
        outputs = self(batch["image"])
        terms = compute_losses(outputs, batch, self.cfg.loss, self._class_weights())
        loss = terms["loss"]
        finite = self.trainer.strategy.reduce_boolean_decision(bool(torch.isfinite(loss)), all=True)
        if not finite:
            step, epoch = self.trainer.global_step, self.current_epoch
            where = f"global step {step} (epoch {epoch}, batch {batch_idx})"
            if self.cfg.nan_policy == "stop":
                raise NonFiniteLossError(f"non-finite loss ({loss.item()}) at {where}", step, epoch)
            self.skipped_steps += 1
            log.warning("non-finite loss at %s: step skipped (%d skipped so far)", where, self.skipped_steps)
            self.log("train/skipped_steps", float(self.skipped_steps), on_step=True, on_epoch=False)
            return None
        n = batch["image"].shape[0]
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        for name, value in terms.items():
            if name != "loss":
                self.log(
                    f"train/loss_{name}", value, on_step=False, on_epoch=True, batch_size=n, sync_dist=True
                )
        valid = batch["expression"] >= 0
        self.train_accuracy.update(outputs["expression"].detach()[valid], batch["expression"][valid])
        self.log("train/expression_accuracy", self.train_accuracy, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Log validation losses; keep the batch's outputs and labels (on device) for the epoch's metrics."""
        outputs = self(batch["image"])
        terms = compute_losses(outputs, batch, self.cfg.loss, self._class_weights())
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
        metrics, _ = score(Predictions.from_arrays(self.class_names, arrays), n_boot=0)
        for key in VAL_LOGGED:
            if metrics.get(key) is not None:
                self.log(f"val/{key}", float(metrics[key]))
        # Every rank holds the same gathered outputs, so the monitored value agrees without another sync.
        value = metrics["score"]
        self.log("val/score", float("nan") if value is None else float(value), prog_bar=True)

    def configure_optimizers(self) -> Any:
        """Optimizer and LR schedule from `optim.*` and `scheduler.*`."""
        o, s = self.cfg.optim, self.cfg.scheduler
        decay = [p for p in self.model.parameters() if p.requires_grad and p.ndim > 1]
        no_decay = [p for p in self.model.parameters() if p.requires_grad and p.ndim <= 1]
        if o.name == "adamw":
            groups = [
                {"params": decay, "weight_decay": o.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ]
            opt: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=o.lr, betas=(o.betas[0], o.betas[1]))
        elif o.name == "adam":
            opt = torch.optim.Adam(
                self.model.parameters(), lr=o.lr, betas=(o.betas[0], o.betas[1]), weight_decay=o.weight_decay
            )
        else:
            opt = torch.optim.SGD(
                self.model.parameters(),
                lr=o.lr,
                momentum=o.momentum,
                weight_decay=o.weight_decay,
                nesterov=o.momentum > 0,
            )
        if s.name == "none":
            return opt
        if s.name == "step":
            step = torch.optim.lr_scheduler.StepLR(opt, step_size=s.step_size, gamma=s.gamma)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": step, "interval": "epoch"}}
        total = int(self.trainer.estimated_stepping_batches)
        warmup = int(round(s.warmup_epochs * total / max(1, self.trainer.max_epochs or 1)))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosine(warmup, total, s.min_lr_ratio))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
