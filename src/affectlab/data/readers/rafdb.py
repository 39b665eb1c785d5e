"""RAF-DB basic: ``basic/EmoLabel/list_patition_label.txt`` + ``basic/Image/aligned/`` (or ``original/``).

Each line of the label file is ``train_00001.jpg 5``: the image name, whose ``train_`` / ``test_`` prefix is
the split, and the RAF-DB code (``affectlab/data/taxonomies/rafdb.yaml``). The aligned release is used when
present (``Image/aligned/train_00001_aligned.jpg``, already cropped: the whole image is the face); otherwise
``Image/original/train_00001.jpg`` is cropped by ``Annotation/boundingbox/train_00001_boundingbox.txt``
(``x1 y1 x2 y2``: the box's corners in pixels).
"""

from __future__ import annotations

import math
from pathlib import Path

from affectlab.data.readers.base import (
    DuplicateGuard,
    LabelPolicy,
    Problems,
    Record,
    Rejected,
    build_record,
)
from affectlab.data.readers.paths import refuse_outside_root
from affectlab.errors import AffectlabError
from affectlab.taxonomy import load_taxonomy

TAXONOMY = "rafdb"
LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"
PREFIXES: dict[str, str] = {"train_": "train", "test_": "test"}
#: RAF-DB has no validation split; its test split is what papers report on.
EVAL_SPLIT = "test"
SPLIT_ALIASES: dict[str, str] = {}


def base_dir(root: Path) -> Path | None:
    """The ``basic`` folder of a RAF-DB root (the root itself when it is that folder), or None."""
    for base in (root / "basic", root):
        if (base / LABEL_FILE).is_file():
            return base
    return None


def matches(root: Path) -> bool:
    """Return True if ``root`` holds RAF-DB's basic label file."""
    return root.is_dir() and base_dir(root) is not None


def _split_of(name: str) -> str:
    for prefix, split in PREFIXES.items():
        if name.startswith(prefix):
            return split
    raise Rejected("bad_row", f"image name {name!r} has neither a train_ nor a test_ prefix (the split)")


def read_box(path: Path) -> tuple[float, float, float, float]:
    """Read an ``x1 y1 x2 y2`` box file into (x, y, w, h), or raise Rejected."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise Rejected("missing_annotation", f"no face box file {path.name}") from None
    except OSError as exc:
        raise Rejected("bad_annotation", f"cannot read {path.name}: {exc}") from None
    try:
        x1, y1, x2, y2 = (float(v) for v in text.split()[:4])
    except ValueError:
        raise Rejected(
            "bad_box", f"{path.name}: expected four numbers x1 y1 x2 y2, got {text.strip()!r}"
        ) from None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
        raise Rejected(
            "bad_box", f"{path.name}: box corners must satisfy x1 < x2 and y1 < y2, got {text.strip()!r}"
        )
    return x1, y1, x2 - x1, y2 - y1


def image_path(base: Path, name: str, aligned: bool) -> Path:
    """Where a listed image is: ``Image/aligned/<stem>_aligned.jpg`` or ``Image/original/<name>``."""
    stem = Path(name).stem
    return (
        base / "Image" / "aligned" / f"{stem}_aligned.jpg" if aligned else base / "Image" / "original" / name
    )


def box_of(base: Path, name: str, aligned: bool) -> tuple[float, float, float, float] | None:
    """The face box of an original image (None for aligned faces: the whole image is the face)."""
    if aligned:
        return None
    return read_box(base / "Annotation" / "boundingbox" / f"{Path(name).stem}_boundingbox.txt")


def _lines(label_file: Path) -> list[str]:
    try:
        return label_file.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as exc:
        raise AffectlabError(f"{label_file}: cannot read ({exc})") from exc


def read(root: Path, policy: LabelPolicy, problems: Problems) -> dict[str, list[Record]]:
    """Read the label file into train/test records; names without an image are skipped and counted."""
    base = base_dir(root)
    assert base is not None
    policy = policy.with_taxonomy(load_taxonomy(TAXONOMY))
    aligned = (base / "Image" / "aligned").is_dir()
    label_file = base / LABEL_FILE
    out: dict[str, list[Record]] = {}
    guard = DuplicateGuard()
    listed: set[Path] = set()
    for number, line in enumerate(_lines(label_file), start=1):
        if not line.strip():
            continue
        where = f"{label_file}:{number}"
        parts = line.split()
        listed.add(image_path(base, parts[0], aligned))  # a bad line still names its image
        try:
            if len(parts) != 2:
                raise Rejected(
                    "bad_row", f"expected 'NAME CODE' (e.g. 'train_00001.jpg 5'), got {line.strip()!r}"
                )
            name, code = parts
            if refuse_outside_root(problems, where, name, "Image/original", "train_00001.jpg"):
                continue
            split = _split_of(name)
            path = image_path(base, name, aligned)
            if not guard.accept(problems, split, name, where):
                continue
            if not path.is_file():
                raise Rejected("missing_image", f"{name}: no image {path}")
            box = box_of(base, name, aligned)
        except Rejected as exc:
            problems.reject(exc.reason, where, exc.detail)
            continue
        record = build_record(
            problems, policy, path=path, split=split, source_id=name, origin=where, expression=code, box=box
        )
        if record is not None:
            out.setdefault(split, []).append(record)
    folder = base / "Image" / ("aligned" if aligned else "original")
    for orphan in sorted(
        p for p in folder.iterdir() if p.is_file() and p not in listed and not p.name.startswith(".")
    ):
        problems.reject("missing_annotation", str(orphan), f"no line for this image in {label_file.name}")
    return out
