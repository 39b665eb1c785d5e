"""`evaluate`: run a model over a split, score it with affectlab.metrics, write metrics.json and a report.

This is the one evaluation path: ``train()`` (its final metrics), ``evaluate`` and ``compare`` all score a
model through :func:`evaluate_model`, and every ``metrics.json`` is built by :func:`metrics_record`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.evaluation.predictions import Predictions
from affectlab.evaluation.runner import LoadedModel, load_for_eval, pick_device, predict_split
from affectlab.labels import check_same_classes

log = logging.getLogger(__name__)

#: Bootstrap resamples for the confidence intervals in reports.
N_BOOT = 1000
#: The metrics.json schema (documented in docs/metrics.md).
METRICS_FORMAT, METRICS_FORMAT_VERSION = "affectlab-metrics", 1


@dataclass
class EvalResult:
    """What `evaluate` produced: scores, predictions and the files written."""

    out: Path
    metrics: dict[str, Any]
    ci: dict[str, Any]
    predictions: Predictions
    metrics_path: Path
    report_html: Path
    report_md: Path
    official_validation: bool
    official_reason: str
    info: dict[str, Any] = field(default_factory=dict)
    loaded: LoadedModel | None = None


def score(pred: Predictions, n_boot: int = N_BOOT, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (metrics with the selection score under ``score``, bootstrap intervals) for predictions."""
    from affectlab.metrics import affect_metrics, affect_metrics_ci, selection_score

    metrics = affect_metrics(*pred.metric_args(), class_names=pred.class_names)
    metrics["score"] = selection_score(metrics)
    ci = affect_metrics_ci(*pred.metric_args(), n_boot=n_boot, seed=seed) if n_boot > 0 else {}
    return metrics, ci


def open_data(data: Any, split: str, loaded: LoadedModel) -> Any:
    """Open the split cut by the model's preprocessing (a FaceSplit passes through); check its classes."""
    if isinstance(data, (str, Path)):
        from affectlab.data import open_split

        root = Path(data)
        if not root.exists():
            raise AffectlabError(f"{root}: no such dataset folder or file")
        pre = loaded.preprocess
        face_split = open_split(
            root, split, pre.size, len(loaded.class_names), margin=pre.crop_margin, align=pre.align
        )
    else:
        face_split = data
    check_same_classes(loaded.class_names, list(face_split.class_names), "model vs data")
    return face_split


def default_out(loaded: LoadedModel, split: str) -> Path:
    """Return the default output folder: <run or weights folder>/eval-<split>."""
    base = loaded.run_dir or (loaded.weights_path.parent if loaded.weights_path else Path("."))
    return base / f"eval-{split}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value)}")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (tmp file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    tmp.replace(path)


def model_facts(loaded: LoadedModel) -> dict[str, Any]:
    """The ``model`` part of a metrics.json: what was evaluated."""
    return {
        "arch": loaded.arch,
        "class_names": loaded.class_names,
        "preprocess": loaded.preprocess.to_dict(),
        "weights": str(loaded.weights_path) if loaded.weights_path else None,
        "run_dir": str(loaded.run_dir) if loaded.run_dir else None,
    }


def metrics_record(
    loaded: LoadedModel,
    data: dict[str, Any],
    pred: Predictions,
    metrics: dict[str, Any],
    ci: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """Build a metrics.json record (the one schema of train, evaluate and compare; see docs/metrics.md)."""
    return {
        "format": METRICS_FORMAT,
        "format_version": METRICS_FORMAT_VERSION,
        "model": model_facts(loaded),
        "data": {**data, "num_samples": int(len(pred.index))},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
        "metrics": metrics,
        "ci": ci,
    }


def evaluate_model(
    loaded: LoadedModel,
    split: Any,
    *,
    tta: str | None = None,
    batch_size: int = 128,
    device: str = "auto",
    n_boot: int = N_BOOT,
    progress: bool = False,
) -> tuple[Predictions, dict[str, Any], dict[str, Any], float]:
    """Run a loaded model over an opened split and score it: (predictions, metrics, intervals, seconds)."""
    started = time.perf_counter()
    pred = predict_split(loaded, split, tta=tta, batch_size=batch_size, device=device, progress=progress)
    seconds = time.perf_counter() - started
    metrics, ci = score(pred, n_boot)
    return pred, metrics, ci, seconds


def evaluate(
    weights: Any,
    data: Any,
    split: str = "val",
    out: str | Path | None = None,
    *,
    tta: str | None = None,
    batch_size: int = 128,
    device: str = "auto",
    run_dir: str | Path | None = None,
    n_boot: int = N_BOOT,
    progress: bool = True,
) -> EvalResult:
    """Evaluate weights (file, run folder or (model, info)) on a split; write metrics.json and a report."""
    from affectlab.reports.evaluation_report import write_evaluation_report
    from affectlab.reports.published import official_validation

    loaded = load_for_eval(weights, run_dir)
    face_split = open_data(data, split, loaded)
    pred, metrics, ci, seconds = evaluate_model(
        loaded, face_split, tta=tta, batch_size=batch_size, device=device, n_boot=n_boot, progress=progress
    )
    official, reason = official_validation(data, split, len(loaded.class_names))
    out_dir = Path(out) if out is not None else default_out(loaded, split)
    out_dir.mkdir(parents=True, exist_ok=True)
    described = str(data) if isinstance(data, (str, Path)) else type(data).__name__
    data_facts = {
        "path": described,
        "split": split,
        "official_validation": official,
        "official_reason": reason,
    }
    record = metrics_record(
        loaded,
        data_facts,
        pred,
        metrics,
        ci,
        tta=tta,
        device=str(pick_device(device)),
        seconds=round(seconds, 3),
    )
    pred.save(out_dir / "predictions.npz")
    metrics_path = out_dir / "metrics.json"
    write_json(metrics_path, record)
    md, html = write_evaluation_report(record, face_split, pred, out_dir / "report")
    log.info("evaluation written to %s (report: %s)", out_dir, html)
    return EvalResult(
        out=out_dir,
        metrics=metrics,
        ci=ci,
        predictions=pred,
        metrics_path=metrics_path,
        report_html=html,
        report_md=md,
        official_validation=official,
        official_reason=reason,
        info=record["model"],
        loaded=loaded,
    )
