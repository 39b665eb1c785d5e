"""The evaluation report: renders a metrics.json record and its predictions (report.md + report.html)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from affectlab.evaluation.predictions import Predictions
from affectlab.reports import calibration_sections as C
from affectlab.reports import sections as S
from affectlab.reports.calibration_sections import Explain
from affectlab.reports.document import Document, Section
from affectlab.reports.protocol import protocol_facts, protocol_sections


def _metrics_section(metrics: dict[str, Any], ci: dict[str, Any]) -> Section:
    summary = Section("Metrics")
    if metrics.get("expression_accuracy") is not None:
        summary.add(S.expression_table(metrics, ci))
    else:
        summary.add("No expression labels in this split: classification metrics are not computed.")
    if metrics.get("valence_n") or metrics.get("arousal_n"):
        summary.add(S.va_table(metrics, ci))
    else:
        summary.add("No valence/arousal labels in this split: regression metrics are not computed.")
    return summary.add(S.CI_NOTE if ci else None, S.undefined_note(metrics))


def _published_section(record: dict[str, Any]) -> Section:
    from affectlab.reports.published import load_published

    data, metrics = record["data"], record["metrics"]
    reference = data.get("published_dataset") or "affectnet"
    published = Section("Published reference figures")
    if not data["official_validation"]:
        return published.add(
            f"Not shown: {data['official_reason']}. Published figures are only placed beside results on "
            "the real dataset's official split they were measured on."
        )
    if reference == "affectnet":
        return published.add(
            f"Detected AffectNet's official validation set ({data['official_reason']}).",
            S.published_table(load_published(), metrics, record["model"]["arch"]),
        )
    caption = f"Published figures on {data['official_reason']}, under their own protocols"
    return published.add(
        f"Detected {data['official_reason']}.",
        S.published_table(load_published(reference), metrics, record["model"]["arch"], caption),
    )


def _label_map_section(record: dict[str, Any]) -> Section | None:
    """How the data's labels met the model's classes, when they were not the same list."""
    from affectlab.evaluation.label_maps import mapping_from_dict
    from affectlab.reports.cross_dataset_report import label_map_section

    raw = record["data"].get("label_map")
    if not raw:
        return None
    mapping = mapping_from_dict(raw)
    return label_map_section(mapping) if not mapping.identity or mapping.taxonomy_rows else None


def build_document(
    record: dict[str, Any], split: Any, pred: Predictions, explain: Explain | None = None
) -> Document:
    """Assemble the evaluation report of one metrics.json record (`explain`: Grad-CAM for the face grids)."""
    model, data, metrics, ci = record["model"], record["data"], record["metrics"], record["ci"]
    doc = Document(
        title=f"affectlab evaluation — {model['arch']}",
        subtitle=f"{data['path']} · split {data['split']} · {data['num_samples']} samples",
        facts=[
            ("Model", model["arch"]),
            ("Weights", str(model["weights"] or "in memory")),
            ("Input", f"{model['preprocess']['size']} px"),
            ("TTA", record.get("tta") or "none"),
            ("Device", record.get("device", "")),
            ("Date", record["created"]),
            C.calibration_fact(record),
            *protocol_facts(record.get("protocol")),
        ],
    )
    doc.sections += [*protocol_sections(record.get("protocol"))]
    doc.sections += [_metrics_section(metrics, ci), _published_section(record)]
    label_map = _label_map_section(record)
    if label_map is not None:
        doc.sections.append(label_map)
    if metrics.get("expression_per_class"):
        bars, curves = S.classification_figures(pred, metrics)
        doc.sections.append(Section("Confusion matrix").add(S.confusion_figure(metrics, pred.class_names)))
        doc.sections.append(
            Section("Per-class report").add(S.per_class_table(metrics["expression_per_class"]), bars)
        )
        doc.sections.append(Section("ROC and precision-recall curves").add(curves))
        doc.sections.append(C.calibration_section(record))
    va: list[Any] = list(S.va_figures(pred)) or ["No valence/arousal labels in this split."]
    doc.sections.append(Section("Valence and arousal").add(*va))
    if record.get("video"):
        from affectlab.reports.video_sections import video_section

        doc.sections.append(video_section(record["video"]))
    grids: list[Any] = list(S.face_grid_figures(split, pred)) if metrics.get("expression_per_class") else []
    doc.sections.append(Section("Example faces").add(*(grids or ["No labelled faces to show."])))
    if grids:
        doc.sections.append(C.saliency_section(split, pred, explain))
    run_dir = model.get("run_dir")
    doc.sections.append(S.curves_section(Path(run_dir) if run_dir else None))
    return doc


def write_evaluation_report(
    record: dict[str, Any], split: Any, pred: Predictions, folder: Path, explain: Explain | None = None
) -> tuple[Path, Path]:
    """Write report.md and a self-contained report.html into `folder`; return (md, html)."""
    from affectlab.reports.html import write_html
    from affectlab.reports.markdown import write_markdown

    doc = build_document(record, split, pred, explain)
    return write_markdown(doc, folder), write_html(doc, folder)
