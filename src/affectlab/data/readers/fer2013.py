"""FER2013: ``fer2013.csv`` with ``emotion,pixels,Usage`` (48x48 grey faces stored as text in the table).

Usage ``Training`` / ``PublicTest`` / ``PrivateTest`` become the splits ``train`` / ``val`` / ``test``
(``--split public_test`` and ``--split private_test`` are accepted too). The pixels are parsed and decoded by
affectlab.preprocessing (``parse_pixel_string`` here, ``decode_array`` when cropping), the one decode path.
Codes: ``affectlab/data/taxonomies/fer2013.yaml``. Ids are the 0-based data row (``fer0000000`` like FER+).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from affectlab.data.readers.base import (
    DuplicateGuard,
    LabelPolicy,
    Problems,
    Record,
    build_record,
    iter_all_rows,
    open_csv,
)
from affectlab.errors import AffectlabError
from affectlab.preprocessing.decode import ImageProblem, parse_pixel_string
from affectlab.taxonomy import load_taxonomy

TAXONOMY = "fer2013"
CSV_NAME = "fer2013.csv"
COLUMNS = ("emotion", "pixels", "Usage")
SIDE = 48
USAGE: dict[str, str] = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
SPLIT_ALIASES: dict[str, str] = {
    "publictest": "val",
    "public_test": "val",
    "privatetest": "test",
    "private_test": "test",
}
#: The split papers report on (PrivateTest); PublicTest is the usual validation split.
EVAL_SPLIT = "test"


def csv_path(root: Path) -> Path | None:
    """The FER2013 CSV of ``root``: ``root`` itself when it is that CSV, or ``root/fer2013.csv``."""
    if root.is_file():
        return root if _has_fer_header(root) else None
    candidate = root / CSV_NAME
    return candidate if candidate.is_file() else None


def _has_fer_header(path: Path) -> bool:
    if path.suffix.lower() != ".csv":
        return False
    try:
        with open_csv(path, COLUMNS):
            return True
    except AffectlabError:  # unreadable, or not FER2013's columns
        return False


def matches(root: Path) -> bool:
    """Return True for ``fer2013.csv`` (or a folder holding it)."""
    return csv_path(root) is not None


def iter_rows(path: Path, problems: Problems) -> Iterator[tuple[int, str, dict[str, str] | None]]:
    """Yield (0-based data row, ``file.csv:LINE``, row or None once counted as bad) of a FER2013-style CSV."""
    with open_csv(path, COLUMNS) as reader:
        for index, (where, row) in enumerate(iter_all_rows(reader, path, problems)):
            yield index, where, row


def split_of(usage: str | None) -> str | None:
    """The affectlab split of a Usage value (None: not a FER2013 usage)."""
    return USAGE.get((usage or "").strip())


def parse_face(row: dict[str, str], where: str, problems: Problems) -> tuple[str, np.ndarray] | None:
    """(split, pixel array) of one row, or None after counting why it was skipped."""
    split = split_of(row.get("Usage"))
    if split is None:
        problems.reject("bad_row", where, f"Usage {row.get('Usage')!r} is not one of {', '.join(USAGE)}")
        return None
    try:
        pixels = parse_pixel_string(row.get("pixels") or "", SIDE, SIDE)
    except ImageProblem as exc:
        problems.reject(exc.reason, where, exc.detail)
        return None
    return split, pixels


def read(root: Path, policy: LabelPolicy, problems: Problems) -> dict[str, list[Record]]:
    """Read every row into records of its Usage's split; bad rows are skipped and counted with their line."""
    path = csv_path(root)
    assert path is not None
    policy = policy.with_taxonomy(load_taxonomy(TAXONOMY))
    out: dict[str, list[Record]] = {}
    guard = DuplicateGuard()
    for index, where, row in iter_rows(path, problems):
        if row is None:
            continue
        face = parse_face(row, where, problems)
        if face is None:
            continue
        split, pixels = face
        source_id = f"fer{index:07d}"
        if not guard.accept(problems, split, source_id, where):
            continue
        record = build_record(
            problems,
            policy,
            path=path,
            split=split,
            source_id=source_id,
            origin=where,
            expression=row.get("emotion"),
            pixels=pixels,
        )
        if record is not None:
            out.setdefault(split, []).append(record)
    return out
