"""FER+: ``fer2013new.csv`` (10 votes per face) next to ``fer2013.csv`` (the pixels), paired row by row.

``fer2013new.csv`` has the same rows as ``fer2013.csv`` in the same order (microsoft/FERPlus README):
``Usage,Image name`` and one vote count per column of ``affectlab/data/taxonomies/ferplus.yaml`` (neutral,
happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF). The label mode (the FER+ paper,
Barsoum et al. 2016) decides which faces are kept and their label:

- ``majority``: the column with more than half of the votes; otherwise the face is skipped (``no_majority``).
- ``plurality``: the column with the most votes; a tie is skipped (``label_tie``).
- ``probability``: the vote distribution over the emotions is the label (``Record.soft``, stored as
  ``expression_soft``); the hard label used for accuracy is its most voted emotion (a tie goes to the first in
  the file's column order, counted as ``label_tie_broken``); faces without emotion votes are skipped.

In every mode a face whose winning column is ``NF`` (not a face; all-``NF`` rows included) is skipped as
``no_face`` and one won by ``unknown`` as ``label_unknown``. The vote distribution is kept in every mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from affectlab.data.readers import fer2013
from affectlab.data.readers.base import (
    DuplicateGuard,
    LabelPolicy,
    Problems,
    Record,
    Rejected,
    build_record,
    iter_all_rows,
    open_csv,
)
from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES
from affectlab.taxonomy import NonLabel, Taxonomy, load_taxonomy

TAXONOMY = "ferplus"
CSV_NAME = "fer2013new.csv"
SPLIT_ALIASES = fer2013.SPLIT_ALIASES
EVAL_SPLIT = fer2013.EVAL_SPLIT


def matches(root: Path) -> bool:
    """Return True for a folder holding both fer2013new.csv and fer2013.csv."""
    return root.is_dir() and (root / CSV_NAME).is_file() and (root / fer2013.CSV_NAME).is_file()


def vote_columns(taxonomy: Taxonomy) -> list[str]:
    """The vote columns in the file's order (the taxonomy's codes 0..9)."""
    entries = sorted(taxonomy.entries(), key=lambda e: e.code)
    return [e.name for e in entries]


def winning_code(votes: list[int], mode: str, emotions: int) -> tuple[int, bool]:
    """(the winning column, whether a tie was broken) under a label mode, or raise Rejected."""
    total = sum(votes)
    if total <= 0:
        raise Rejected("no_label", "no votes in any column")
    top = max(votes)
    winners = [i for i, v in enumerate(votes) if v == top]
    if mode == "majority":
        if 2 * top <= total:
            raise Rejected("no_majority", f"no column has more than half of the {total} votes (most: {top})")
        return winners[0], False
    if mode == "plurality":
        if len(winners) > 1:
            raise Rejected("label_tie", f"{len(winners)} columns share the most votes ({top})")
        return winners[0], False
    if votes[emotions:] and max(votes[emotions:]) >= max(votes[:emotions]):  # unknown/NF win or tie
        return max(range(emotions, len(votes)), key=lambda i: votes[i]), False
    best = max(votes[:emotions])
    tied = [i for i in range(emotions) if votes[i] == best]
    return tied[0], len(tied) > 1


def soft_label(votes: list[int], taxonomy: Taxonomy, names: tuple[str, ...]) -> tuple[float, ...] | None:
    """The vote distribution over the label set ``names`` (mapped by name), or None without votes there."""
    mass = [0.0] * len(names)
    for entry in taxonomy.classes:
        if entry.affectlab in names:
            mass[names.index(entry.affectlab)] += votes[entry.code]
    total = sum(mass)
    return tuple(m / total for m in mass) if total > 0 else None


def _votes(row: dict[str, Any], columns: list[str]) -> list[int]:
    try:
        votes = [int(str(row[c]).strip()) for c in columns]
    except (TypeError, ValueError):
        raise Rejected("bad_label", f"vote counts must be integers in columns {', '.join(columns)}") from None
    if min(votes) < 0:
        raise Rejected("label_out_of_range", "vote counts must be >= 0")
    return votes


def _paired_rows(
    root: Path, columns: list[str], problems: Problems
) -> Iterator[tuple[int, str, dict[str, str], str, dict[str, str]]]:
    """Yield (data row, FER+ line, FER+ row, FER2013 line, FER2013 row); the files must have the same rows.

    A row that is bad in either file (counted there, with its line) pairs with nothing and is skipped.
    """
    path = root / CSV_NAME
    with open_csv(path, ["Usage", *columns]) as reader:
        order = [c for c in (reader.fieldnames or []) if c in columns]
        if order != columns:
            raise AffectlabError(f"{path}: vote columns are in the order {order}, expected {columns}")
        pixels = fer2013.iter_rows(root / fer2013.CSV_NAME, problems)
        for index, (where, row) in enumerate(iter_all_rows(reader, path, problems)):
            pixel_row = next(pixels, None)
            if pixel_row is None:
                raise AffectlabError(
                    f"{path} has more rows than {fer2013.CSV_NAME} (row {index + 1} has no pixels); FER+ "
                    "rows pair with FER2013 rows by order, so the two files must come from the same release"
                )
            _, pixel_where, pixels_of_row = pixel_row
            if row is not None and pixels_of_row is not None:
                yield index, where, row, pixel_where, pixels_of_row
        if next(pixels, None) is not None:
            raise AffectlabError(f"{fer2013.CSV_NAME} has more rows than {path}; they must pair row by row")


def read(root: Path, policy: LabelPolicy, problems: Problems) -> dict[str, list[Record]]:
    """Read the FER+ votes with the FER2013 pixels of the same row; the label mode decides each label."""
    taxonomy = load_taxonomy(TAXONOMY)
    columns = vote_columns(taxonomy)
    emotions = len(taxonomy.classes)
    policy = policy.with_taxonomy(taxonomy)
    names = AFFECTNET_CLASSES[: policy.num_classes]
    out: dict[str, list[Record]] = {}
    guard = DuplicateGuard()
    for index, where, row, pixel_where, pixel_row in _paired_rows(root, columns, problems):
        if (row.get("Usage") or "").strip() != (pixel_row.get("Usage") or "").strip():
            problems.reject("bad_row", where, f"Usage {row.get('Usage')!r} differs from fer2013.csv's row")
            continue
        try:
            votes = _votes(row, columns)
            code, tie_broken = winning_code(votes, policy.vote_mode, emotions)
            entry = taxonomy.lookup(code)
            if isinstance(entry, NonLabel):  # unknown or NF won: the taxonomy says what that means
                raise Rejected(entry.reason, f"most votes ({votes[code]} of {sum(votes)}) are {entry.name}")
        except Rejected as exc:
            problems.reject(exc.reason, where, exc.detail)
            continue
        face = fer2013.parse_face(pixel_row, pixel_where, problems)
        if face is None:
            continue
        split, pixels = face
        source_id = f"fer{index:07d}"
        if not guard.accept(problems, split, source_id, where):
            continue
        record = build_record(
            problems,
            policy,
            path=root / fer2013.CSV_NAME,
            split=split,
            source_id=source_id,
            origin=where,
            expression=code,
            pixels=pixels,
            soft=soft_label(votes, taxonomy, names),
        )
        if record is not None:
            out.setdefault(split, []).append(record)
            if tie_broken:
                problems.note("label_tie_broken", where)
    return out
