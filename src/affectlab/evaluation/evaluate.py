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
from affectlab.evaluation.protocol import evaluation_protocol
from affectlab.evaluation.runner import LoadedModel, load_for_eval, pick_device, predict_split
from affectlab.workers import refuse_worker_import

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
    #: How the data's labels met the model's classes (affectlab.evaluation.label_maps, as a dict).
    label_map: dict[str, Any] = field(default_factory=dict)
    #: The metrics.json ``calibration`` part: what was applied, uncalibrated numbers, abstention.
    calibration: dict[str, Any] = field(default_factory=dict)
    #: Which split selected the weights and which one this evaluation reports (evaluation/protocol.py).
    protocol: dict[str, Any] = field(default_factory=dict)
    #: Aff-Wild2-protocol video scores (evaluation/video.py), when asked for with ``per_video_tau``.
    video: dict[str, Any] | None = None


#: The model's tasks, in the order of its outputs.
TASKS: tuple[str, ...] = ("expression", "valence", "arousal")


def score(
    pred: Predictions, n_boot: int = N_BOOT, seed: int = 0, tasks: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (metrics with the selection score under ``score``, bootstrap intervals) for predictions.

    ``tasks`` (default: all three) are the tasks the model was trained on; the others are left out of the
    metrics, the intervals and the score, with the reason under ``undefined``.
    """
    from affectlab.metrics import affect_metrics, affect_metrics_ci, selection_score

    kept = TASKS if tasks is None else tuple(tasks)
    args: list[Any] = list(pred.metric_args())
    unlabelled = list(args)  # an untrained task scores as unlabelled: its keys stay, as None
    for k, task in enumerate(TASKS):
        if task not in kept:
            unlabelled[2 * k] = np.full(len(pred.index), -1 if k == 0 else np.nan)
            args[2 * k] = args[2 * k + 1] = None
    u = unlabelled
    metrics = affect_metrics(u[0], u[1], u[2], u[3], u[4], u[5], class_names=pred.class_names)
    for task in TASKS:
        if task not in kept:
            metrics["undefined"][task] = f"not trained: no {task} labels in the model's training data"
    metrics["score"] = selection_score(metrics)
    a = args
    ci = affect_metrics_ci(a[0], a[1], a[2], a[3], a[4], a[5], n_boot=n_boot, seed=seed) if n_boot > 0 else {}
    return metrics, ci


def trained_tasks(loaded: LoadedModel) -> tuple[str, ...] | None:
    """The tasks a model was trained on, from its metadata (None: not recorded, i.e. all three)."""
    tasks = (loaded.metadata.get("tasks") or {}).get("trained")
    return tuple(tasks) if isinstance(tasks, list) else None


def open_data(data: Any, split: str, loaded: LoadedModel, unshared: str = "drop") -> Any:
    """Open the split cut by the model's preprocessing (a FaceSplit passes through).

    Classes are matched by name afterwards (affectlab.evaluation.label_maps), so a dataset of another
    taxonomy is scored on the classes it shares with the model. On a dataset folder, ``selection`` is the
    run's held-out selection samples, a part of its training split (selection.json in the run folder); an
    in-memory split is taken as given, whatever its name.
    """
    from affectlab.data.selection import SELECTION, open_selection, read_selection

    source = split
    run_selection = split == SELECTION and isinstance(data, (str, Path))
    if run_selection:
        if loaded.run_dir is None:
            raise AffectlabError(
                "--split selection needs the model's run folder (it records the selection split)"
            )
        source = read_selection(loaded.run_dir).get("source_split") or "train"
    face_split: Any = data
    if isinstance(data, (str, Path)):
        from affectlab.data import open_split
        from affectlab.evaluation.label_maps import eval_num_classes

        root = Path(data)
        if not root.exists():
            raise AffectlabError(f"{root}: no such dataset folder or file")
        pre = loaded.preprocess
        num_classes = eval_num_classes(root, loaded.class_names, unshared)
        face_split = open_split(root, source, pre.size, num_classes, margin=pre.crop_margin, align=pre.align)
    if run_selection and loaded.run_dir is not None:
        face_split = open_selection(loaded.run_dir, face_split)
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


@dataclass
class Scored:
    """A model run over a split and scored: predictions (on the scored classes), metrics, intervals."""

    predictions: Predictions
    metrics: dict[str, Any]
    ci: dict[str, Any]
    seconds: float
    mapping: Any


def evaluate_model(
    loaded: LoadedModel,
    split: Any,
    *,
    tta: str | None = None,
    batch_size: int = 128,
    device: str = "auto",
    n_boot: int = N_BOOT,
    progress: bool = False,
    unshared: str = "drop",
    calibrated: bool = True,
) -> Scored:
    """Run a loaded model over an opened split and score it on the classes model and data share, by name.

    The probabilities are calibrated by the model's temperature, if it has one, unless ``calibrated=False``.
    """
    from affectlab.evaluation.label_maps import mapping_for_split, restrict_predictions

    mapping = mapping_for_split(loaded.class_names, split, unshared)
    started = time.perf_counter()
    pred = predict_split(
        loaded, split, tta=tta, batch_size=batch_size, device=device, progress=progress, calibrated=calibrated
    )
    pred, mapping = restrict_predictions(pred, split.class_names, mapping)
    seconds = time.perf_counter() - started
    metrics, ci = score(pred, n_boot, tasks=trained_tasks(loaded))
    return Scored(pred, metrics, ci, seconds, mapping)


def _data_facts(data: Any, split: str, pred: Predictions, mapping: Any) -> dict[str, Any]:
    """The ``data`` part of an evaluation's record, with whether published figures may stand beside it."""
    from affectlab.reports.published import official_reference

    reference, reason = official_reference(data, split, pred.class_names)
    return {
        "path": str(data) if isinstance(data, (str, Path)) else type(data).__name__,
        "split": split,
        "official_validation": reference is not None,
        "official_reason": reason,
        "published_dataset": reference,
        "label_map": mapping.to_dict(),
    }


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
    unshared: str = "drop",
    threads: int | None = None,
    calibrated: bool = True,
    per_video_tau: float | None = None,
) -> EvalResult:
    """Evaluate weights (file, run folder or (model, info)) on a split; write metrics.json and a report.

    A dataset of another taxonomy is scored on the classes it shares with the model, matched by name;
    ``unshared`` ("drop" or "column") says what happens to the others (see affectlab.evaluation.label_maps).
    `threads`: CPU threads for the model (torch and ONNX Runtime); None: the physical cores.
    ``calibrated=False`` scores the model's raw probabilities even when it carries a temperature.
    ``per_video_tau``: the split is video frames (Aff-Wild2); add CCC over all frames and per video, raw and
    smoothed with this time constant (affectlab.evaluation.video), to metrics.json and the report.
    """
    refuse_worker_import("evaluate")
    from affectlab.evaluation.calibrate import calibration_facts
    from affectlab.reports.evaluation_report import write_evaluation_report
    from affectlab.threads import resolve_threads, set_torch_threads

    loaded = load_for_eval(weights, run_dir)
    loaded.threads = set_torch_threads(resolve_threads(threads))
    face_split = open_data(data, split, loaded, unshared)
    run = evaluate_model(
        loaded, face_split, tta=tta, batch_size=batch_size, device=device, n_boot=n_boot, progress=progress,
        unshared=unshared, calibrated=calibrated,
    )  # fmt: skip
    facts = _data_facts(data, split, run.predictions, run.mapping)
    extra: dict[str, Any] = {"tta": tta, "device": str(pick_device(device)), "seconds": round(run.seconds, 3)}
    extra["calibration"] = calibration_facts(loaded, run.predictions, data, split, calibrated)
    extra["protocol"] = evaluation_protocol(loaded.metadata, split)
    if per_video_tau is not None:
        from affectlab.evaluation.video import video_scores

        extra["video"] = video_scores(face_split.ids(), run.predictions, per_video_tau)
    record = metrics_record(loaded, facts, run.predictions, run.metrics, run.ci, **extra)
    out_dir = Path(out) if out is not None else default_out(loaded, split)
    out_dir.mkdir(parents=True, exist_ok=True)
    for warning in record["protocol"]["warnings"]:
        log.warning("%s", warning)
    run.predictions.save(out_dir / "predictions.npz")
    metrics_path = out_dir / "metrics.json"
    write_json(metrics_path, record)
    from affectlab.inference.saliency import explain_fn

    explain = explain_fn(loaded.model, loaded.preprocess, str(pick_device(device)))
    md, html = write_evaluation_report(record, face_split, run.predictions, out_dir / "report", explain)
    log.info("evaluation written to %s (report: %s)", out_dir, html)
    return EvalResult(
        out=out_dir,
        metrics=run.metrics,
        ci=run.ci,
        predictions=run.predictions,
        metrics_path=metrics_path,
        report_html=html,
        report_md=md,
        official_validation=facts["official_validation"],
        official_reason=facts["official_reason"],
        info=record["model"],
        loaded=loaded,
        label_map=facts["label_map"],
        calibration=record["calibration"],
        protocol=record["protocol"],
        video=record.get("video"),
    )
