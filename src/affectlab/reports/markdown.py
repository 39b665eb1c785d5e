"""Render a report Document as Markdown, with its figures written next to it as PNG files."""

from __future__ import annotations

from pathlib import Path

from affectlab.reports.document import Document, Figure, Link, Note, Table

BEST_MARK = "★"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_markdown(table: Table) -> str:
    """Return a GitHub-flavoured Markdown table; best cells are bold and starred."""
    lines = []
    if table.caption:
        lines.append(f"*{table.caption}*")
        lines.append("")
    lines.append("| " + " | ".join(_cell(h) for h in table.headers) + " |")
    lines.append("|" + "|".join(":---" if i == 0 else "---:" for i in range(len(table.headers))) + "|")
    for r, row in enumerate(table.rows):
        cells = []
        for c, text in enumerate(row):
            cell = _cell(text)
            cells.append(f"**{cell}** {BEST_MARK}" if (r, c) in table.best else cell)
        lines.append("| " + " | ".join(cells) + " |")
    if table.note:
        lines.append("")
        lines.append(table.note)
    return "\n".join(lines)


def render_markdown(doc: Document, figures_dir: str = "figures") -> str:
    """Return the Markdown text; figures are referenced as ``figures/<name>``."""
    out = [f"# {doc.title}", ""]
    if doc.subtitle:
        out += [doc.subtitle, ""]
    if doc.facts:
        out += [f"- **{k}:** {v}" for k, v in doc.facts] + [""]
    out += ["## Contents", ""]
    out += [f"{'  ' * (s.level - 2)}- [{s.title}](#{s.anchor})" for s in doc.sections] + [""]
    for section in doc.sections:
        out += [f'<a id="{section.anchor}"></a>', "", f"{'#' * section.level} {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                out += [table_markdown(block), ""]
            elif isinstance(block, Figure):
                out += [f"![{block.caption}]({figures_dir}/{block.name})", "", f"*{block.caption}*", ""]
            elif isinstance(block, Link):
                out += [f"[{block.text}]({block.href})", ""]
            elif isinstance(block, Note):
                out += [f"> {block}", ""]
            else:
                out += [block, ""]
    return "\n".join(out).rstrip() + "\n"


def write_markdown(doc: Document, folder: Path) -> Path:
    """Write report.md and figures/*.png into ``folder``; return the report path."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = folder / "figures"
    figures.mkdir(exist_ok=True)
    for fig in doc.figures():
        (figures / fig.name).write_bytes(fig.png)
    path = folder / "report.md"
    path.write_text(render_markdown(doc), encoding="utf-8")
    return path
