"""Generic manifest CSV ``path,expression,valence,arousal[,split]`` (empty cells are missing labels)."""

from __future__ import annotations

import logging
from pathlib import Path

from affectlab.data.readers.base import (
    SPLITS,
    DuplicateGuard,
    LabelPolicy,
    Problems,
    Record,
    build_record,
    open_csv,
)
from affectlab.errors import AffectlabError

SPLIT_FILES: dict[str, str] = {"train": "train.csv", "val": "val.csv"}
LABEL_COLUMNS: tuple[str, ...] = ("expression", "valence", "arousal")
#: The columns of a manifest CSV (an optional ``split`` column may follow).
COLUMNS: tuple[str, ...] = ("path", *LABEL_COLUMNS)
logger = logging.getLogger(__name__)


def manifest_files(root: Path) -> list[tuple[Path, str | None]]:
    """Return the CSV files of a manifest dataset with their split (None: taken from a ``split`` column)."""
    if root.is_file():
        return [(root, None)]
    return [(root / name, split) for split, name in SPLIT_FILES.items() if (root / name).is_file()]


def matches(root: Path) -> bool:
    """Return True if ``root`` is a CSV file or a folder with train.csv/val.csv."""
    return (root.is_file() and root.suffix.lower() == ".csv") or bool(manifest_files(root))


def _check_label_columns(csv_path: Path, header: list[str], problems: Problems) -> None:
    """Refuse a CSV without label columns; a missing label column next to an unknown one (a misspelling,
    such as ``valance``) is an error in strict mode and a warning otherwise, never silently all-missing."""
    missing = [c for c in LABEL_COLUMNS if c not in header]
    unknown = [c for c in header if c not in (*LABEL_COLUMNS, "path", "split")]
    expected = "expected path,expression,valence,arousal[,split]"
    if len(missing) == len(LABEL_COLUMNS):
        raise AffectlabError(f"{csv_path}: no label column ({', '.join(LABEL_COLUMNS)}); {expected}")
    if missing and unknown:
        message = (
            f"{csv_path}: no column(s) {', '.join(missing)} but unknown column(s) {', '.join(unknown)}; "
            f"{expected} (a misspelt column would leave that label missing for every row)"
        )
        if problems.strict:
            raise AffectlabError(message)
        logger.warning("%s", message)


def _read_csv(
    csv_path: Path,
    fixed_split: str | None,
    policy: LabelPolicy,
    problems: Problems,
    guard: DuplicateGuard,
    out: dict[str, list[Record]],
) -> None:
    with open_csv(csv_path, ("path",)) as reader:
        _check_label_columns(csv_path, list(reader.fieldnames or []), problems)
        for row in reader:
            where = f"{csv_path}:{reader.line_num}"
            rel = (row.get("path") or "").strip()
            split = fixed_split or (row.get("split") or "train").strip().lower()
            if split in ("valid", "validation"):
                split = "val"
            if split not in SPLITS:
                problems.reject("bad_row", where, f"split {split!r} is not one of {', '.join(SPLITS)}")
                continue
            if not rel:
                problems.reject("bad_row", where, "empty path; expected an image path")
                continue
            if not guard.accept(problems, split, rel, where):
                continue
            path = Path(rel) if Path(rel).is_absolute() else csv_path.parent / rel
            record = build_record(
                problems,
                policy,
                path=path,
                split=split,
                source_id=rel,
                origin=where,
                expression=row.get("expression"),
                valence=row.get("valence"),
                arousal=row.get("arousal"),
                allow_names=True,
            )
            if record is not None:
                out.setdefault(split, []).append(record)


def read(root: Path, policy: LabelPolicy, problems: Problems) -> dict[str, list[Record]]:
    """Read the manifest CSV(s) into records; relative paths are relative to the CSV's folder."""
    out: dict[str, list[Record]] = {}
    guard = DuplicateGuard()
    for csv_path, split in manifest_files(root):
        _read_csv(csv_path, split, policy, problems, guard, out)
    return out
