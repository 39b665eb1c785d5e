"""Dataset validation: decode every item in a worker pool, count problems, and report (JSON + rich table)."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.data.readers import (
    SPLITS,
    LabelPolicy,
    Problems,
    ReasonCount,
    Record,
    layout_taxonomy,
    make_policy,
    read_layout,
    resolve_split,
)
from affectlab.errors import AffectlabError
from affectlab.preprocessing.decode import DEFAULT_MAX_PIXELS, ImageProblem
from affectlab.preprocessing.faces import load_face
from affectlab.workers import OrderedPool, refuse_worker_import

logger = logging.getLogger(__name__)

#: Records handed to the pool at a time: bounds the decoded images in flight.
WINDOW = 512
MISSING_KEY = "(no expression)"


def default_workers() -> int:
    """Return the default number of decoding processes (CPU count, at most 8)."""
    return max(1, min(8, os.cpu_count() or 1))


@dataclass
class ValidationReport:
    """What a dataset holds (samples per class and split) and what was skipped or adjusted, by reason."""

    source: str
    layout: str
    num_classes: int
    class_names: list[str]
    images_checked: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    affect_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rejected: dict[str, ReasonCount] = field(default_factory=dict)
    notes: dict[str, ReasonCount] = field(default_factory=dict)
    leakage: ReasonCount = field(default_factory=ReasonCount)
    #: The dataset's taxonomy (name, title, source, code -> affectlab rows) when it is not AffectNet's.
    label_map: dict[str, Any] = field(default_factory=dict)
    #: Dataset-level problems (an empty split, ...), one line each.
    warnings: list[str] = field(default_factory=list)

    def add(self, record: Record) -> None:
        """Count one accepted record."""
        per_class = self.counts.setdefault(record.split, {n: 0 for n in [*self.class_names, MISSING_KEY]})
        key = self.class_names[record.expression] if record.expression >= 0 else MISSING_KEY
        per_class[key] += 1
        affect = self.affect_counts.setdefault(record.split, {"valence": 0, "arousal": 0})
        affect["valence"] += int(not math.isnan(record.valence))
        affect["arousal"] += int(not math.isnan(record.arousal))

    def total(self, split: str) -> int:
        """Number of accepted samples in a split."""
        return sum(self.counts.get(split, {}).values())

    @property
    def total_rejected(self) -> int:
        """Number of skipped items over all reasons."""
        return sum(entry.count for entry in self.rejected.values())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        data = asdict(self)
        data["totals"] = {split: self.total(split) for split in self.counts}
        data["total_rejected"] = self.total_rejected
        return data

    def write_json(self, path: str | Path) -> Path:
        """Write the report as JSON (atomically) and return its path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        return target

    def tables(self) -> list[Any]:
        """Return rich tables: samples per class and split, rejected and adjusted items per reason."""
        from rich.table import Table

        splits = [s for s in SPLITS if s in self.counts]
        samples = Table(
            title="samples per class and split",
            caption=f"{self.source} ({self.layout} layout, {self.num_classes} classes)",
        )
        samples.add_column("class")
        for split in splits:
            samples.add_column(split, justify="right")
        for name in [*self.class_names, MISSING_KEY]:
            samples.add_row(name, *(str(self.counts[s].get(name, 0)) for s in splits))
        for what in ("valence", "arousal"):
            samples.add_row(f"with {what}", *(str(self.affect_counts[s][what]) for s in splits))
        samples.add_row("total", *(str(self.total(s)) for s in splits), style="bold")
        out: list[Any] = [samples]
        if self.label_map:
            labels = Table(title=f"label map: {self.label_map['title']}", caption="matched by name")
            for column in ("code", "name in the dataset", "affectlab"):
                labels.add_column(column)
            for code, name, target in self.label_map["rows"]:
                labels.add_row(str(code), name, target)
            out.append(labels)
        for title, table in (("rejected (skipped)", self.rejected), ("adjusted (kept)", self.notes)):
            if not table:
                continue
            reasons = Table(title=title)
            reasons.add_column("reason")
            reasons.add_column("count", justify="right")
            reasons.add_column("first examples", overflow="fold")
            for reason, entry in sorted(table.items()):
                reasons.add_row(reason, str(entry.count), "\n".join(entry.examples[:3]))
            out.append(reasons)
        if self.warnings:
            warn = Table(title="warnings")
            warn.add_column("problem", overflow="fold")
            for line in self.warnings:
                warn.add_row(line)
            out.append(warn)
        if self.leakage.count:
            leak = Table(title="leakage: identical images in train and val (kept)")
            leak.add_column("count", justify="right")
            leak.add_column("first examples", overflow="fold")
            leak.add_row(str(self.leakage.count), "\n".join(self.leakage.examples[:3]))
            out.append(leak)
        return out

    def print(self, console: Any = None) -> None:
        """Print the tables to a rich console (stdout by default)."""
        from rich.console import Console

        console = console or Console()
        for table in self.tables():
            console.print(table)


