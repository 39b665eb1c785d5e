"""Calibration, abstention and saliency sections of the evaluation and comparison reports (rendering)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from affectlab.evaluation.predictions import Predictions
from affectlab.reports import calibration_figures as cf
from affectlab.reports.document import Figure, Note, Section, Table, fmt, fmt_ci

#: (metrics key suffix, label) of the calibration table; lower is better for every one.
CALIBRATION_ROWS: tuple[tuple[str, str], ...] = (
    ("ece", "ECE (top-label)"),
    ("classwise_ece", "Classwise ECE"),
    ("nll", "NLL (negative log-likelihood)"),
    ("brier", "Brier score"),
    ("aurc", "AURC (area under risk-coverage)"),
)
#: Coverages listed in the abstention table.
COVERAGES = (1.0, 0.9, 0.8, 0.7, 0.5)
#: explain(images uint8 (N, S, S, 3), classes (N,)) -> {target: maps (N, S, S)}, given by the evaluation.
Explain = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]


def calibration_fact(record: dict[str, Any]) -> tuple[str, str]:
    """The report header's line on calibration (with a loud warning when fitted on this very split)."""
    facts = record.get("calibration") or {}
    applied = facts.get("applied")
    if applied is None:
        return ("Calibration", "off (--no-calibration)" if facts.get("available") else "none (raw softmax)")
    fit = applied.get("fitted_on") or {}
    text = f"{applied['method']} {_temperature(applied)} fitted on split {fit.get('split')!r}"
    if facts.get("fitted_on_this_split"):
        text += " — FITTED ON THIS SPLIT: its calibration numbers are optimistic"
    return ("Calibration", text)


def _temperature(applied: dict[str, Any]) -> str:
    t = applied["temperature"]
    return f"T = {t:.3f}" if isinstance(t, float | int) else "T = [" + ", ".join(f"{v:.2f}" for v in t) + "]"


def _table(metrics: dict[str, Any], ci: dict[str, Any], uncalibrated: dict[str, Any] | None) -> Table:
    headers = ["Metric (lower is better)", "Value [95% CI]"] + (["Uncalibrated"] if uncalibrated else [])
    rows = []
    for key, label in CALIBRATION_ROWS:
        row = [label, fmt_ci(metrics.get(f"expression_{key}"), ci.get(f"expression_{key}"), 4)]
        if uncalibrated:
            row.append(fmt(uncalibrated.get(key), 4))
        rows.append(row)
    return Table(headers, rows, caption=f"Calibration, n = {fmt(metrics.get('expression_n'))}")


def _coverage_table(curve: dict[str, Any]) -> Table:
    rows = []
    cov = np.asarray(curve["coverage"])
    for target in COVERAGES:
        k = int(np.argmin(np.abs(cov - target)))
        rows.append(
            [f"{100 * cov[k]:.0f}%", f"{curve['threshold'][k]:.3f}", fmt(curve["accuracy"][k], 4, True)]
        )
    return Table(
        ["Faces answered", "Uncertain below", "Accuracy of answered"],
        rows,
        caption="Abstention: pick the threshold (affectlab predict/serve --uncertain-below, or calibrate)",
    )


