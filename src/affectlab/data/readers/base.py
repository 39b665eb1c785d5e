"""The record schema every reader produces, the label policy, and the problem counter (skip or strict)."""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES, MISSING_VA, NON_LABEL_CODES, class_names, index_of
from affectlab.taxonomy import NonLabel

if TYPE_CHECKING:
    from affectlab.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

#: Split names, in report order. Datasets name theirs differently; each reader maps its own names onto
#: these (FER2013: Training / PublicTest / PrivateTest -> train / val / test) and may declare aliases.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Names accepted for a split in every layout.
SPLIT_ALIASES: dict[str, str] = {"training": "train", "valid": "val", "validation": "val", "testing": "test"}
#: How FER+-style vote counts become a label (see docs/data.md, "FER+ label modes").
VOTE_MODES: tuple[str, ...] = ("majority", "plurality", "probability")
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
    #: The face's pixels when the dataset stores them in a table (FER2013), else None (read from ``path``).
    pixels: np.ndarray | None = None
    #: Soft expression label (vote distribution over the label set), when the dataset has one (FER+).
    soft: tuple[float, ...] | None = None

    @property
    def image(self) -> Path | np.ndarray:
        """What affectlab.preprocessing decodes: the in-memory pixels, or the image file."""
        return self.pixels if self.pixels is not None else self.path

    @property
    def location(self) -> str:
        """Where the face is, for reports: the image file, or the table row that holds its pixels."""
        return self.origin if self.pixels is not None else str(self.path)


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
        #: Whole-dataset problems that are not one item's (an empty split list, ...), one line each.
        self.warnings: list[str] = []

    @staticmethod
    def _add(table: dict[str, ReasonCount], reason: str, example: str, limit: int) -> None:
        entry = table.setdefault(reason, ReasonCount())
        entry.count += 1
        if len(entry.examples) < limit:
            entry.examples.append(example)

    def reject(self, reason: str, where: str, detail: str, *, fatal: bool = True) -> None:
        """Count a skipped item (in strict mode, unless not fatal: raise AffectlabError naming ``where``)."""
        if self.strict and fatal:
            raise AffectlabError(f"{where}: {detail} [{reason}] (strict mode stops at the first problem)")
        logger.debug("skipping %s: %s (%s)", where, detail, reason)
        self._add(self.rejected, reason, f"{where}: {detail}", self.max_examples)

    def warn(self, where: str, detail: str) -> None:
        """Record a dataset-level problem (logged and shown in the report; an error in strict mode)."""
        if self.strict:
            raise AffectlabError(f"{where}: {detail} (strict mode stops at the first problem)")
        logger.warning("%s: %s", where, detail)
        self.warnings.append(f"{where}: {detail}")

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
    """How raw codes and values become labels (see docs/data.md, "Label policy").

    Without ``label_map`` expression codes are AffectNet's; with one (a dataset's declared taxonomy, or a
    user's YAML map) each code or name is looked up there and mapped to affectlab's class by name.
    """

    num_classes: int = 8
    label_map: Taxonomy | None = None
    vote_mode: str = "majority"

    def __post_init__(self) -> None:
        if self.vote_mode not in VOTE_MODES:
            raise AffectlabError(f"label mode must be one of {', '.join(VOTE_MODES)}, got {self.vote_mode!r}")

    def with_taxonomy(self, taxonomy: Taxonomy) -> LabelPolicy:
        """This policy reading a dataset's own codes (a user's label map, when given, wins)."""
        if self.label_map is not None:
            return self
        return LabelPolicy(self.num_classes, taxonomy, self.vote_mode)

    @property
    def names(self) -> tuple[str, ...]:
        """Class names of this label set."""
        return class_names(self.num_classes)

    def expression(self, raw: Any, *, allow_names: bool = False) -> tuple[int, str | None]:
        """Return (class index or -1, note reason or None) for a raw expression value, or raise Rejected."""
        value = _scalar(raw)
        if _is_empty(value):
            return -1, None
        if self.label_map is not None:
            return self._from_map(value)
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

    def _from_map(self, value: Any) -> tuple[int, str | None]:
        """Look a code (or the dataset's own class name) up in the label map; map it to affectlab by name."""
        taxonomy = self.label_map
        assert taxonomy is not None
        entry = None
        if isinstance(value, str):
            text = value.strip()
            try:
                value = float(text)
            except ValueError:
                entry = taxonomy.by_name(text)
                if entry is None:
                    raise Rejected(
                        "bad_label", f"{text!r} is not a class of the {taxonomy.title} label map"
                    ) from None
        if entry is None:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise Rejected("bad_label", f"expected an integer expression code, got {value!r}")
            if math.isnan(value):
                raise Rejected("label_nan", "expression is NaN; expected an integer code (or empty)")
            if value != int(value):
                raise Rejected("bad_label", f"expected an integer expression code, got {value:g}")
            entry = taxonomy.lookup(int(value))
            if entry is None:
                codes = ", ".join(str(c) for c in taxonomy.codes)
                raise Rejected(
                    "label_out_of_range", f"code {int(value)} is not in the {taxonomy.title} codes ({codes})"
                )
        if isinstance(entry, NonLabel):
            if entry.effect == "skip":
                raise Rejected(entry.reason, f"code {entry.code} ({entry.name}) is not an expression label")
            return -1, entry.reason
        target = entry.affectlab
        if target is None:
            return -1, "expression_unmapped"
        return self._from_code(AFFECTNET_CLASSES.index(target))

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
    pixels: np.ndarray | None = None,
    soft: tuple[float, ...] | None = None,
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
    return Record(path, split, exp, val, aro, lnd, box, source_id, origin, pixels, soft)


