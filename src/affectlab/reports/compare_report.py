"""The comparison report (report.md + report.html) and the terminal headline table."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from affectlab.evaluation.predictions import Predictions
from affectlab.reports import figures
from affectlab.reports.document import Document, Figure, Link, Note, Section, Table, fmt

#: Headline columns: (row key, header, percent, digits).
HEADLINE = (
    ("expression_accuracy", "Accuracy", True, 4),
    ("expression_f1_macro", "F1 macro", False, 3),
    ("valence_ccc", "Valence CCC", False, 3),
    ("arousal_ccc", "Arousal CCC", False, 3),
    ("params_m", "Params (M)", False, 2),
    ("gflops", "GFLOPs", False, 2),
    ("latency_ms", "CPU ms (b=1)", False, 1),
)
GROUP_TITLES = {
    "classification": "Classification",
    "valence": "Valence",
    "arousal": "Arousal",
    "cost": "Cost and speed",
}


def _load(comparison: str | Path | dict[str, Any]) -> dict[str, Any]:
    if isinstance(comparison, dict):
        return comparison
    path = Path(comparison)
    path = path / "comparison.json" if path.is_dir() else path
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _cell(row: dict[str, Any], name: str) -> str:
    value = row["values"].get(name)
    digits = (
        4 if row["percent"] else (1 if row["key"] in ("latency_ms", "throughput", "epoch_seconds") else 3)
    )
    text = fmt(value, digits, row["percent"])
    if name in row.get("indistinguishable_from_best", {}):
        text += " ≈"
    return text


def group_table(record: dict[str, Any], group: str) -> Table:
    """One side-by-side table (metrics as rows, models as columns) with the best value marked."""
    names = [m["name"] for m in record["models"]]
    rows = [r for r in record["rows"] if r["group"] == group]
    table = Table([GROUP_TITLES[group], *names], [[r["label"], *(_cell(r, n) for n in names)] for r in rows])
    for i, row in enumerate(rows):
        if len(names) > 1:
            table.best |= {(i, 1 + names.index(n)) for n in row["best"]}
    arrows = "; ".join(
        f"{r['label']}: {'higher' if r['higher_is_better'] else 'lower'} is better"
        for r in rows
        if not r["higher_is_better"]
    )
    table.note = (
        "★ best per row; ≈ not distinguishable from the best (paired bootstrap, or overlapping 95% "
        "intervals)." + (f" {arrows}." if arrows else "")
    )
    return table


def per_class_table(record: dict[str, Any]) -> Table:
    """The per-class classification report side by side: precision / recall / F1 for each model."""
    models = [m for m in record["models"] if m.get("per_class")]
    headers = ["Class"] + [f"{m['name']} {k}" for m in models for k in ("P", "R", "F1")] + ["Support"]
    classes = list(models[0]["per_class"]) if models else []
    rows, best = [], set()
    for i, cls in enumerate(classes):
        row = [cls]
        f1s = []
        for m in models:
            r = m["per_class"][cls]
            row += [fmt(r.get("precision")), fmt(r.get("recall")), fmt(r.get("f1"))]
            f1s.append(r.get("f1"))
        row.append(fmt(models[0]["per_class"][cls].get("support")))
        defined = [v for v in f1s if v is not None]
        if defined and len(models) > 1 and max(defined) > 0 and min(defined) < max(defined):
            best |= {(i, 3 + 3 * k) for k, v in enumerate(f1s) if v == max(defined)}
        rows.append(row)
    return Table(
        headers,
        rows,
        caption="Per-class classification report (P = precision, R = recall)",
        best=best,
        note="★ marks the best F1 per class.",
    )


def distinguishability_notes(record: dict[str, Any]) -> list[str]:
    """Sentences on which best values are (not) statistically distinguishable."""
    notes = []
    for row in record["rows"]:
        if row["group"] == "cost" or not row["best"]:
            continue
        ties = row.get("indistinguishable_from_best", {})
        if len(row["best"]) > 1:
            notes.append(f"{row['group']} {row['label']}: tie between {', '.join(row['best'])}.")
        elif ties:
            detail = "; ".join(f"{m} ({why})" for m, why in ties.items())
            notes.append(
                f"{row['group']} {row['label']}: {row['best'][0]} is best but not distinguishable "
                f"from {detail}."
            )
    return notes


def headline_rows(comparison: str | Path | dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Return (headers, rows) of the headline table: one row per model."""
    record = _load(comparison)
    by_key = {r["key"]: r for r in record["rows"]}
    rows = []
    for m in record["models"]:
        cells = [m["name"]]
        for key, _, percent, digits in HEADLINE:
            row = by_key.get(key)
            text = fmt(m["values"].get(key), digits, percent)
            if row and m["name"] in row["best"] and len(record["models"]) > 1:
                text += " *"
            cells.append(text)
        rows.append(cells)
    return ["Model", *(h for _, h, _, _ in HEADLINE)], rows


