"""Class folders: ``train/<class>/*.jpg`` and ``val/<class>/*.jpg``, classes named by index or by name."""

from __future__ import annotations

from pathlib import Path

from affectlab.data.readers.base import (
    DuplicateGuard,
    LabelPolicy,
    Problems,
    Record,
    build_record,
    visible_entries,
)

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


def _class_files(class_dir: Path, problems: Problems) -> list[Path]:
    """Every file under one class folder, nested ones included (counted as `nested_file`), in path order."""
    files: list[Path] = []
    pending = [class_dir]
    while pending:
        folder = pending.pop()
        for entry in visible_entries(folder, problems):
            if entry.is_dir():
                pending.append(entry)
            elif folder != class_dir:
                problems.note("nested_file", str(entry))
                files.append(entry)
            else:
                files.append(entry)
    return sorted(files)


def _split_records(folder: Path, split: str, policy: LabelPolicy, problems: Problems) -> list[Record]:
    """One split folder: class sub-folders (by name or index), each file's id its path below the split."""
    records: list[Record] = []
    guard = DuplicateGuard()
    for entry in visible_entries(folder, problems):
        if not entry.is_dir():
            problems.reject(
                "no_class_folder",
                str(entry),
                f"file directly in {folder.name}/, not in a class folder; "
                f"expected {folder.name}/<class>/{entry.name}",
            )
            continue
        for path in _class_files(entry, problems):
            sid = path.relative_to(folder).as_posix()  # unique by construction: never a false duplicate
            where = str(path)
            if not guard.accept(problems, split, sid, where):
                continue
            record = build_record(
                problems,
                policy,
                path=path,
                split=split,
                source_id=sid,
                origin=where,
                expression=entry.name,
                allow_names=True,
            )
            if record is not None:
                records.append(record)
    return records


def read(root: Path, policy: LabelPolicy, problems: Problems) -> dict[str, list[Record]]:
    """Read every split folder into records; folder names are mapped explicitly, never by sort order."""
    out: dict[str, list[Record]] = {}
    for split in SPLIT_DIRS:
        folder = _split_dir(root, split)
        if folder is not None:
            out[split] = _split_records(folder, split, policy, problems)
    return out
