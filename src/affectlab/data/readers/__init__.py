"""Readers: each AffectNet layout (and a generic manifest) into records, plus layout auto-detection."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from affectlab.data.readers import affwild2, folders, manifest, official, repackaged
from affectlab.data.readers.base import SPLITS, LabelPolicy, Problems, ReasonCount, Record
from affectlab.errors import AffectlabError

#: Layout name -> reader module, in detection order.
LAYOUTS: dict[str, ModuleType] = {
    "affwild2": affwild2,
    "repackaged": repackaged,
    "official": official,
    "manifest": manifest,
    "folders": folders,
}

__all__ = [
    "LAYOUTS",
    "SPLITS",
    "LabelPolicy",
    "Problems",
    "ReasonCount",
    "Record",
    "detect_layout",
    "read_layout",
]


def detect_layout(path: str | Path) -> str:
    """Return the layout name of a raw dataset: affwild2, repackaged, official, manifest or folders."""
    root = Path(path)
    if not root.exists():
        raise AffectlabError(f"{root}: no such file or folder; expected a dataset root or a manifest CSV")
    from affectlab.data.store import is_incomplete_store, is_store  # the store imports the readers

    if is_store(root):
        raise AffectlabError(
            f"{root} is a prepared store, not a raw layout; open it with open_store/open_split"
        )
    if is_incomplete_store(root):
        raise AffectlabError(
            f"{root} is an incomplete prepared store (no manifest.json: `affectlab prepare` was interrupted "
            "or failed); re-run `affectlab prepare` into it"
        )
    for name, module in LAYOUTS.items():
        if module.matches(root):
            return name
    raise AffectlabError(
        f"{root}: unrecognised dataset layout; expected one of: Aff-Wild2 (cropped_aligned/ + annotations/), "
        "re-packaged AffectNet (train_set/images, "
        "val_set/images), official AffectNet (Manually_Annotated_file_lists/), a manifest CSV "
        "(path,expression,valence,arousal) or class folders (train/<class>/, val/<class>/)"
    )


def read_layout(
    path: str | Path, policy: LabelPolicy, problems: Problems, layout: str | None = None
) -> tuple[str, dict[str, list[Record]]]:
    """Read a raw dataset into per-split records; return (layout name, records by split)."""
    root = Path(path)
    name = layout or detect_layout(root)
    if name not in LAYOUTS:
        raise AffectlabError(f"unknown layout {name!r}; expected one of {', '.join(LAYOUTS)}")
    records = LAYOUTS[name].read(root, policy, problems)
    return name, {split: records[split] for split in SPLITS if split in records}
