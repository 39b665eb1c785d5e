"""The record schema every reader produces, the label policy, and the problem counter (skip or strict)."""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.labels import MISSING_VA, NON_LABEL_CODES, class_names, index_of

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val")
Box = tuple[float, float, float, float]


@dataclass(frozen=True, eq=False)
class Record:
    """One labelled face: where the image is, its labels (missing = -1 / NaN) and where it was declared."""

    path: Path
    split: str
    expression: int
    valence: float
    arousal: float
    landmarks: np.ndarray | None
    box: Box | None
    source_id: str
    origin: str


class Rejected(Exception):
    """Raised by parsing helpers for an item that must be skipped; ``reason`` is the report key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class ReasonCount:
    """How often one reason occurred, with the first few places it did."""

    count: int = 0
    examples: list[str] = field(default_factory=list)


class Problems:
    """Counts rejected items and adjustments by reason; in strict mode the first rejection raises."""

    def __init__(self, strict: bool = False, max_examples: int = 5) -> None:
        self.strict = strict
        self.max_examples = max_examples
        self.rejected: dict[str, ReasonCount] = {}
        self.notes: dict[str, ReasonCount] = {}

    @staticmethod
    def _add(table: dict[str, ReasonCount], reason: str, example: str, limit: int) -> None:
        entry = table.setdefault(reason, ReasonCount())
        entry.count += 1
        if len(entry.examples) < limit:
            entry.examples.append(example)

    def reject(self, reason: str, where: str, detail: str) -> None:
        """Count a skipped item (or raise AffectlabError naming ``where`` in strict mode)."""
        if self.strict:
            raise AffectlabError(f"{where}: {detail} [{reason}] (strict mode stops at the first problem)")
        logger.debug("skipping %s: %s (%s)", where, detail, reason)
        self._add(self.rejected, reason, f"{where}: {detail}", self.max_examples)

    def note(self, reason: str, where: str) -> None:
        """Count an item that was kept but adjusted (converted, clipped, label marked missing, ...)."""
        self._add(self.notes, reason, where, self.max_examples)

    @property
    def total_rejected(self) -> int:
        """Number of skipped items."""
        return sum(entry.count for entry in self.rejected.values())


def _scalar(value: Any) -> Any:
    """Unwrap a numpy scalar / one-element array / bytes into a plain Python value."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise Rejected("bad_label", f"expected a single value, got an array of shape {value.shape}")
        value = value.reshape(()).item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


@dataclass(frozen=True)
class LabelPolicy:
    """How raw AffectNet codes and values become labels (see docs/data.md, "Label policy")."""

    num_classes: int = 8

    @property
    def names(self) -> tuple[str, ...]:
        """Class names of this label set."""
        return class_names(self.num_classes)

    def expression(self, raw: Any, *, allow_names: bool = False) -> tuple[int, str | None]:
        """Return (class index or -1, note reason or None) for a raw expression value, or raise Rejected."""
        value = _scalar(raw)
        if _is_empty(value):
            return -1, None
        if isinstance(value, str):
            text = value.strip()
            try:
                number = float(text)
            except ValueError:
                if not allow_names:
                    raise Rejected(
                        "bad_label", f"expected an integer expression code, got {text!r}"
                    ) from None
                try:
                    code = index_of(text)
                except AffectlabError as exc:
                    raise Rejected("bad_label", str(exc)) from None
                return self._from_code(code)
        elif isinstance(value, (int, float)):
            number = float(value)
        else:
            raise Rejected("bad_label", f"expected an integer expression code, got {value!r}")
        if math.isnan(number):
            raise Rejected("label_nan", "expression is NaN; expected an integer code 0-7 (or empty)")
        if number != int(number):
            raise Rejected("bad_label", f"expected an integer expression code, got {number:g}")
        return self._from_code(int(number))

    def _from_code(self, code: int) -> tuple[int, str | None]:
        if code in NON_LABEL_CODES:
            if code == 10:
                raise Rejected("no_face", "expression code 10 (No-Face): the image has no usable face")
            return -1, f"expression_{NON_LABEL_CODES[code]}"
        if not 0 <= code < 8:
            raise Rejected(
                "label_out_of_range",
                f"expression code {code} is outside 0-7 (8/9/10: None/Uncertain/No-Face)",
            )
        if code >= self.num_classes:
            raise Rejected(
                "contempt_dropped", f"class {code} (contempt) is not in the {self.num_classes}-class set"
            )
        return code, None

    def affect(self, raw: Any, what: str) -> tuple[float, str | None]:
        """Return (value in [-1, 1] or NaN, note or None) for a raw valence/arousal, or raise Rejected."""
        value = _scalar(raw)
        if _is_empty(value):
            return math.nan, None
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise Rejected("bad_label", f"{what} must be a number in [-1, 1], got {value!r}") from None
        if math.isnan(number):
            raise Rejected(
                "label_nan", f"{what} is NaN; expected a number in [-1, 1] (or empty / -2 for missing)"
            )
        if number == MISSING_VA:
            return math.nan, f"{what}_missing"
        if not -1.0 - 1e-6 <= number <= 1.0 + 1e-6:
            raise Rejected("label_out_of_range", f"{what} {number:g} is outside [-1, 1] (-2 marks missing)")
        return float(min(1.0, max(-1.0, number))), None


