"""One model on several datasets side by side (a dataset x metric table), and the label-map report section.

``compare_datasets(model, ["affectnet/", "rafdb/@test", "fer2013.csv@private_test"])`` evaluates the model
on each dataset (``affectlab.reports.evaluate.evaluate``: each with its own full report), scoring a dataset
of another taxonomy on the shared classes (``affectlab.label_maps``), and writes ``datasets.json`` plus
``report/report.md`` and a self-contained ``report/report.html``: one row per dataset, one column per
metric, and each dataset's label map. A dataset given without ``@SPLIT`` is scored on the split its results
are usually reported on (AffectNet val, RAF-DB and FER2013 test, ExpW's hash test split).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from affectlab.errors import AffectlabError
from affectlab.label_maps import ClassMapping
from affectlab.reports.document import Document, Section, Table, fmt

log = logging.getLogger(__name__)

#: (metrics key, column header, percent) of the dataset x metric table.
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("expression_n", "Faces", False),
    ("expression_accuracy", "Accuracy", True),
    ("expression_balanced_accuracy", "Bal. acc.", True),
    ("expression_f1_macro", "F1 macro", False),
    ("expression_cohen_kappa", "Kappa", False),
    ("valence_ccc", "Val. CCC", False),
    ("arousal_ccc", "Aro. CCC", False),
)


def label_map_section(mapping: ClassMapping, title: str = "Label map") -> Section:
    """The report section that says how the dataset's labels met the model's classes."""
    section = Section(title)
    if mapping.identity and not mapping.taxonomy_rows:
        return section.add(
            "The model's classes and the data's are the same, in the same order: nothing mapped."
        )
    section.add(*mapping.lines())
    if mapping.taxonomy_rows:
        rows = [[str(code), name, target] for code, name, target in mapping.taxonomy_rows]
        section.add(
            Table(
                ["Code", f"{mapping.dataset} name", "affectlab class"],
                rows,
                caption=f"{mapping.dataset} codes as read (matched to affectlab's classes by name)",
            )
        )
    return section


def parse_dataset(spec: str | Path) -> tuple[Path, str | None]:
    """``PATH`` or ``PATH@SPLIT`` -> (path, split or None)."""
    text = str(spec)
    path, sep, split = text.rpartition("@")
    if sep and split and "/" not in split:
        return Path(path), split
    return Path(text), None


def default_split(path: Path) -> str:
    """The split a dataset's results are usually reported on (from its layout; a store's source layout)."""
    from affectlab.data import detect_layout
    from affectlab.data.readers import eval_split
    from affectlab.data.store import read_manifest

    manifest = read_manifest(path) if path.is_dir() else None
    layout = str(manifest["source"]["layout"]) if manifest else detect_layout(path)
    return eval_split(layout)


def _row(name: str, split: str, result: Any) -> dict[str, Any]:
    return {
        "dataset": name,
        "split": split,
        "values": {key: result.metrics.get(key) for key, _, _ in COLUMNS},
        "classes": result.predictions.class_names,
        "label_map": result.label_map,
        "official": result.official_validation,
        "official_reason": result.official_reason,
        "eval_dir": str(result.out),
        "report": str(result.report_html),
    }


def datasets_table(record: dict[str, Any]) -> Table:
    """The dataset x metric table of a record written by :func:`compare_datasets`."""
    rows = [
        [f"{r['dataset']} ({r['split']})"]
        + [fmt(r["values"].get(k), 4 if p else 3, p) for k, _, p in COLUMNS]
        + [str(len(r["classes"]))]
        for r in record["datasets"]
    ]
    return Table(
        ["Dataset (split)", *(h for _, h, _ in COLUMNS), "Classes"],
        rows,
        caption=f"{record['model']['arch']} on {len(rows)} datasets",
        note="Each dataset is scored on the classes it shares with the model (see its label map); numbers on "
        "different class sets and datasets are not the same task, so no row is marked best.",
    )


def build_document(record: dict[str, Any]) -> Document:
    """The side-by-side report: the table, then each dataset's label map and report link."""
    doc = Document(
        title=f"affectlab cross-dataset evaluation — {record['model']['arch']}",
        subtitle=f"{len(record['datasets'])} datasets · unshared classes: {record['unshared']}",
        facts=[("Model", record["model"]["arch"]), ("Weights", str(record["model"]["weights"])),
               ("Date", record["created"])],
    )  # fmt: skip
    doc.sections.append(Section("Datasets side by side").add(datasets_table(record)))
    for row in record["datasets"]:
        section = label_map_section(
            ClassMapping.from_dict(row["label_map"]), f"{row['dataset']} ({row['split']})"
        )
        section.add(f"Full report: {row['report']}", f"Published figures: {row['official_reason']}.")
        doc.sections.append(section)
    return doc


def compare_datasets(
    weights: Any,
    datasets: Sequence[str | Path],
    out: str | Path = "runs/cross",
    *,
    unshared: str = "drop",
    device: str = "auto",
    n_boot: int = 200,
    progress: bool = True,
) -> Path:
    """Evaluate one model on several datasets (``PATH[@SPLIT]`` each); return datasets.json's path."""
    from affectlab.reports.evaluate import evaluate, write_json
    from affectlab.reports.html import write_html
    from affectlab.reports.markdown import write_markdown

    if not datasets:
        raise AffectlabError("give at least one dataset (PATH or PATH@SPLIT) to evaluate on")
    out_dir = Path(out)
    rows, info = [], None
    for i, spec in enumerate(datasets, start=1):
        path, split = parse_dataset(spec)
        if not path.exists():
            raise AffectlabError(f"{path}: no such dataset (from {spec!r}; expected PATH or PATH@SPLIT)")
        split = split or default_split(path)
        log.info("cross-dataset: %s (%s)", path, split)
        result = evaluate(
            weights, path, split, out=out_dir / "datasets" / f"{i:02d}-{path.name}", unshared=unshared,
            device=device, n_boot=n_boot, progress=progress,
        )  # fmt: skip
        info = info or result.info
        rows.append(_row(path.name or str(path), split, result))
    record = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": info,
        "unshared": unshared,
        "datasets": rows,
    }
    path = out_dir / "datasets.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(path, record)
    doc = build_document(record)
    write_markdown(doc, out_dir / "report")
    write_html(doc, out_dir / "report")
    return path


def datasets_text(path: str | Path, width: int = 120) -> str:
    """The dataset x metric table as terminal text."""
    import json
    import os

    from rich.console import Console
    from rich.table import Table as RichTable

    record = json.loads(Path(path).read_text(encoding="utf-8"))
    table = datasets_table(record)
    rich = RichTable(title=f"affectlab compare: {table.caption}", title_justify="left")
    for i, header in enumerate(table.headers):
        rich.add_column(header, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in table.rows:
        rich.add_row(*row)
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(rich)
    return console.export_text()
