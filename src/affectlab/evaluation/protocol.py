"""What an evaluation's figures mean: which split chose the weights, which split they are reported on.

A model's metadata (written by ``train()``) records its protocol: the selection split (a held-out part of the
training split, the reported split itself, or none with the last epoch exported) and the split it reports on.
An evaluation then says, in its record and in the first lines of its report, which split selected and which
reported, and warns when they are the same (selection bias) or when it scores the training data.
"""

from __future__ import annotations

from typing import Any

#: Shown when the weights carry no protocol (imported, or trained before affectlab recorded it).
UNKNOWN = "unknown (the model's metadata does not record how its weights were chosen)"


def evaluation_protocol(training: dict[str, Any] | None, split: str) -> dict[str, Any]:
    """The protocol facts of evaluating a model with training metadata `training` on `split`."""
    proto = dict((training or {}).get("protocol") or {})
    selected_on = proto.get("selected_on", UNKNOWN)
    selection_split = proto.get("selection_split") if proto.get("export", "best") == "best" else None
    source = (training or {}).get("dataset", {}) or {}
    train_split = "train"
    warnings: list[str] = []
    same = selection_split is not None and split == selection_split
    if same:
        warnings.append(
            f"The exported weights were chosen on this split ({split}): these figures are optimistic "
            "(selection bias); report on a split the run did not select on."
        )
    elif split == train_split and source:
        warnings.append(
            "The model was trained on this split (or on most of it): these figures measure fit, not "
            "generalisation."
        )
    return {
        "selected_on": selected_on,
        "selection_split": selection_split,
        "reported_on": split,
        "export": proto.get("export"),
        "selected_on_reported": bool(same),
        "warnings": warnings,
    }


def protocol_line(proto: dict[str, Any] | None) -> str:
    """One sentence: selected on X, reported on Y (plus the exported epoch rule)."""
    if not proto:
        return f"selected on: {UNKNOWN}"
    if proto.get("export") == "last":
        return f"last epoch exported (no checkpoint selection); reported on {proto.get('reported_on')}"
    return f"selected on {proto.get('selected_on', UNKNOWN)}; reported on {proto.get('reported_on')}"
