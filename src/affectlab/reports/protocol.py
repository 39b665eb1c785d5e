"""Report parts that say how the weights were chosen: facts for the header, a warning first when needed."""

from __future__ import annotations

from typing import Any

from affectlab.reports.document import Note, Section


def protocol_facts(proto: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Header facts: the split that selected the weights and the split the figures are reported on."""
    if not proto:
        return []
    selected = (
        "none (last epoch exported)" if proto.get("export") == "last" else str(proto.get("selected_on"))
    )
    return [("Selected on", selected), ("Reported on", str(proto.get("reported_on")))]


def protocol_sections(proto: dict[str, Any] | None) -> list[Section]:
    """A first section with the protocol warnings (selection on the reported split, training data)."""
    warnings = (proto or {}).get("warnings") or []
    if not warnings:
        return []
    return [Section("Read this first").add(*(Note(f"Warning: {w}") for w in warnings))]
