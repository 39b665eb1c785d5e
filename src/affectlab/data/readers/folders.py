"""Class folders: ``train/<class>/*.jpg`` and ``val/<class>/*.jpg``, classes named by index or by name."""

from __future__ import annotations

from pathlib import Path

from affectlab.data.readers.base import DuplicateGuard, LabelPolicy, Problems, Record, build_record

SPLIT_DIRS: dict[str, tuple[str, ...]] = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation"),
}


def _split_dir(root: Path, split: str) -> Path | None:
    for name in SPLIT_DIRS[split]:
        if (root / name).is_dir():
            return root / name
    return None


def matches(root: Path) -> bool:
    """Return True if ``root`` has a train/val folder holding class sub-folders."""
    for split in SPLIT_DIRS:
        folder = _split_dir(root, split)
        if folder is not None and any(p.is_dir() for p in folder.iterdir()):
            return True
    return False


def read(root: Path, policy: LabelPolicy, problems: Problems) -> dict[str, list[Record]]:
    """Read every split folder into records; folder names are mapped explicitly, never by sort order."""
    out: dict[str, list[Record]] = {}
    guard = DuplicateGuard()
    for split in SPLIT_DIRS:
        folder = _split_dir(root, split)
        if folder is None:
            continue
        records: list[Record] = []
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for path in sorted(p for p in class_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
                where = str(path)
                if not guard.accept(problems, split, path.stem, where):
                    continue
                record = build_record(
                    problems,
                    policy,
                    path=path,
                    split=split,
                    source_id=path.stem,
                    origin=where,
                    expression=class_dir.name,
                    allow_names=True,
                )
                if record is not None:
                    records.append(record)
        out[split] = records
    return out
