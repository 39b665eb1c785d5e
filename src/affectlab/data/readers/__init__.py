"""Readers: each dataset layout (AffectNet's, RAF-DB, FER2013/FER+, ExpW, a generic manifest, class folders)
into records, plus layout auto-detection, split names and each layout's taxonomy."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from affectlab.data.readers import (
    affwild2,
    expw,
    fer2013,
    ferplus,
    folders,
    manifest,
    official,
    rafdb,
    repackaged,
)
from affectlab.data.readers.base import (
    SPLIT_ALIASES,
    SPLITS,
    VOTE_MODES,
    LabelPolicy,
    Problems,
    ReasonCount,
    Record,
)
from affectlab.errors import AffectlabError

if TYPE_CHECKING:
    from affectlab.taxonomy import Taxonomy

#: Layout name -> reader module, in detection order (FER+ before FER2013: its folder holds both CSVs).
LAYOUTS: dict[str, ModuleType] = {
    "affwild2": affwild2,
    "repackaged": repackaged,
    "official": official,
    "rafdb": rafdb,
    "ferplus": ferplus,
    "fer2013": fer2013,
    "expw": expw,
    "manifest": manifest,
    "folders": folders,
}

__all__ = [
    "LAYOUTS",
    "SPLITS",
    "VOTE_MODES",
    "LabelPolicy",
    "Problems",
    "ReasonCount",
    "Record",
    "detect_layout",
    "eval_split",
    "layout_taxonomy",
    "make_policy",
    "read_layout",
    "resolve_split",
]


def detect_layout(path: str | Path) -> str:
    """Return the layout name of a raw dataset (the first of LAYOUTS, in order, whose files it has)."""
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
            "or failed); re-run `affectlab prepare SRC` into it"
        )
    for name, module in LAYOUTS.items():
        if module.matches(root):
            return name
    raise AffectlabError(
        f"{root}: unrecognised dataset layout; expected one of: Aff-Wild2 (cropped_aligned/ + "
        "annotations/), re-packaged AffectNet (train_set/images, "
        "val_set/images), official AffectNet (Manually_Annotated_file_lists/), RAF-DB (basic/EmoLabel/"
        "list_patition_label.txt), FER2013 (fer2013.csv), FER+ (fer2013new.csv beside fer2013.csv), ExpW "
        "(label/label.lst), a manifest CSV (path,expression,valence,arousal) or class folders "
        "(train/<class>/, val/<class>/)"
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
    by_split = {split: records[split] for split in SPLITS if split in records}
    for split, items in by_split.items():
        if not items:  # a list file with a header and no usable row: say so, never let the split vanish
            problems.warn(f"{root} [{split}]", f"the {split} split has no usable sample ({name} layout)")
    return name, by_split


def resolve_split(name: str, layout: str | None = None) -> str:
    """affectlab's name for a split as the user or a dataset calls it (``validation`` -> ``val``; FER2013's
    ``private_test`` -> ``test``); unknown names pass through, so the caller's error lists what exists."""
    key = name.strip().lower().replace("-", "_")
    module = LAYOUTS.get(layout or "")
    aliases = {**SPLIT_ALIASES, **getattr(module, "SPLIT_ALIASES", {})}
    return aliases.get(key, key)


def eval_split(layout: str) -> str:
    """The split a layout's results are usually reported on (RAF-DB and FER2013: test; AffectNet: val)."""
    return str(getattr(LAYOUTS.get(layout), "EVAL_SPLIT", "val"))


def layout_taxonomy(layout: str, policy: LabelPolicy) -> Taxonomy:
    """The taxonomy a layout's codes are read in: the user's label map, the dataset's own, or AffectNet's."""
    from affectlab.taxonomy import affectnet_taxonomy, load_taxonomy

    if policy.label_map is not None:
        return policy.label_map
    name = getattr(LAYOUTS.get(layout), "TAXONOMY", None)
    return load_taxonomy(name) if name else affectnet_taxonomy(policy.num_classes)


def make_policy(num_classes: int = 8, label_map: Any = None, label_mode: str = "majority") -> LabelPolicy:
    """The label policy for a class count, an optional user label map (YAML path or Taxonomy) and a mode."""
    from affectlab.taxonomy import Taxonomy, load_taxonomy

    taxonomy = label_map if isinstance(label_map, Taxonomy) or label_map is None else load_taxonomy(label_map)
    return LabelPolicy(num_classes, taxonomy, label_mode)
