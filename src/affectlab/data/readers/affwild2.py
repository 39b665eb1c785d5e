"""Aff-Wild2 in the ABAW challenges' layout: per-frame valence/arousal and expression of video frames.

::

    cropped_aligned/<video>/00001.jpg, 00002.jpg, ...     (the challenge's aligned face crops, 1-based)
    annotations/VA_Estimation_Challenge/{Train_Set,Validation_Set}/<video>.txt
    annotations/EXPR_Classification_Challenge/{Train_Set,Validation_Set}/<video>.txt

A VA file has the header ``valence,arousal`` and then one line per frame of the video (line k = frame k =
``<k:05d>.jpg``); -5 marks a value that was not annotated. An EXPR file's header names Aff-Wild2's own classes
in its own order (``Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other``), then one class index per
frame, -1 for an unannotated frame. The classes are mapped to affectlab's BY NAME (``Happiness`` ->
``happy``); ``Other`` has no affectlab class: the frame keeps its valence/arousal with the expression missing,
counted as ``expression_other``. A frame's labels from both challenges (same split) are merged into one
record, whose source id is ``<video>/<frame:05d>`` (what per-video evaluation groups by).

Counted, never silent: ``missing_video`` (an annotation file without its frame folder), ``no_frame_image``
(an annotated frame without a crop: the challenge has none where no face was found), ``frame_count_mismatch``
(a folder with frames beyond the annotation's last line; they are not used), ``bad_annotation`` (a file with
a wrong header: skipped whole), ``bad_label`` / ``label_out_of_range`` (a line), ``valence_missing``
/ ``arousal_missing`` (-5), ``expression_missing`` (-1), ``video_in_two_splits``,
``video_without_annotation``.
A rejected line loses only that challenge's labels: the frame keeps those of the other file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from affectlab.data.readers.base import LabelPolicy, Problems, Record, Rejected, build_record
from affectlab.errors import AffectlabError
from affectlab.labels import canonical_name

FRAMES_DIR = "cropped_aligned"
CHALLENGES: dict[str, str] = {"va": "VA_Estimation_Challenge", "expr": "EXPR_Classification_Challenge"}
SPLIT_DIRS: dict[str, str] = {"train": "Train_Set", "val": "Validation_Set"}
#: Aff-Wild2's own expression classes, in its own order (the header of its EXPR files says the same).
AFFWILD2_CLASSES: tuple[str, ...] = (
    "Neutral",
    "Anger",
    "Disgust",
    "Fear",
    "Happiness",
    "Sadness",
    "Surprise",
    "Other",
)
#: Aff-Wild2 classes with no affectlab counterpart.
OUTSIDE: frozenset[str] = frozenset({"other"})
INVALID_VA = -5.0
INVALID_EXPR = -1


def matches(root: Path) -> bool:
    """Return True if ``root`` looks like the ABAW layout."""
    ann = root / "annotations"
    return (root / FRAMES_DIR).is_dir() and any((ann / c).is_dir() for c in CHALLENGES.values())


@dataclass
class _Frame:
    origin: str
    valence: object = None
    arousal: object = None
    expression: object = None
    notes: list[str] = field(default_factory=list)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise Rejected("bad_annotation", f"cannot read {path.name}: {exc}") from None


def _va_rows(path: Path, problems: Problems, frames: dict[int, _Frame]) -> int:
    """Parse one VA file into `frames`; return the number of frame lines."""
    lines = _lines(path)
    header = [h.strip().lower() for h in (lines[0].split(",") if lines else [])]
    if header != ["valence", "arousal"]:
        raise Rejected("bad_annotation", f"header is {lines[:1]}, expected 'valence,arousal'")
    for k, line in enumerate(lines[1:], start=1):
        where = f"{path}:{k + 1}"
        try:
            v, a = (float(x) for x in line.split(","))
        except ValueError:
            problems.reject("bad_label", where, f"expected 'valence,arousal' numbers, got {line!r}")
            continue
        if any(x != INVALID_VA and not -1.0 <= x <= 1.0 for x in (v, a)):
            problems.reject(
                "label_out_of_range", where, f"valence/arousal {line!r} outside [-1, 1] (-5: none)"
            )
            continue
        frame = frames.setdefault(k, _Frame(where))
        for what, value in (("valence", v), ("arousal", a)):
            if value == INVALID_VA:
                frame.notes.append(f"{what}_missing")
            setattr(frame, what, None if value == INVALID_VA else value)
    return len(lines) - 1


def _expr_map(header: str, path: Path, policy: LabelPolicy) -> list[int | None]:
    """Aff-Wild2 class index -> affectlab index (None: outside affectlab's classes), from the header."""
    out: list[int | None] = []
    for name in (h.strip() for h in header.split(",")):
        if name.lower() in OUTSIDE:
            out.append(None)
            continue
        try:
            canon = canonical_name(name)
        except AffectlabError as exc:
            raise Rejected("bad_annotation", f"{path.name}: header class {name!r}: {exc}") from None
        if canon not in policy.names:
            out.append(None)
        else:
            out.append(policy.names.index(canon))
    return out


def _expr_rows(path: Path, problems: Problems, policy: LabelPolicy, frames: dict[int, _Frame]) -> int:
    """Parse one EXPR file into `frames`; return the number of frame lines."""
    lines = _lines(path)
    if not lines or "," not in lines[0]:
        raise Rejected("bad_annotation", f"header is {lines[:1]}, expected the class names")
    mapping = _expr_map(lines[0], path, policy)
    for k, line in enumerate(lines[1:], start=1):
        where = f"{path}:{k + 1}"
        try:
            code = int(line.strip())
        except ValueError:
            problems.reject("bad_label", where, f"expected a class index, got {line!r}")
            continue
        frame = frames.setdefault(k, _Frame(where))
        if code == INVALID_EXPR:
            frame.notes.append("expression_missing")
        elif not 0 <= code < len(mapping):
            problems.reject(
                "label_out_of_range", where, f"class {code} is outside 0-{len(mapping) - 1} (-1: none)"
            )
        elif mapping[code] is None:
            frame.notes.append("expression_other")
        else:
            frame.expression = mapping[code]
    return len(lines) - 1


def _annotations(root: Path, split: str) -> dict[str, dict[str, Path]]:
    """video -> {challenge: annotation file} for one split."""
    out: dict[str, dict[str, Path]] = {}
    for key, challenge in CHALLENGES.items():
        folder = root / "annotations" / challenge / SPLIT_DIRS[split]
        if folder.is_dir():
            for path in sorted(folder.glob("*.txt")):
                out.setdefault(path.stem, {})[key] = path
    return out


def _video_records(
    root: Path, split: str, video: str, files: dict[str, Path], policy: LabelPolicy, problems: Problems
) -> list[Record]:
    frames: dict[int, _Frame] = {}
    lines = 0
    for key, path in files.items():
        try:
            n = (
                _va_rows(path, problems, frames)
                if key == "va"
                else _expr_rows(path, problems, policy, frames)
            )
        except Rejected as exc:
            problems.reject(exc.reason, str(path), exc.detail)
            continue
        lines = max(lines, n)
    folder = root / FRAMES_DIR / video
    if not folder.is_dir():
        problems.reject("missing_video", str(folder), f"{len(frames)} annotated frames but no frame folder")
        return []
    images = {name for name in os.listdir(folder) if name.endswith(".jpg")}
    beyond = [n for n in images if n[:-4].isdigit() and int(n[:-4]) > lines]
    if beyond:
        problems.note("frame_count_mismatch", f"{folder}: {len(beyond)} frames after the {lines} annotated")
    records = []
    for k in sorted(frames):
        frame, name = frames[k], f"{k:05d}.jpg"
        if name not in images:
            problems.reject("no_frame_image", frame.origin, f"no {FRAMES_DIR}/{video}/{name}")
            continue
        record = build_record(
            problems,
            policy,
            path=folder / name,
            split=split,
            source_id=f"{video}/{k:05d}",
            origin=frame.origin,
            expression=frame.expression,
            valence=frame.valence,
            arousal=frame.arousal,
        )
        if record is not None:
            for note in frame.notes:
                problems.note(note, frame.origin)
            records.append(record)
    return records


def read(root: Path, policy: LabelPolicy, problems: Problems) -> dict[str, list[Record]]:
    """Read both splits into per-frame records, counting problems."""
    out: dict[str, list[Record]] = {}
    split_of: dict[str, str] = {}
    for split in SPLIT_DIRS:
        videos = _annotations(root, split)
        if not videos:
            continue
        records: list[Record] = []
        for video, files in videos.items():
            if video in split_of and split_of[video] != split:
                problems.note("video_in_two_splits", f"{video}: {split_of[video]} and {split}")
            split_of.setdefault(video, split)
            records.extend(_video_records(root, split, video, files, policy, problems))
        out[split] = records
    frames_dir = root / FRAMES_DIR
    for folder in sorted(p for p in frames_dir.iterdir() if p.is_dir()):
        if folder.name not in split_of:
            problems.note("video_without_annotation", str(folder))
    return out


def video_of(source_id: str) -> str:
    """The video name of an Aff-Wild2 source id (``<video>/<frame>``)."""
    return source_id.rsplit("/", 1)[0]


def frame_of(source_id: str) -> int:
    """The frame number of an Aff-Wild2 source id (``<video>/<frame>``)."""
    return int(source_id.rsplit("/", 1)[1])
