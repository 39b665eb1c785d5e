"""Rendering of a cross-dataset comparison (a dataset x metric table) and the label-map report section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from affectlab.evaluation.cross_dataset import COLUMNS
from affectlab.evaluation.label_maps import ClassMapping
from affectlab.reports.document import Document, Section, Table, fmt


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


def write_datasets_report(record: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write report.md and the self-contained report.html of a cross-dataset comparison."""
    from affectlab.reports.html import write_html
    from affectlab.reports.markdown import write_markdown

    doc = build_document(record)
    return write_markdown(doc, folder), write_html(doc, folder)
