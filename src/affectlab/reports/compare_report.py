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
#: Headline columns measured once per model (no spread over seeds).
COST_KEYS = frozenset({"params_m", "gflops", "latency_ms"})
GROUP_TITLES = {
    "classification": "Classification",
    "valence": "Valence",
    "arousal": "Arousal",
    "calibration": "Calibration",
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
    from affectlab.evaluation.compare_stats import display_digits

    value = row["values"].get(name)
    digits, percent = display_digits(row["key"], row["percent"])
    text = fmt(value, digits, percent)
    spread = (row.get("sd") or {}).get(name)
    if spread is not None:
        text += f" ± {fmt(spread, digits, percent)}"
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
    seeds = max((m.get("n_runs", 1) for m in record["models"]), default=1)
    table.note = (
        "★ best per row; ≈ not distinguishable from the best ("
        + (
            "seed variance and paired bootstrap combined, docs/metrics.md; "
            if seeds > 1
            else "paired bootstrap; "
        )
        + "overlapping 95% intervals; or, without an interval, equal at the shown precision)."
        + (f" Values are means over {seeds} seeds ± their standard deviation." if seeds > 1 else "")
        + (f" {arrows}." if arrows else "")
    )
    return table


def per_class_table(record: dict[str, Any]) -> Table:
    """The per-class classification report side by side: one "P / R / F1" column per model, so that the
    table stays as narrow as the number of models (three models: five columns)."""
    models = [m for m in record["models"] if m.get("per_class")]
    headers = ["Class"] + [m["name"] for m in models] + ["Support"]
    classes = list(models[0]["per_class"]) if models else []
    rows, best = [], set()
    for i, cls in enumerate(classes):
        cells = [m["per_class"][cls] for m in models]
        f1s = [r.get("f1") for r in cells]
        row = [cls] + [" / ".join(fmt(r.get(k)) for k in ("precision", "recall", "f1")) for r in cells]
        row.append(fmt(cells[0].get("support")))
        defined = [v for v in f1s if v is not None]
        if defined and len(models) > 1 and max(defined) > 0 and min(defined) < max(defined):
            best |= {(i, 1 + k) for k, v in enumerate(f1s) if v == max(defined)}
        rows.append(row)
    return Table(
        headers,
        rows,
        caption="Per-class precision / recall / F1 of each model",
        best=best,
        note="★ marks the model with the best F1 for the class.",
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


def start_label(initial: str | None) -> str:
    """A short label for a model's starting weights (the headline's Init column)."""
    if not initial:
        return "?"
    if initial.startswith("from scratch"):
        return "scratch"
    if initial.startswith("ImageNet"):
        return "ImageNet"
    return "file " + Path(initial.removeprefix("local file ").split(" (sha256")[0]).name


def headline_rows(comparison: str | Path | dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Return (headers, rows) of the headline table: one row per model (seed means ± sd with seeds)."""
    record = _load(comparison)
    by_key = {r["key"]: r for r in record["rows"]}
    rows = []
    for m in record["models"]:
        size = m.get("input_size")
        cells = [m["name"], f"{size}" if size else "?", start_label(m.get("initial_weights"))]
        for key, _, percent, digits in HEADLINE:
            row = by_key.get(key)
            text = fmt(m["values"].get(key), digits, percent)
            spread = (m.get("sd") or {}).get(key)
            if spread is not None and key not in COST_KEYS:
                text += f" ±{fmt(spread, digits, percent).rstrip('%')}"
            if row and m["name"] in row["best"] and len(record["models"]) > 1:
                text += " *"
            cells.append(text)
        rows.append(cells)
    return ["Model", "px", "Init", *(h for _, h, _, _ in HEADLINE)], rows


def headline_table(comparison: str | Path | dict[str, Any], width: int = 132) -> str:
    """Return the headline comparison as plain text (a rich table; * marks the best per column)."""
    from rich.console import Console
    from rich.table import Table as RichTable

    headers, rows = headline_rows(comparison)
    table = RichTable(title="affectlab compare (* = best)", title_justify="left")
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        table.add_row(*row)
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text()


def _overview_section(record: dict[str, Any], names: list[str]) -> Section:
    """Headline table, headline-metric bars (intervals or seed spread), what was run, the protocol."""
    headers, rows = headline_rows(record)
    seeds = max((m.get("n_runs", 1) for m in record["models"]), default=1)
    caption = "Headline (* = best per column; px = input size; Init = starting weights)"
    if seeds > 1:
        caption += f"; means over {seeds} seeds ± standard deviation"
    overview = Section("Overview").add(Table(headers, rows, caption=caption))
    keys = ["expression_accuracy", "expression_f1_macro", "valence_ccc", "arousal_ccc"]
    by_key = {r["key"]: r for r in record["rows"]}
    values = {k.replace("expression_", ""): [by_key[k]["values"].get(n) for n in names] for k in keys}
    errors = {k.replace("expression_", ""): [_error_bar(m, k) for m in record["models"]] for k in keys}
    how = "± 1 standard deviation over seeds" if seeds > 1 else "95% bootstrap intervals"
    overview.add(
        Figure(
            "compare_metrics.png",
            figures.metric_bars(names, values, errors),
            f"Headline metrics per model; error bars are {how}.",
            wide=True,
        )
    )
    return overview.add(*protocol_lines(record), runs_table(record))


def _error_bar(model: dict[str, Any], key: str) -> tuple[float, float] | None:
    """The bar's error: the bootstrap interval of a single run, or mean ± sd over seeds."""
    if model.get("n_runs", 1) > 1:
        mean, sd = model["values"].get(key), (model.get("sd") or {}).get(key)
        return (mean - sd, mean + sd) if mean is not None and sd is not None else None
    return _ci_pair(model["ci"].get(key))


def protocol_lines(record: dict[str, Any]) -> list[str]:
    """Sentences that say what was run: recipe, quick, seeds, and which split selected and reported."""
    from affectlab.evaluation.protocol import protocol_line

    proto, models = record["protocol"], record["models"]
    lines = []
    if proto.get("archs"):
        recipe = proto.get("config") or "the built-in defaults"
        sets = ", ".join(proto.get("overrides") or [])
        seeds = proto.get("seeds", 1)
        lines.append(
            f"Protocol: every architecture trained with {recipe}{' + ' + sets if sets else ''}"
            f"{' (quick: 1 epoch)' if proto.get('quick') else ''}, {seeds} seed{'s' if seeds > 1 else ''} "
            f"each, its own per_arch block applied (input size, starting weights: table above)."
        )
    given = [m for m in models if m["name"] not in (proto.get("archs") or [])]
    for m in given:
        lines.append(f"{m['name']}: {recipe_text(m)}.")
    selection = {protocol_line(m.get("protocol")) for m in models}
    if len(selection) == 1:
        lines.append(f"Every model: {selection.pop()}; all on the same {record['num_samples']} samples.")
    else:
        lines += [f"{m['name']}: {protocol_line(m.get('protocol'))}." for m in models]
    lines.append("GFLOPs count multiply-adds for one image; CPU timings are float32 medians on this machine.")
    return lines


def recipe_text(model: dict[str, Any]) -> str:
    """How a given run was trained, from its metrics.json (config file, overrides, epochs, seed)."""
    recipe = model.get("recipe") or {}
    if not recipe:
        return "recipe not recorded (trained before affectlab recorded it, or in memory)"
    sets = [o for o in recipe.get("overrides") or [] if not o.startswith(("out=", "data.path="))]
    seed = (model.get("runs") or [{}])[0].get("seed")
    parts = [str(recipe.get("config") or "built-in defaults") + (" + " + ", ".join(sets) if sets else "")]
    if model.get("epochs_trained"):
        parts.append(f"{model['epochs_trained']} epochs")
    if seed is not None:
        parts.append(f"seed {seed}")
    return "; ".join(parts)


def runs_table(record: dict[str, Any]) -> Table:
    """Every run of every model: seed and headline metrics (mean ± sd rows when a model has seeds)."""
    keys = [k for k, *_ in HEADLINE if k not in COST_KEYS]
    heads = [h for k, h, *_ in HEADLINE if k not in COST_KEYS]
    rows = []
    for m in record["models"]:
        for run in m.get("runs") or []:
            cells = [m["name"], str(run.get("seed", "—"))]
            cells += [fmt(run["values"].get(k), d, pc) for k, _, pc, d in HEADLINE if k not in COST_KEYS]
            rows.append(cells + [str(run.get("run_dir") or "in memory")])
        if m.get("n_runs", 1) > 1:
            cells = [m["name"], "mean ± sd"]
            for k, _, pc, d in HEADLINE:
                if k in keys:
                    sd = (m.get("sd") or {}).get(k)
                    cells.append(
                        fmt(m["values"].get(k), d, pc) + (f" ± {fmt(sd, d, pc)}" if sd is not None else "")
                    )
            rows.append(cells + [""])
    return Table(["Model", "Seed", *heads, "Run folder"], rows, caption="Every run")


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
        Note(
            f"Weights: {m['weights']}. Started from: {m.get('initial_weights') or 'not recorded'}. "
            f"Training time/epoch: {m['epoch_seconds_how']}."
        ),
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
            ("Seeds", str(proto.get("seeds", 1))),
            ("Quick", "yes" if proto["quick"] else "no"),
            ("Date", record["created"]),
        ],
    )
    warnings = sorted({w for m in record["models"] for w in (m.get("protocol") or {}).get("warnings", [])})
    if warnings:
        doc.sections.append(Section("Read this first").add(*(Note(f"Warning: {w}") for w in warnings)))
    doc.sections.append(_overview_section(record, names))
    doc.sections.append(
        Section("Classification").add(group_table(record, "classification"), per_class_table(record))
    )
    doc.sections.append(
        Section("Valence and arousal").add(group_table(record, "valence"), group_table(record, "arousal"))
    )
    if any(r["group"] == "calibration" for r in record["rows"]):
        from affectlab.reports.calibration_sections import compare_calibration_section

        doc.sections.append(compare_calibration_section(record, group_table(record, "calibration")))
    doc.sections.append(Section("Cost and speed").add(group_table(record, "cost")))
    notes = distinguishability_notes(record)
    doc.sections.append(
        Section("Is the best really better?").add(
            *(notes or ["Every best value is distinguishable from the others at the 95% level."]),
            Note(
                "Paired bootstrap: all models are scored on the same resampled sample sets; a difference "
                "whose 95% interval contains 0 is reported as not distinguishable. With several seeds per "
                "model the interval also holds the seed variance (Welch t over the per-seed values plus the "
                "paired-bootstrap variance of the seed means; docs/metrics.md). A metric without an interval "
                "counts as not distinguishable when it is equal at the shown precision."
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
