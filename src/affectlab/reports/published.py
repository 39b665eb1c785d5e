"""Published reference figures on AffectNet's official validation set, and when a report may show them."""

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


def load_published() -> list[dict[str, Any]]:
    """Return the rows of published.csv; numbers as floats (None if not published), each with a source."""
    text = resources.files("affectlab.reports").joinpath("published.csv").read_text(encoding="utf-8")
    rows: list[dict[str, Any]] = []
    for raw in csv.DictReader(io.StringIO(text)):
        row: dict[str, Any] = dict(raw)
        for key in NUMERIC:
            row[key] = float(raw[key]) if raw.get(key) else None
        row["num_classes"] = int(raw["num_classes"])
        if not row.get("source") or not row.get("protocol"):
            raise AffectlabError(f"published.csv: row {row.get('method')!r} lacks a source or protocol")
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
