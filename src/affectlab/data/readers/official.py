"""Official AffectNet: ``Manually_Annotated_file_lists/*.csv`` + ``Manually_Annotated_Images/``."""

from __future__ import annotations

import math
from pathlib import Path

from affectlab.data.readers.base import (
    DuplicateGuard,
    LabelPolicy,
    Problems,
    Record,
    Rejected,
    build_record,
    iter_rows,
    open_csv,
)
from affectlab.data.readers.paths import refuse_outside_root

LISTS_DIR = "Manually_Annotated_file_lists"
IMAGES_DIR = "Manually_Annotated_Images"
SPLIT_FILES: dict[str, str] = {"train": "training.csv", "val": "validation.csv"}
#: The header of the official CSV lists.
COLUMNS: tuple[str, ...] = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)


def matches(root: Path) -> bool:
    """Return True if ``root`` looks like the official layout."""
    return (root / LISTS_DIR).is_dir()


def _box(row: dict[str, str]) -> tuple[float, float, float, float]:
    """Parse the face box of one row, or raise Rejected."""
    try:
        x, y, w, h = (float(row[k]) for k in ("face_x", "face_y", "face_width", "face_height"))
    except (TypeError, ValueError):
        raise Rejected("bad_box", "face_x/face_y/face_width/face_height must be numbers") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise Rejected("bad_box", f"face box must have positive width/height, got w={w:g}, h={h:g}")
    return x, y, w, h


def read(root: Path, policy: LabelPolicy, problems: Problems) -> dict[str, list[Record]]:
    """Read both CSV lists into records, counting problems."""
    out: dict[str, list[Record]] = {}
    guard = DuplicateGuard()
    images = root / IMAGES_DIR
    for split, name in SPLIT_FILES.items():
        csv_path = root / LISTS_DIR / name
        if not csv_path.is_file():
            continue
        records: list[Record] = []
        with open_csv(csv_path, COLUMNS) as reader:
            for where, row in iter_rows(reader, csv_path, problems):
                rel = (row.get("subDirectory_filePath") or "").strip()
                if not rel:
                    problems.reject("bad_row", where, "empty subDirectory_filePath; expected an image path")
                    continue
                if refuse_outside_root(problems, where, rel, IMAGES_DIR, "1/abc.jpg"):
                    continue
                if not guard.accept(problems, split, rel, where):
                    continue
                try:
                    box = _box(row)
                except Rejected as exc:
                    problems.reject(exc.reason, where, exc.detail)
                    continue
                record = build_record(
                    problems,
                    policy,
                    path=images / rel,
                    split=split,
                    source_id=rel,
                    origin=where,
                    expression=row["expression"],
                    valence=row["valence"],
                    arousal=row["arousal"],
                    landmarks=row.get("facial_landmarks"),
                    box=box,
                )
                if record is not None:
                    records.append(record)
        out[split] = records
    return out