class ContentIndex:
    """Remembers image content hashes to report duplicates within a split and leakage across splits."""

    def __init__(self, report: ValidationReport, problems: Problems) -> None:
        self._first: dict[bytes, tuple[str, str]] = {}
        self._report = report
        self._problems = problems

    def check(self, digest: bytes, record: Record) -> None:
        """Count ``record`` as a duplicate or a leak if its content was seen before."""
        first = self._first.setdefault(digest, (record.split, record.location))
        if first == (record.split, record.location):
            return
        if first[0] == record.split:
            self._problems.note("duplicate_content", f"{record.location} == {first[1]}")
            return
        message = f"{record.location} ({record.split}) == {first[1]} ({first[0]})"
        if self._problems.strict:
            raise AffectlabError(f"leakage: the same image is in {first[0]} and {record.split}: {message}")
        self._report.leakage.count += 1
        if len(self._report.leakage.examples) < self._problems.max_examples:
            self._report.leakage.examples.append(message)


@dataclass(frozen=True)
class CropJob:
    """How each face is cut: output side (None: decode and check only), margin and eye alignment."""

    size: int | None = None
    margin: float = 0.0
    align: bool = False


_Task = tuple[int, Path | np.ndarray, Any, Any, CropJob, int]
_Result = tuple[int, np.ndarray | None, bytes | None, list[str], str | None, str]


def _work(task: _Task) -> _Result:
    """Decode one item in a worker process; never raises for bad images."""
    index, path, box, landmarks, crop, max_pixels = task
    try:
        pixels, digest, notes = load_face(
            path, box, crop.size, crop.margin, landmarks=landmarks, align=crop.align, max_pixels=max_pixels
        )
    except ImageProblem as exc:
        return index, None, None, [], exc.reason, exc.detail
    except Exception as exc:  # a decoder bug on one file must not stop a long run
        return index, None, None, [], "undecodable", f"unexpected decoder error: {exc!r}"
    return index, pixels, digest, notes, None, ""


def _windows(tasks: Iterable[_Task], size: int) -> Iterator[list[_Task]]:
    iterator = iter(tasks)
    while chunk := list(islice(iterator, size)):
        yield chunk


