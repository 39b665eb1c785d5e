"""ExpW (Expression in-the-Wild): ``label/label.lst`` + ``image/origin/``, faces cropped by their box.

Each line of ``label.lst`` is ``image_name face_id top left right bottom confidence expression`` (several
faces per photo have one line each; codes in ``affectlab/data/taxonomies/expw.yaml``). The box becomes
(x=left, y=top, w=right-left, h=bottom-top) and is checked against the image when it is decoded (a box that
misses the image is skipped as ``box_outside_image``, one partly outside is padded black, as for AffectNet).

ExpW has no official split. affectlab assigns each *photo* (so all its faces) to ``train`` / ``val`` /
``test`` = 80 / 10 / 10 % by a hash of its file name: deterministic, the same on every machine, and no photo
is in two splits. Published figures are never placed beside ExpW results (there is no official test set).
"""

from __future__ import annotations

import hashlib
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

TAXONOMY = "expw"
LABEL_FILE = Path("label") / "label.lst"
IMAGES_DIR = Path("image") / "origin"
#: Cumulative percentages of the hash split.
SPLIT_SHARES: tuple[tuple[str, int], ...] = (("train", 80), ("val", 90), ("test", 100))
EVAL_SPLIT = "test"
SPLIT_ALIASES: dict[str, str] = {}


def matches(root: Path) -> bool:
    """Return True if ``root`` holds ExpW's label/label.lst."""
    return root.is_dir() and (root / LABEL_FILE).is_file()


def split_of(image_name: str) -> str:
    """The split of a photo: its name's hash, 80 / 10 / 10 % train / val / test."""
    bucket = int.from_bytes(hashlib.blake2b(image_name.encode("utf-8"), digest_size=8).digest(), "big") % 100
    return next(split for split, upto in SPLIT_SHARES if bucket < upto)


def parse_line(line: str) -> tuple[str, str, tuple[float, float, float, float], str]:
    """(image name, face id, box (x, y, w, h), expression code) of one label line, or raise Rejected."""
    parts = line.split()
    if len(parts) != 8:
        raise Rejected(
            "bad_row",
            "expected 8 fields 'image face_id top left right bottom confidence expression', "
            f"got {len(parts)}",
        )
    name, face_id, *coords, _confidence, code = parts
    try:
        top, left, right, bottom = (float(v) for v in coords)
    except ValueError:
        raise Rejected("bad_box", f"box top/left/right/bottom must be numbers, got {coords}") from None
    if not all(math.isfinite(v) for v in (top, left, right, bottom)) or right <= left or bottom <= top:
        raise Rejected("bad_box", f"box must have left < right and top < bottom, got {coords}")
    return name, face_id, (left, top, right - left, bottom - top), code


def read(root: Path, policy: LabelPolicy, problems: Problems) -> dict[str, list[Record]]:
    """Read every face line into a record of its photo's split; a photo that is missing is counted."""
    policy = policy.with_taxonomy(load_taxonomy(TAXONOMY))
    label_file = root / LABEL_FILE
    try:
        lines = label_file.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as exc:
        raise AffectlabError(f"{label_file}: cannot read ({exc})") from exc
    out: dict[str, list[Record]] = {}
    guard = DuplicateGuard()
    exists: dict[str, bool] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{label_file}:{number}"
        try:
            name, face_id, box, code = parse_line(line)
        except Rejected as exc:
            problems.reject(exc.reason, where, exc.detail)
            continue
        if refuse_outside_root(problems, where, name, IMAGES_DIR.as_posix(), "abc.jpg"):
            continue
        split, source_id = split_of(name), f"{name}#{face_id}"
        if not guard.accept(problems, split, source_id, where):
            continue
        path = root / IMAGES_DIR / name
        if name not in exists:
            exists[name] = path.is_file()
        if not exists[name]:
            problems.reject("missing_image", where, f"no image {path}")
            continue
        record = build_record(
            problems,
            policy,
            path=path,
            split=split,
            source_id=source_id,
            origin=where,
            expression=code,
            box=box,
        )
        if record is not None:
            out.setdefault(split, []).append(record)
    return out
