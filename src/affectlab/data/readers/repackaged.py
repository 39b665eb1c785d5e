"""Re-packaged AffectNet: ``train_set|val_set/images/N.jpg`` with ``annotations/N_{exp,val,aro,lnd}.npy``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from affectlab.data.readers.base import (
    DuplicateGuard,
    LabelPolicy,
    Problems,
    Record,
    Rejected,
    build_record,
)

SPLIT_DIRS: dict[str, str] = {"train": "train_set", "val": "val_set"}
_FIELDS = ("exp", "val", "aro")


def matches(root: Path) -> bool:
    """Return True if ``root`` looks like the re-packaged layout."""
    return any((root / d / "images").is_dir() for d in SPLIT_DIRS.values())


def _load_npy(path: Path) -> Any:
    """Load one annotation .npy (string or numeric, never pickled objects)."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise Rejected("missing_annotation", f"annotation file {path.name} does not exist") from None
    except (OSError, ValueError) as exc:
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
        for path in sorted(p for p in images_dir.iterdir() if not p.name.startswith(".")):
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
