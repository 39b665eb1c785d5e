"""Final validation of a trained model: predictions over a split, then flat/per-class/confusion metrics."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torchmetrics.functional import concordance_corrcoef, mean_squared_error, pearson_corrcoef
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)

from affectlab.data.sampling import FaceSplitLike
from affectlab.data.transforms import prepare_batch
from affectlab.preprocessing import Preprocess

log = logging.getLogger(__name__)


@torch.no_grad()
def predict_split(
    model: nn.Module,
    split: FaceSplitLike,
    preprocess: Preprocess,
    device: torch.device,
    batch_size: int = 128,
) -> dict[str, np.ndarray]:
    """Run the model over a whole split; return labels and predictions as numpy arrays."""
    was_training = model.training
    model.eval().to(device)
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("expression", "valence", "arousal", "probs", "pred_valence", "pred_arousal")
    }
    for start in range(0, len(split), batch_size):
        batch = split.get_batch(np.arange(start, min(start + batch_size, len(split))))
        images = torch.from_numpy(np.ascontiguousarray(batch["image"])).to(device)
        out = model(prepare_batch(images, preprocess.mean, preprocess.std))
        parts["probs"].append(torch.softmax(out["expression"].float(), 1).cpu().numpy())
        parts["pred_valence"].append(out["valence"].float().reshape(-1).cpu().numpy())
        parts["pred_arousal"].append(out["arousal"].float().reshape(-1).cpu().numpy())
        for key in ("expression", "valence", "arousal"):
            parts[key].append(np.asarray(batch[key]))
    model.train(was_training)
    return {k: np.concatenate(v) for k, v in parts.items()}


def _f(x: torch.Tensor) -> float:
    value = float(x)
    return value if math.isfinite(value) else float("nan")


def final_metrics(
    model: nn.Module,
    split: FaceSplitLike,
    preprocess: Preprocess,
    class_names: list[str],
    device: torch.device,
    batch_size: int = 128,
) -> dict[str, Any]:
    """Flat metrics (`expression_accuracy`, `valence_ccc`, ...), per-class scores and the confusion matrix."""
    p = predict_split(model, split, preprocess, device, batch_size)
    c = len(class_names)
    result: dict[str, Any] = {"num_samples": len(split), "class_names": list(class_names)}
    valid = p["expression"] >= 0
    if valid.any():
        probs = torch.from_numpy(p["probs"][valid])
        target = torch.from_numpy(p["expression"][valid]).long()
        result["expression_accuracy"] = _f(multiclass_accuracy(probs, target, c, average="micro"))
        result["expression_balanced_accuracy"] = _f(multiclass_accuracy(probs, target, c, average="macro"))
        result["expression_f1_macro"] = _f(multiclass_f1_score(probs, target, c, average="macro"))
        prec = multiclass_precision(probs, target, c, average="none")
        rec = multiclass_recall(probs, target, c, average="none")
        f1 = multiclass_f1_score(probs, target, c, average="none")
        support = torch.bincount(target, minlength=c)
        result["per_class"] = {
            name: {
                "precision": _f(prec[i]),
                "recall": _f(rec[i]),
                "f1": _f(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        }
        result["confusion"] = multiclass_confusion_matrix(probs, target, c).tolist()
    for task in ("valence", "arousal"):
        mask = np.isfinite(p[task])
        if mask.sum() < 2:
            continue
        pred = torch.from_numpy(p[f"pred_{task}"][mask]).double()
        tgt = torch.from_numpy(p[task][mask]).double()
        result[f"{task}_ccc"] = _f(concordance_corrcoef(pred, tgt))
        result[f"{task}_rmse"] = _f(mean_squared_error(pred, tgt, squared=False))
        result[f"{task}_pearson"] = _f(pearson_corrcoef(pred, tgt))
    parts = [result.get(k, math.nan) for k in ("expression_f1_macro", "valence_ccc", "arousal_ccc")]
    parts = [x for x in parts if math.isfinite(x)]
    result["score"] = sum(parts) / len(parts) if parts else math.nan
    result.update(_affectlab_metrics(p, class_names))
    return result


def _affectlab_metrics(p: dict[str, np.ndarray], class_names: list[str]) -> dict[str, Any]:
    """The shared `affectlab.metrics.affect_metrics` keys on the same predictions (the evaluate command's)."""
    try:
        from affectlab.metrics import affect_metrics
    except ImportError:
        return {}
    try:
        return affect_metrics(
            p["expression"],
            p["probs"],
            p["valence"],
            p["pred_valence"],
            p["arousal"],
            p["pred_arousal"],
            class_names=class_names,
        )
    except Exception as exc:  # the torchmetrics figures above still stand
        log.warning("affectlab.metrics.affect_metrics skipped: %s", exc)
        return {}