def parse_landmarks(raw: Any) -> np.ndarray | None:
    """Parse 68 landmarks given as 136 numbers (array or separated string) into (68, 2), or raise."""
    if raw is None:
        return None
    if isinstance(raw, np.ndarray) and raw.size == 1:
        raw = raw.reshape(()).item()
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return None
        parts = [p for p in text.replace(",", ";").replace(" ", ";").split(";") if p]
        raw = parts
    try:
        arr = np.asarray(raw, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise Rejected("bad_landmarks", "landmarks must be 136 numbers (68 x, y pairs)") from None
    if arr.size != 136 or not np.all(np.isfinite(arr)):
        raise Rejected("bad_landmarks", f"landmarks must be 136 finite numbers, got {arr.size}")
    return arr.reshape(68, 2).astype(np.float32)


def build_record(
    problems: Problems,
    policy: LabelPolicy,
    *,
    path: Path,
    split: str,
    source_id: str,
    origin: str,
    expression: Any,
    valence: Any = None,
    arousal: Any = None,
    landmarks: Any = None,
    box: Box | None = None,
    allow_names: bool = False,
) -> Record | None:
    """Apply the label policy to raw values; return a Record, or None after counting the rejection."""
    try:
        exp, exp_note = policy.expression(expression, allow_names=allow_names)
        val, val_note = policy.affect(valence, "valence")
        aro, aro_note = policy.affect(arousal, "arousal")
        notes = [n for n in (exp_note, val_note, aro_note) if n]
        if exp < 0 and math.isnan(val) and math.isnan(aro):
            raise Rejected("no_label", "no expression, valence or arousal label (all missing)")
        try:
            lnd = parse_landmarks(landmarks)
        except Rejected as exc:
            if problems.strict:
                raise
            lnd = None
            notes.append(exc.reason)
    except Rejected as exc:
        problems.reject(exc.reason, origin, exc.detail)
        return None
    for reason in notes:
        problems.note(reason, origin)
    return Record(path, split, exp, val, aro, lnd, box, source_id, origin)


class DuplicateGuard:
    """Rejects a source id seen before in the same split."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], str] = {}

    def accept(self, problems: Problems, split: str, source_id: str, origin: str) -> bool:
        """Return True the first time (split, id) is seen; otherwise count a duplicate_id rejection."""
        first = self._seen.get((split, source_id))
        if first is None:
            self._seen[(split, source_id)] = origin
            return True
        problems.reject("duplicate_id", origin, f"id {source_id!r} already declared at {first}")
        return False


def require_columns(header: Sequence[str] | None, required: Sequence[str], where: str) -> None:
    """Raise AffectlabError when a CSV header lacks required columns."""
    missing = [c for c in required if c not in (header or [])]
    if missing:
        raise AffectlabError(
            f"{where}: missing column(s) {', '.join(missing)}; expected a header with {', '.join(required)}"
        )


@contextmanager
def open_csv(csv_path: Path, required: Sequence[str]) -> Iterator[csv.DictReader[str]]:
    """Open a CSV list (UTF-8, BOM or not) as a DictReader whose header has the `required` columns."""
    try:
        handle = csv_path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise AffectlabError(f"{csv_path}: cannot read ({exc})") from exc
    with handle:
        reader = csv.DictReader(handle)
        require_columns(reader.fieldnames, required, str(csv_path))
        yield reader
