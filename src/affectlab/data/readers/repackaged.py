"""Re-packaged AffectNet: ``train_set|val_set/images/N.jpg`` with ``annotations/N_{exp,val,aro,lnd}.npy``."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from affectlab.data.readers.base import (
    DuplicateGuard,
    LabelPolicy,
    Problems,
    Record,
    Rejected,
    build_record,
    visible_entries,
)

SPLIT_DIRS: dict[str, str] = {"train": "train_set", "val": "val_set"}
_FIELDS = ("exp", "val", "aro")
#: An annotation .npy holds one value (exp/val/aro) or 68 x 2 landmarks: anything bigger is refused unread.
MAX_ELEMENTS = 1024
MAX_BYTES = 64 * 1024


def matches(root: Path) -> bool:
    """Return True if ``root`` looks like the re-packaged layout."""
    return any((root / d / "images").is_dir() for d in SPLIT_DIRS.values())


def _npy_header(fh: BinaryIO, name: str, file_size: int) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """Read and check a .npy header (shape, order, dtype) before any data is read, or raise Rejected."""
    from numpy.lib import format as npy_format

    if file_size == 0:
        raise Rejected("bad_annotation", f"{name} is empty (0 bytes); expected a .npy of one string/number")
    try:
        version = npy_format.read_magic(fh)
    except (ValueError, EOFError, OSError) as exc:
        raise Rejected(
            "bad_annotation", f"{name} is not a .npy file ({exc}); expected a .npy of one value"
        ) from None
    try:
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as exc:  # the header is a Python literal: ValueError, SyntaxError, EOFError, ...
        raise Rejected(
            "bad_annotation", f"{name} has an unreadable .npy header ({exc}); expected a .npy of one value"
        ) from None
    if dtype.hasobject:
        raise Rejected(
            "bad_annotation",
            f"{name} holds Python objects (a pickle, never loaded); expected strings or numbers",
        )
    count = math.prod(shape)
    if count > MAX_ELEMENTS or count * dtype.itemsize > MAX_BYTES:
        raise Rejected(
            "bad_annotation",
            f"{name} declares shape {shape} of {dtype} ({count * dtype.itemsize:,} bytes); an annotation is "
            f"one value or 68 landmark points (at most {MAX_ELEMENTS} values, {MAX_BYTES:,} bytes)",
        )
    if fh.tell() + count * dtype.itemsize > file_size:
        raise Rejected(
            "bad_annotation",
            f"{name} is truncated: its header declares {count * dtype.itemsize} data bytes, the file has "
            f"{file_size - fh.tell()}",
        )
    return shape, fortran, dtype


def _load_npy(path: Path) -> Any:
    """Load one annotation .npy (string or numeric, never pickled objects); the header is checked first."""
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            _npy_header(fh, path.name, size)
            fh.seek(0)
            return np.load(fh, allow_pickle=False)
    except FileNotFoundError:
        raise Rejected("missing_annotation", f"annotation file {path.name} does not exist") from None
    except Rejected:
        raise
    except Exception as exc:  # numpy raises ValueError, EOFError, OSError, ... for a damaged file
        raise Rejected(
            "bad_annotation", f"{path.name} is not a readable .npy of strings/numbers ({exc})"
        ) from None


def read(root: Path, policy: LabelPolicy, problems: Problems) -> dict[str, list[Record]]:
    """Read both splits into records, counting problems."""
    out: dict[str, list[Record]] = {}
    guard = DuplicateGuard()
    for split, dirname in SPLIT_DIRS.items():
        images_dir = root / dirname / "images"
        if not images_dir.is_dir():
            continue
        ann_dir = root / dirname / "annotations"
        records: list[Record] = []
        seen_ids: set[str] = set()
        for path in visible_entries(images_dir, problems):
            sid = path.stem
            where = str(path)
            if not guard.accept(problems, split, sid, where):
                continue
            seen_ids.add(sid)
            try:
                exp, val, aro = (_load_npy(ann_dir / f"{sid}_{f}.npy") for f in _FIELDS)
            except Rejected as exc:
                problems.reject(exc.reason, where, exc.detail)
                continue
            lnd_path = ann_dir / f"{sid}_lnd.npy"
            lnd = None
            if lnd_path.exists():
                try:
                    lnd = _load_npy(lnd_path)
                except Rejected as exc:
                    if problems.strict:
                        problems.reject("bad_landmarks", where, exc.detail)
                    problems.note("bad_landmarks", where)
            record = build_record(
                problems,
                policy,
                path=path,
                split=split,
                source_id=sid,
                origin=where,
                expression=exp,
                valence=val,
                arousal=aro,
                landmarks=lnd,
            )
            if record is not None:
                records.append(record)
        if ann_dir.is_dir():
            orphans = {p.name[: -len("_exp.npy")] for p in ann_dir.glob("*_exp.npy")} - seen_ids
            for sid in sorted(orphans):
                problems.reject(
                    "missing_image", str(ann_dir / f"{sid}_exp.npy"), f"no image {sid}.* in {images_dir}"
                )
        out[split] = records
    return out
