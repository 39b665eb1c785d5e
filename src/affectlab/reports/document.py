"""A small report model (sections of paragraphs, tables and figures) rendered to HTML and Markdown."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    """A table of already formatted cells; ``best`` holds (row, column) cells to mark as best."""

    headers: list[str]
    rows: list[list[str]]
    caption: str = ""
    best: set[tuple[int, int]] = field(default_factory=set)
    note: str = ""


@dataclass
class Figure:
    """A PNG figure; ``name`` is its file name in the Markdown report's figures/ folder."""

    name: str
    png: bytes
    caption: str
    wide: bool = False


class Note(str):
    """A paragraph of secondary detail (rendered small)."""


@dataclass
class Link:
    """A paragraph holding one link (relative to the report folder)."""

    text: str
    href: str


Block = str | Table | Figure | Link


@dataclass
class Section:
    """A titled section; level 2 or 3."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2
    anchor: str = ""

    def __post_init__(self) -> None:
        if not self.anchor:
            self.anchor = slug(self.title)

    def add(self, *blocks: Block | None) -> Section:
        """Append the given blocks (None is skipped); return self."""
        self.blocks.extend(b for b in blocks if b is not None)
        return self


@dataclass
class Document:
    """A whole report."""

    title: str
    subtitle: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        """Return every figure in order."""
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]


def slug(text: str) -> str:
    """Return an HTML-anchor-friendly id for a title."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def fmt(value: Any, digits: int = 3, percent: bool = False) -> str:
    """Format a metric value; None (undefined) becomes an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        return f"{100 * value:.{max(digits - 2, 1)}f}%" if percent else f"{value:.{digits}f}"
    return str(value)


def fmt_ci(estimate: Any, ci: dict[str, Any] | None, digits: int = 3, percent: bool = False) -> str:
    """Format an estimate with its bootstrap interval when there is one: 0.512 [0.48, 0.54]."""
    text = fmt(estimate, digits, percent)
    if ci and ci.get("low") is not None and ci.get("high") is not None:
        return f"{text} [{fmt(ci['low'], digits, percent)}, {fmt(ci['high'], digits, percent)}]"
    return text