def decode_records(
    records: list[Record], *, crop: CropJob, workers: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Iterator[_Result]:
    """Decode records in order (in a process pool when workers > 1), a bounded window at a time."""
    tasks = (
        (i, r.image, r.box, r.landmarks if crop.align else None, crop, max_pixels)
        for i, r in enumerate(records)
    )
    if workers <= 1 or len(records) < 64:
        yield from map(_work, tasks)
        return
    # spawn: safe after torch is loaded; the pool falls back to this process if its workers cannot start.
    with OrderedPool(_work, workers, method="spawn", what="decoding images") as pool:
        for window in _windows(tasks, WINDOW):
            yield from pool.map(window, chunksize=max(1, min(32, len(window) // (4 * workers))))


def progress_bar(enabled: bool) -> Any:
    """Return a rich Progress (on stderr) showing count, rate and ETA."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed or 0:,.0f} img/s")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def scan(
    records: list[Record],
    report: ValidationReport,
    problems: Problems,
    content: ContentIndex,
    *,
    crop: CropJob,
    workers: int,
    progress: Any = None,
    description: str = "",
) -> Iterator[tuple[Record, np.ndarray | None]]:
    """Decode and check records; yield accepted (record, pixels) in order, counting the rest."""
    task = progress.add_task(description, total=len(records)) if progress is not None else None
    for index, pixels, digest, notes, reason, detail in decode_records(records, crop=crop, workers=workers):
        record = records[index]
        if progress is not None:
            progress.advance(task)
        if reason is not None:
            problems.reject(reason, record.location, detail)
            continue
        for note in notes:
            problems.note(note, record.location)
        assert digest is not None
        content.check(digest, record)
        report.add(record)
        yield record, pixels


def new_report(
    src: str | Path, layout: str, policy: LabelPolicy, problems: Problems, checked: bool
) -> ValidationReport:
    """Create an empty report that shares the problem tables of ``problems``."""
    taxonomy = layout_taxonomy(layout, policy)
    label_map: dict[str, Any] = {}
    if taxonomy.name != "affectnet":
        label_map = {**taxonomy.to_dict(), "rows": taxonomy.rows()}
        if policy.label_map is None and layout in ("ferplus",):
            label_map["label_mode"] = policy.vote_mode
    return ValidationReport(
        source=str(src),
        layout=layout,
        num_classes=policy.num_classes,
        class_names=list(policy.names),
        images_checked=checked,
        rejected=problems.rejected,
        notes=problems.notes,
        label_map=label_map,
        warnings=problems.warnings,
    )


def validate_dataset(
    src: str | Path,
    *,
    strict: bool = False,
    num_classes: int = 8,
    check_images: bool = True,
    splits: Iterable[str] = SPLITS,
    workers: int | None = None,
    progress: bool = False,
    report_path: str | Path | None = None,
    label_map: Any = None,
    label_mode: str = "majority",
) -> ValidationReport:
    """Validate a raw dataset (labels, and every image unless check_images=False) and return the report.

    ``label_map`` (a YAML file or Taxonomy) says what the codes of a manifest or class folders mean;
    ``label_mode`` how FER+ votes become labels (majority, plurality, probability).
    """
    refuse_worker_import("validate_dataset")
    policy, problems = make_policy(num_classes, label_map, label_mode), Problems(strict=strict)
    layout, by_split = read_layout(src, policy, problems)
    report = new_report(src, layout, policy, problems, check_images)
    wanted = [s for s in splits if s in by_split]
    if not wanted:
        names = list(splits)
        listed = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)
        raise AffectlabError(f"{src}: no {listed} split found in this {layout} dataset")
    content = ContentIndex(report, problems)
    with progress_bar(progress) as bar:
        for split in wanted:
            if not check_images:
                for record in by_split[split]:
                    report.add(record)
                continue
            for _ in scan(
                by_split[split],
                report,
                problems,
                content,
                crop=CropJob(),
                workers=default_workers() if workers is None else workers,
                progress=bar,
                description=f"validate {split}",
            ):
                pass
            if by_split[split] and not report.total(split):
                problems.warn(
                    f"{src} [{split}]",
                    f"none of the {len(by_split[split])} images of the {split} split was usable",
                )
    if report.leakage.count:
        logger.warning("%d validation image(s) also appear in train (leakage)", report.leakage.count)
    if report_path is not None:
        report.write_json(report_path)
    return report


def accepted_records(
    src: str | Path,
    split: str,
    *,
    num_classes: int,
    check_images: bool,
    workers: int | None = None,
    label_map: Any = None,
    label_mode: str = "majority",
) -> tuple[str, list[Record], ValidationReport]:
    """Return (layout, the usable records of one split, its report) for reading a raw layout directly."""
    policy, problems = make_policy(num_classes, label_map, label_mode), Problems()
    layout, by_split = read_layout(src, policy, problems)
    split = resolve_split(split, layout)
    if split not in by_split:
        raise AffectlabError(
            f"{src}: this {layout} dataset has no {split!r} split (found: {', '.join(by_split)})"
        )
    report = new_report(src, layout, policy, problems, check_images)
    records = by_split[split]
    if check_images:
        content = ContentIndex(report, problems)
        kept = [
            r
            for r, _ in scan(
                records,
                report,
                problems,
                content,
                crop=CropJob(),
                workers=default_workers() if workers is None else workers,
            )
        ]
    else:
        kept = records
        for record in kept:
            report.add(record)
    if problems.total_rejected:
        logger.warning(
            "%s [%s]: skipped %d item(s): %s",
            src,
            split,
            problems.total_rejected,
            ", ".join(f"{k}={v.count}" for k, v in sorted(problems.rejected.items())),
        )
    return layout, kept, report