def calibration_section(record: dict[str, Any]) -> Section:
    """ECE/NLL/Brier with intervals (and uncalibrated), reliability diagram(s), risk-coverage, abstention."""
    metrics, ci = record["metrics"], record["ci"]
    facts = record.get("calibration") or {}
    section = Section("Calibration and abstention")
    bins = metrics.get("expression_reliability")
    if not bins:
        return section.add("No expression labels in this split: calibration is not measured.")
    uncalibrated = facts.get("uncalibrated")
    label, text = calibration_fact(record)
    section.add(f"{label}: {text}.")
    if facts.get("applied") is None and not facts.get("available"):
        section.add(
            Note("Fit a temperature on held-out data with `affectlab calibrate RUN --data D --split S`.")
        )
    section.add(_table(metrics, ci, uncalibrated), Note(f"Binning: {bins['binning']}."))
    panels = []
    if uncalibrated:
        panels.append((f"uncalibrated: ECE {uncalibrated['ece']:.3f}", uncalibrated["reliability"]))
    name = "calibrated" if facts.get("applied") else "this model"
    panels.append((f"{name}: ECE {metrics['expression_ece']:.3f}", bins))
    section.add(
        Figure(
            "reliability.png",
            cf.reliability_diagram(panels),
            "Reliability diagram: accuracy per confidence bin (bars) against the diagonal, the gap to the "
            "bin's mean confidence hatched; faces per bin underneath.",
            wide=len(panels) > 1,
        )
    )
    curve = metrics["expression_risk_coverage"]
    marks = []
    abstention = facts.get("abstention")
    if abstention and abstention.get("accuracy_answered") is not None:
        mark = f"model threshold {abstention['threshold']:.2f}"
        marks.append((mark, abstention["coverage"], abstention["accuracy_answered"]))
    section.add(
        Figure(
            "risk_coverage.png",
            cf.risk_coverage_curves([(record["model"]["arch"], curve)], marks),
            "Risk-coverage: answering only the faces whose top probability is at least p, the accuracy on "
            "those (y) against the share answered (x); labels give p at 50% and 80% coverage.",
        ),
        _coverage_table(curve),
    )
    if abstention:
        section.add(
            f"At the model's threshold {abstention['threshold']:.3f}: {100 * abstention['coverage']:.1f}% of "
            f"faces answered, accuracy {fmt(abstention['accuracy_answered'], 4, True)} on those "
            f"(all faces: {fmt(abstention['accuracy_all'], 4, True)})."
        )
    return section


def saliency_section(split: Any, pred: Predictions, explain: Explain | None) -> Section:
    """Grad-CAM overlays for the report's grids of right and wrong faces."""
    from affectlab.reports.sections import face_grid_picks

    section = Section("Saliency (Grad-CAM)")
    if explain is None:
        return section.add(
            "Not shown: Grad-CAM needs the PyTorch weights of a registered architecture (an ONNX export has "
            "no gradients here)."
        )
    names = pred.class_names
    for name, idx, _, _ in face_grid_picks(pred):
        if idx.size == 0:
            continue
        images = split.get_batch(pred.index[idx])["image"]
        classes = pred.pred_expression[idx]
        maps = explain(images, classes)
        labels = [
            {
                "expression": f"T {names[pred.expression[i]]}\nP {names[c]}",
                "valence": f"V {pred.pred_valence[i]:+.2f}",
                "arousal": f"A {pred.pred_arousal[i]:+.2f}",
            }
            for i, c in zip(idx, classes, strict=True)
        ]
        png = cf.saliency_grid(
            images, maps, labels, f"{name.capitalize()} faces: Grad-CAM ({idx.size} shown)"
        )
        section.add(
            Figure(
                f"saliency_{name}.png",
                png,
                f"Grad-CAM of the {name} grid above: for each face, the regions behind the predicted class "
                "(P), the valence and the arousal (warm = more).",
                wide=True,
            )
        )
    return section


def compare_calibration_section(record: dict[str, Any], group_table: Table) -> Section:
    """The comparison report's calibration section: the table, reliability diagrams, risk-coverage curves."""
    section = Section("Calibration and abstention").add(group_table)
    models = [m for m in record["models"] if (m.get("calibration") or {}).get("reliability")]
    if not models:
        return section.add("No expression labels: calibration is not measured.")
    section.add(
        Figure(
            "compare_reliability.png",
            cf.reliability_diagram(
                [
                    (
                        f"{m['name']}: ECE {fmt(m['values'].get('expression_ece'))}",
                        m["calibration"]["reliability"],
                    )
                    for m in models
                ]
            ),
            "Reliability diagrams per model (as each is used: calibrated where it carries a temperature).",
            wide=True,
        ),
        Figure(
            "compare_risk_coverage.png",
            cf.risk_coverage_curves([(m["name"], m["calibration"]["risk_coverage"]) for m in models]),
            "Risk-coverage per model: accuracy of the answered faces against the share answered.",
        ),
    )
    return section
