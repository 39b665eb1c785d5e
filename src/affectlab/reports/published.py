"""Published reference figures (AffectNet, RAF-DB, FER2013), and when a report may show them.

Rows are shown only beside results on the real dataset's official split that the figures were measured on
(``dataset`` and ``split`` columns of published.csv), never beside synthetic data or another split.
"""

from __future__ import annotations

import csv
import io
from importlib import resources
from pathlib import Path
from typing import Any

from affectlab.errors import AffectlabError

#: Numeric columns of published.csv (accuracy as a fraction, like affectlab.metrics).
NUMERIC = (
    "accuracy",
    "valence_rmse",
    "valence_corr",
    "valence_sagr",
    "valence_ccc",
    "arousal_rmse",
    "arousal_corr",
    "arousal_sagr",
    "arousal_ccc",
)
#: Layouts that AffectNet itself is distributed in.
AFFECTNET_LAYOUTS = ("official", "repackaged")
#: A synthetic dataset's markers (written by affectlab.data.synth).
SYNTH_MARKERS = ("synth.json", ".synth-incomplete")
#: Smallest validation split taken for the real one when the raw source is gone (it has 4000 images).
MIN_OFFICIAL_VAL = 3500
#: Layouts of the other datasets with published rows -> (dataset key, title, smallest real split when the
#: store's source is gone: RAF-DB test has 3,068 faces, FER2013 PublicTest/PrivateTest 3,589 each).
REFERENCE_LAYOUTS: dict[str, tuple[str, str, int]] = {
    "rafdb": ("rafdb", "RAF-DB", 3000),
    "fer2013": ("fer2013", "FER2013", 3500),
    "ferplus": ("ferplus", "FER+", 3000),
}


def load_published(dataset: str | None = "affectnet") -> list[dict[str, Any]]:
    """Return the rows of published.csv for one dataset (None: all); numbers as floats (None if not
    published), each with a source and protocol."""
    text = resources.files("affectlab.reports").joinpath("published.csv").read_text(encoding="utf-8")
    rows: list[dict[str, Any]] = []
    for raw in csv.DictReader(io.StringIO(text)):
        row: dict[str, Any] = dict(raw)
        for key in NUMERIC:
            row[key] = float(raw[key]) if raw.get(key) else None
        row["num_classes"] = int(raw["num_classes"])
        if not row.get("source") or not row.get("protocol"):
            raise AffectlabError(f"published.csv: row {row.get('method')!r} lacks a source or protocol")
        if dataset is None or row["dataset"] == dataset:
            rows.append(row)
    return rows


def _synthetic(root: Path) -> bool:
    return any((root / marker).exists() for marker in SYNTH_MARKERS)


def official_validation(data: Any, split: str, num_classes: int) -> tuple[bool, str]:
    """Return (is AffectNet's official validation set, the reason) from the dataset's own metadata."""
    if not isinstance(data, (str, Path)):
        return False, "the data was passed as an in-memory split, so its origin is unknown"
    if split != "val":
        return False, f"the {split!r} split was evaluated; published figures are on the validation split"
    if num_classes != 8:
        return False, f"the model has {num_classes} classes; the published table holds 8-class results"
    from affectlab.data.store import read_manifest

    root = Path(data)
    manifest = read_manifest(root) if root.is_dir() else None
    if manifest is not None:
        source = manifest.get("source", {})
        layout, src = source.get("layout"), Path(str(source.get("path", "")))
        if layout not in AFFECTNET_LAYOUTS:
            return False, f"the store was prepared from a {layout!r} layout, not AffectNet's own layouts"
        if src.is_dir():
            if _synthetic(src):
                return False, "the store was prepared from affectlab's synthetic dataset (synth.json)"
            return True, f"prepared store of AffectNet's {layout} layout ({src})"
        count = int(manifest.get("splits", {}).get("val", {}).get("count", 0))
        if count >= MIN_OFFICIAL_VAL:
            return (
                True,
                f"prepared store of an AffectNet {layout} layout with {count} validation images "
                "(source folder no longer present)",
            )
        return (
            False,
            f"the store's source {src} is gone and its {count} validation images are fewer than "
            "AffectNet's official validation set",
        )
    from affectlab.data import detect_layout

    layout = detect_layout(root)
    if layout not in AFFECTNET_LAYOUTS:
        return False, f"the data is a {layout!r} layout, not AffectNet's official or re-packaged layout"
    if _synthetic(root):
        return False, "the data is affectlab's synthetic dataset (synth.json), not AffectNet"
    return True, f"AffectNet {layout} layout"


def _source(root: Path) -> tuple[str, Path | None, dict[str, Any] | None]:
    """(layout, raw source folder or None, store manifest or None) of a dataset path."""
    from affectlab.data import detect_layout
    from affectlab.data.store import read_manifest

    manifest = read_manifest(root) if root.is_dir() else None
    if manifest is not None:
        source = manifest.get("source", {})
        return str(source.get("layout")), Path(str(source.get("path", ""))), manifest

    return detect_layout(root), root if root.is_dir() else root.parent, None


def official_reference(data: Any, split: str, classes: list[str]) -> tuple[str | None, str]:
    """(the dataset whose published rows may stand beside this evaluation, or None; the reason).

    ``classes`` are the classes the evaluation was scored on (after any cross-taxonomy mapping).
    """
    if not isinstance(data, (str, Path)):
        return None, "the data was passed as an in-memory split, so its origin is unknown"
    root = Path(data)
    layout, src, manifest = _source(root)
    if layout in AFFECTNET_LAYOUTS:
        ok, reason = official_validation(data, split, len(classes))
        return ("affectnet" if ok else None), reason
    if layout not in REFERENCE_LAYOUTS:
        return None, f"there are no published figures for a {layout!r} layout (no official test split)"
    from affectlab.data.readers import resolve_split
    from affectlab.taxonomy import load_taxonomy

    key, title, min_count = REFERENCE_LAYOUTS[layout]
    split = resolve_split(split, layout)
    splits = sorted({row["split"] for row in load_published(key)})
    if split not in splits:
        return (
            None,
            f"the {split!r} split was evaluated; published {title} figures are on {', '.join(splits)}",
        )
    own = list(load_taxonomy(key).affectlab_classes)
    if list(classes) != own:
        return (
            None,
            f"scored on {len(classes)} classes {classes}; published {title} figures use its own {own}",
        )
    if src is not None and src.exists():
        if _synthetic(src):
            return None, f"the data is affectlab's generated {title}-format fixture (synth.json), not {title}"
        return key, f"{title}'s {split} split ({layout} layout, {src})"
    count = int((manifest or {}).get("splits", {}).get(split, {}).get("count", 0))
    if count >= min_count:
        return key, f"prepared store of {title} with {count} {split} faces (source folder no longer present)"
    return (
        None,
        f"the store's source is gone and its {count} {split} faces are fewer than {title}'s own split",
    )
