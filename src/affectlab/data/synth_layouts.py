"""Where the synthetic dataset puts things: each layout's folders, image files, annotations and CSV lists.

The folder and file names are the readers' own (`affectlab.data.readers`), so what synth writes is what they
read.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from affectlab.data.readers import manifest, official, repackaged
from affectlab.data.readers.base import SPLITS
from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES

#: Present while a generation runs (or after it was interrupted); removed when synth.json is complete.
MARKER = ".synth-incomplete"
OFFICIAL_HEADER: tuple[str, ...] = official.COLUMNS
MANIFEST_HEADER: tuple[str, ...] = manifest.COLUMNS


@dataclass(frozen=True)
class ImageLabels:
    """One image's recorded labels as written: expression index, VA and landmarks as text, face box."""

    label: int
    valence: str
    arousal: str
    landmarks: str
    box: tuple[int, int, int, int]


def official_name(seed: int, split: str, index: int) -> str:
    """AffectNet-style `subdir/<56 hex>.jpg` path for one image of the official layout."""
    digest = hashlib.sha224(f"affectlab-synth:{seed}:{split}:{index}".encode()).hexdigest()
    return f"{1 + int(digest[:8], 16) % 1000}/{digest}.jpg"


def prepare_out(out: Path, layout: str, overwrite: bool) -> None:
    """Create the output skeleton; refuse to write into a non-empty folder unless it is ours and overwrite."""
    if out.exists() and any(out.iterdir()):
        ours = (out / "synth.json").exists() or (out / MARKER).exists()
        if not (overwrite and ours):
            hint = "pass --overwrite to replace it" if ours else "choose an empty or new folder"
            raise AffectlabError(f"output folder {out} is not empty; {hint}")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("generation in progress or interrupted; re-run with --overwrite\n")
    for split in SPLITS:
        if layout == "repackaged":
            for sub in ("images", "annotations"):
                (out / repackaged.SPLIT_DIRS[split] / sub).mkdir(parents=True, exist_ok=True)
        elif layout == "folders":
            for name in AFFECTNET_CLASSES:
                (out / split / name).mkdir(parents=True, exist_ok=True)
        elif layout == "manifest":
            (out / "images" / split).mkdir(parents=True, exist_ok=True)
        else:
            (out / official.LISTS_DIR).mkdir(parents=True, exist_ok=True)


def _write_repackaged(
    out: Path, split: str, index: int, seed: int, data: bytes, lab: ImageLabels
) -> list[str]:
    """`<split>_set/images/N.jpg` and its four `annotations/N_<field>.npy` (text, as AffectNet ships them)."""
    base = out / repackaged.SPLIT_DIRS[split]
    (base / "images" / f"{index}.jpg").write_bytes(data)
    for suffix, text in (
        ("exp", str(lab.label)),
        ("val", lab.valence),
        ("aro", lab.arousal),
        ("lnd", lab.landmarks),
    ):
        np.save(base / "annotations" / f"{index}_{suffix}.npy", np.array(text))
    return []


def _write_official(out: Path, split: str, index: int, seed: int, data: bytes, lab: ImageLabels) -> list[str]:
    """`Manually_Annotated_Images/<subdir>/<hash>.jpg`; the row holds path, face box, landmarks and labels."""
    rel = official_name(seed, split, index)
    path = out / official.IMAGES_DIR / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return [rel, *(str(b) for b in lab.box), lab.landmarks, str(lab.label), lab.valence, lab.arousal]


def _write_folders(out: Path, split: str, index: int, seed: int, data: bytes, lab: ImageLabels) -> list[str]:
    """`<split>/<class name>/NNNNNN.jpg`: the recorded label is the folder."""
    (out / split / AFFECTNET_CLASSES[lab.label] / f"{index:06d}.jpg").write_bytes(data)
    return []


def _write_manifest(out: Path, split: str, index: int, seed: int, data: bytes, lab: ImageLabels) -> list[str]:
    """`images/<split>/NNNNNN.jpg`; the row holds path, expression, valence and arousal."""
    rel = f"images/{split}/{index:06d}.jpg"
    (out / rel).write_bytes(data)
    return [rel, str(lab.label), lab.valence, lab.arousal]


_WRITERS: dict[str, Callable[[Path, str, int, int, bytes, ImageLabels], list[str]]] = {
    "repackaged": _write_repackaged,
    "official": _write_official,
    "folders": _write_folders,
    "manifest": _write_manifest,
}


def write_image(
    out: Path, layout: str, split: str, index: int, seed: int, data: bytes, labels: ImageLabels
) -> list[str]:
    """Write one encoded image (and, for the repackaged layout, its annotations); return its CSV row.

    The row is empty for the layouts without CSV lists (repackaged, folders).
    """
    return _WRITERS[layout](out, split, index, seed, data, labels)


class ListWriters:
    """The per-split CSV lists of the official and manifest layouts (nothing for the others)."""

    def __init__(self, out: Path, layout: str) -> None:
        self._files: dict[str, IO[str]] = {}
        self._writers: dict[str, Any] = {}
        if layout == "official":
            names, header = (
                {s: f"{official.LISTS_DIR}/{n}" for s, n in official.SPLIT_FILES.items()},
                OFFICIAL_HEADER,
            )
        elif layout == "manifest":
            names, header = dict(manifest.SPLIT_FILES), MANIFEST_HEADER
        else:
            return
        for split, name in names.items():
            self._files[split] = (out / name).open("w", newline="", encoding="utf-8")
            self._writers[split] = csv.writer(self._files[split], lineterminator="\n")
            self._writers[split].writerow(header)

    def write(self, split: str, rows: Sequence[Sequence[str]]) -> None:
        """Append rows to the list of `split` (if the layout has lists)."""
        if split in self._writers:
            self._writers[split].writerows(rows)

    def close(self) -> None:
        """Close every list file."""
        for handle in self._files.values():
            handle.close()