def visible_entries(folder: Path, problems: Problems) -> list[Path]:
    """The entries of ``folder`` in name order; hidden ones (``.DS_Store``, ...) are counted, not returned."""
    entries = sorted(folder.iterdir())
    for entry in entries:
        if entry.name.startswith("."):
            # Not a dataset problem (.DS_Store, editor files): counted, even in strict mode never fatal.
            problems.reject(
                "hidden_file", str(entry), "hidden file or folder (name starts with '.')", fatal=False
            )
    return [e for e in entries if not e.name.startswith(".")]


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


#: Characters one physical CSV line may have (a landmarks row is about 1.5 kB): past it, the file is refused.
MAX_LINE = 1 << 20


def _bounded_lines(handle: Any, csv_path: Path) -> Iterator[str]:
    """The lines of ``handle``, each read with a size limit, so one enormous cell cannot exhaust memory."""
    number = 0
    while line := handle.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise AffectlabError(
                f"{csv_path}:{number}: a line longer than {MAX_LINE:,} characters; expected one image per "
                "line of a few hundred characters (is this the right file?)"
            )
        yield line


@contextmanager
def open_csv(csv_path: Path, required: Sequence[str]) -> Iterator[csv.DictReader[str]]:
    """Open a CSV list (UTF-8, BOM or not) as a DictReader whose header has the `required` columns.

    Lines are read with a size limit; bytes that are not UTF-8 are kept as surrogates so that
    :func:`iter_rows` can name the line that holds them.
    """
    try:
        handle = csv_path.open(newline="", encoding="utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise AffectlabError(f"{csv_path}: cannot read ({exc})") from exc
    with handle:
        reader = csv.DictReader(_bounded_lines(handle, csv_path))
        try:
            header = reader.fieldnames
        except csv.Error as exc:
            raise AffectlabError(f"{csv_path}:1: unreadable CSV header ({exc})") from None
        require_columns(header, required, str(csv_path))
        yield reader


def _not_utf8(row: dict[str, str]) -> str | None:
    """The first column whose cell held bytes that are not UTF-8 (decoded as surrogates), or None."""
    try:
        "".join(row.values()).encode("utf-8")
    except UnicodeEncodeError:
        for column, cell in row.items():
            try:
                cell.encode("utf-8")
            except UnicodeEncodeError as exc:
                return f"byte 0x{ord(cell[exc.start]) - 0xDC00:02x} in column {column}"
    return None


def iter_all_rows(
    reader: csv.DictReader[str], csv_path: Path, problems: Problems
) -> Iterator[tuple[str, dict[str, str] | None]]:
    """Yield (``file.csv:LINE``, row) for every data row; a short, long or non-UTF-8 row is counted: None."""
    columns = len(reader.fieldnames or ())
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:  # a quoted cell past csv's field limit, ...
            raise AffectlabError(
                f"{csv_path}:{reader.line_num}: unreadable CSV ({exc}); expected one image per line with "
                f"{columns} cells"
            ) from None
        where = f"{csv_path}:{reader.line_num}"
        extra = row.pop(None, None)  # type: ignore[call-overload]
        missing = [column for column, cell in row.items() if cell is None]
        if extra is not None:
            problems.reject(
                "bad_row",
                where,
                f"{columns + len(extra)} cells, more cells than the {columns} columns of the header",
            )
        elif missing:
            problems.reject(
                "bad_row",
                where,
                f"{columns - len(missing)} of the {columns} columns (no {', '.join(missing)}); "
                f"expected {columns} cells",
            )
        elif (bad := _not_utf8(row)) is not None:
            problems.reject("bad_encoding", where, f"not valid UTF-8 ({bad}); save the list as UTF-8")
        else:
            yield where, row
            continue
        yield where, None


def iter_rows(
    reader: csv.DictReader[str], csv_path: Path, problems: Problems
) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield (``file.csv:LINE``, row) for each well-formed row; short, long and non-UTF-8 rows are counted."""
    for where, row in iter_all_rows(reader, csv_path, problems):
        if row is not None:
            yield where, row