def headline_table(comparison: str | Path | dict[str, Any], width: int = 110) -> str:
    """Return the headline comparison as plain text (a rich table; * marks the best per column)."""
    from rich.console import Console
    from rich.table import Table as RichTable

    headers, rows = headline_rows(comparison)
    table = RichTable(title="affectlab compare (* = best)", title_justify="left")
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text()


def _overview_section(record: dict[str, Any], names: list[str]) -> Section:
    """Headline table, headline-metric bars with intervals, and the protocol line."""
    proto = record["protocol"]
    headers, rows = headline_rows(record)
    overview = Section("Overview").add(Table(headers, rows, caption="Headline (* = best per column)"))
    keys = ["expression_accuracy", "expression_f1_macro", "valence_ccc", "arousal_ccc"]
    by_key = {r["key"]: r for r in record["rows"]}
    values = {k.replace("expression_", ""): [by_key[k]["values"].get(n) for n in names] for k in keys}
    errors = {
        k.replace("expression_", ""): [_ci_pair(m["ci"].get(k)) for m in record["models"]] for k in keys
    }
    overview.add(
        Figure(
            "compare_metrics.png",
            figures.metric_bars(names, values, errors),
            "Headline metrics per model; error bars are 95% bootstrap intervals.",
            wide=True,
        )
    )
    return overview.add(
        f"Protocol: every model {'trained with one configuration' if proto['archs'] else 'as given'}"
        f" ({', '.join(proto['overrides']) or 'default settings'}), evaluated on the same "
        f"{record['num_samples']} samples. GFLOPs count multiply-adds for one image; CPU timings are "
        "float32 medians on this machine."
    )


def _model_section(m: dict[str, Any], folder: Path) -> Section:
    """One model's confusion matrix and the link to its full evaluation report."""
    section = Section(f"Model: {m['name']}", level=3)
    if m.get("confusion_matrix"):
        section.add(
            Figure(
                f"cm_{_slug(m['name'])}.png",
                figures.confusion_matrices(m["confusion_matrix"], m["class_names"]),
                f"{m['name']}: confusion matrix (counts, row-normalised).",
                wide=True,
            )
        )
    report = Path(m["eval_report"])
    href = os.path.relpath(report, folder) if report.is_absolute() == folder.is_absolute() else str(report)
    return section.add(
        Link(f"Full evaluation report of {m['name']}", href.replace(os.sep, "/")),
        Note(f"Weights: {m['weights']}. Training time/epoch: {m['epoch_seconds_how']}."),
    )


def build_comparison_document(
    record: dict[str, Any], predictions: dict[str, Predictions], folder: Path
) -> Document:
    """Assemble the comparison report."""
    names = [m["name"] for m in record["models"]]
    proto = record["protocol"]
    doc = Document(
        title="affectlab comparison — " + " vs ".join(names),
        subtitle=f"{record['data']} · split {record['split']} · {record['num_samples']} samples",
        facts=[
            ("Models", str(len(names))),
            ("Bootstrap", f"{proto['n_boot']} resamples"),
            ("Quick", "yes" if proto["quick"] else "no"),
            ("Date", record["created"]),
        ],
    )
    doc.sections.append(_overview_section(record, names))
    doc.sections.append(
        Section("Classification").add(group_table(record, "classification"), per_class_table(record))
    )
    doc.sections.append(
        Section("Valence and arousal").add(group_table(record, "valence"), group_table(record, "arousal"))
    )
    doc.sections.append(Section("Cost and speed").add(group_table(record, "cost")))
    notes = distinguishability_notes(record)
    doc.sections.append(
        Section("Is the best really better?").add(
            *(notes or ["Every best value is distinguishable from the others at the 95% level."]),
            Note(
                "Paired bootstrap: all models are scored on the same resampled sample sets; a difference "
                "whose 95% interval contains 0 is reported as not distinguishable."
            ),
        )
    )
    doc.sections += [_model_section(m, folder) for m in record["models"]]
    return doc


def _ci_pair(ci: dict[str, Any] | None) -> tuple[float, float] | None:
    if ci and ci.get("low") is not None and ci.get("high") is not None:
        return float(ci["low"]), float(ci["high"])
    return None


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def write_comparison_report(
    record: dict[str, Any], folder: Path, predictions: dict[str, Predictions]
) -> tuple[Path, Path]:
    """Write report.md (+ figures/) and the self-contained report.html; return their paths."""
    from affectlab.reports.html import write_html
    from affectlab.reports.markdown import write_markdown

    doc = build_comparison_document(record, predictions, folder)
    return write_markdown(doc, folder), write_html(doc, folder)
