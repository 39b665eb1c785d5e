"""`evaluate`: run a model over a split, score it with affectlab.metrics and write metrics.json + a report."""

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
from affectlab.reports import sections as S
from affectlab.reports.document import Document, Section
from affectlab.reports.predict import LoadedModel, Predictions, load_for_eval, predict

log = logging.getLogger(__name__)

#: Bootstrap resamples for the confidence intervals in reports.
N_BOOT = 1000


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
    label_map: dict[str, Any] = field(default_factory=dict)


def score(pred: Predictions, n_boot: int = N_BOOT) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (affect_metrics, bootstrap intervals) for a set of predictions."""
    from affectlab.metrics import affect_metrics
    from affectlab.metrics_ci import affect_metrics_ci

    args = (pred.expression, pred.probs, pred.valence, pred.pred_valence, pred.arousal, pred.pred_arousal)
    metrics = affect_metrics(*args, class_names=pred.class_names)
    ci = affect_metrics_ci(*args, n_boot=n_boot) if n_boot > 0 else {}
    return metrics, ci


def open_data(data: Any, split: str, loaded: LoadedModel, unshared: str = "drop") -> Any:
    """Open the split at the model's input size (a FaceSplit passes through); classes are matched by name
    afterwards (affectlab.label_maps), so a dataset of another taxonomy is scored on the shared classes."""
    if isinstance(data, (str, Path)):
        from affectlab.data import open_split
        from affectlab.label_maps import eval_num_classes

        root = Path(data)
        if not root.exists():
            raise AffectlabError(f"{root}: no such dataset folder or file")
        pre = loaded.preprocess
        num_classes = eval_num_classes(root, loaded.class_names, unshared)
        face_split = open_split(root, split, pre.size, num_classes, margin=pre.crop_margin, align=pre.align)
    else:
        face_split = data
    return face_split


def default_out(loaded: LoadedModel, split: str) -> Path:
    """Return the default output folder: <run or weights folder>/eval-<split>."""
    base = loaded.run_dir or (loaded.weights_path.parent if loaded.weights_path else Path("."))
    return base / f"eval-{split}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, Path)):
        return value.tolist() if isinstance(value, np.ndarray) else str(value)
    raise TypeError(f"not JSON serialisable: {type(value)}")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (tmp file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    tmp.replace(path)


def build_document(
    loaded: LoadedModel,
    split: Any,
    pred: Predictions,
    metrics: dict[str, Any],
    ci: dict[str, Any],
    context: dict[str, Any],
) -> Document:
    """Assemble the evaluation report."""
    from affectlab.reports.published import load_published

    names = pred.class_names
    doc = Document(
        title=f"affectlab evaluation — {loaded.arch}",
        subtitle=f"{context['data']} · split {context['split']} · {len(pred.index)} samples",
        facts=[
            ("Model", loaded.arch),
            ("Weights", str(loaded.weights_path or "in memory")),
            ("Input", f"{loaded.preprocess.size} px"),
            ("TTA", context["tta"] or "none"),
            ("Device", context["device"]),
            ("Date", context["created"]),
        ],
    )
    summary = Section("Metrics")
    if metrics.get("expression_accuracy") is not None:
        summary.add(S.expression_table(metrics, ci))
    else:
        summary.add("No expression labels in this split: classification metrics are not computed.")
    if metrics.get("valence_n") or metrics.get("arousal_n"):
        summary.add(S.va_table(metrics, ci))
    else:
        summary.add("No valence/arousal labels in this split: regression metrics are not computed.")
    summary.add(S.CI_NOTE if ci else None, S.undefined_note(metrics))
    doc.sections.append(summary)

    published = Section("Published reference figures")
    reference = context.get("reference") or "affectnet"
    if context["official"] and reference == "affectnet":
        published.add(
            f"Detected AffectNet's official validation set ({context['official_reason']}).",
            S.published_table(load_published(), metrics, loaded.arch),
        )
    elif context["official"]:
        caption = f"Published figures on {context['official_reason']}, under their own protocols"
        published.add(f"Detected {context['official_reason']}.")
        published.add(S.published_table(load_published(reference), metrics, loaded.arch, caption))
    else:
        published.add(
            f"Not shown: {context['official_reason']}. Published figures are only placed beside results on "
            "the real dataset's official split they were measured on."
        )
    doc.sections.append(published)
    mapping = context.get("label_map")
    if mapping is not None and (not mapping.identity or mapping.taxonomy_rows):
        from affectlab.cross_dataset import label_map_section

        doc.sections.append(label_map_section(mapping))

    if metrics.get("expression_per_class"):
        bars, curves = S.classification_figures(pred, metrics)
        doc.sections.append(Section("Confusion matrix").add(S.confusion_figure(metrics, names)))
        doc.sections.append(
            Section("Per-class report").add(S.per_class_table(metrics["expression_per_class"]), bars)
        )
        doc.sections.append(Section("ROC and precision-recall curves").add(curves))
    va = S.va_figures(pred)
    doc.sections.append(
        Section("Valence and arousal").add(*(va or ["No valence/arousal labels in this split."]))
    )
    grids = S.face_grid_figures(split, pred) if metrics.get("expression_per_class") else []
    doc.sections.append(Section("Example faces").add(*(grids or ["No labelled faces to show."])))
    doc.sections.append(S.curves_section(loaded.run_dir))
    return doc


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
) -> EvalResult:
    """Evaluate weights (file, run folder or (model, info)) on a split; write metrics.json and a report.

    A dataset of another taxonomy is scored on the classes it shares with the model, matched by name;
    ``unshared`` ("drop" or "column") says what happens to the others (see affectlab.label_maps).
    """
    from affectlab.label_maps import mapping_for_split, restrict_predictions
    from affectlab.reports.html import write_html
    from affectlab.reports.markdown import write_markdown
    from affectlab.reports.predict import pick_device
    from affectlab.reports.published import official_reference

    loaded = load_for_eval(weights, run_dir)
    face_split = open_data(data, split, loaded, unshared)
    mapping = mapping_for_split(loaded.class_names, face_split, unshared)
    started = time.perf_counter()
    pred = predict(loaded, face_split, tta=tta, batch_size=batch_size, device=device, progress=progress)
    pred, mapping = restrict_predictions(pred, face_split.class_names, mapping)
    seconds = time.perf_counter() - started
    metrics, ci = score(pred, n_boot)
    reference, reason = official_reference(data, split, pred.class_names)
    official = reference is not None
    out_dir = Path(out) if out is not None else default_out(loaded, split)
    out_dir.mkdir(parents=True, exist_ok=True)
    context = {
        "data": str(data) if isinstance(data, (str, Path)) else type(data).__name__,
        "split": split,
        "tta": tta,
        "device": str(pick_device(device)),
        "official": official,
        "official_reason": reason,
        "reference": reference,
        "label_map": mapping,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    info = {
        "arch": loaded.arch,
        "class_names": loaded.class_names,
        "preprocess": loaded.preprocess.to_dict(),
        "weights": str(loaded.weights_path) if loaded.weights_path else None,
        "run_dir": str(loaded.run_dir) if loaded.run_dir else None,
    }
    pred.save(out_dir / "predictions.npz")
    record = {
        "model": info,
        "data": {
            "path": context["data"],
            "split": split,
            "num_samples": len(pred.index),
            "official_validation": official,
            "official_reason": reason,
            "published_dataset": reference,
            "label_map": mapping.to_dict(),
        },
        "tta": tta,
        "device": context["device"],
        "seconds": round(seconds, 3),
        "created": context["created"],
        "metrics": metrics,
        "ci": ci,
    }
    metrics_path = out_dir / "metrics.json"
    write_json(metrics_path, record)
    doc = build_document(loaded, face_split, pred, metrics, ci, context)
    report = out_dir / "report"
    md, html = write_markdown(doc, report), write_html(doc, report)
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
        info=info,
        loaded=loaded,
        label_map=mapping.to_dict(),
    )
