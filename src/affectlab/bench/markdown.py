"""Bench output as Markdown: the same two tables `render` prints, for benchmarks/RESULTS.md and the README."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from affectlab.bench.report import _rows, target_cells, targets


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _one_minute(load: Any) -> str:
    """The 1-minute figure of a recorded load average (a triple, or one number in older results)."""
    value = load[0] if isinstance(load, list | tuple) and load else load
    return f"{value:.1f}" if isinstance(value, int | float) else "-"


def _table(header: tuple[str, ...], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def to_markdown(results: dict[str, Any]) -> str:
    """The machine line, the ratio table and the targets table of a bench run, as Markdown."""
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    start, end = (_one_minute(m.get(key)) for key in ("load_average", "load_average_end"))
    head = (
        f"Machine: {m['cpu']}, {m['physical_cores']} physical / {m['logical_cores']} logical cores; threads "
        f"pinned to {results.get('threads', m['torch_threads'])} for every measurement; 1-minute load "
        f"{start} at the start, {end} at the end; {versions}."
    )
    lines = [head, ""]
    lines += _table(("section", "measurement", "value", "compared with", "ratio", "load"), _rows(results))
    goals = [target_cells(g, no="**no**") for g in targets(results)]
    if goals:
        lines += ["", *_table(("issue", "target", "measured", "goal", "met", "load"), goals)]
    return "\n".join(lines) + "\n"


def write_markdown(results: dict[str, Any], path: str | Path) -> Path:
    """Write :func:`to_markdown` of `results` to `path`."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_markdown(results), encoding="utf-8")
    return out
