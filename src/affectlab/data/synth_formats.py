"""Generated fixtures in the exact file formats of RAF-DB, FER2013, FER+ and ExpW (real rendered faces).

The faces come from the embedded renderer (``affectlab.data.synth_render``), drawn for an affectlab class and
written with that dataset's OWN code for it (looked up by name in its declared taxonomy), so a model trained
on the AffectNet-shaped synthetic data can be evaluated across datasets. ``traps=True`` adds each format's
known problems (FER2013 pixel strings of the wrong length, RAF-DB names without images, ExpW boxes outside
the image, FER+ rows of all-``NF`` votes, ...), so ``affectlab validate`` shows how each is counted. Every
fixture has a ``synth.json``: it is never mistaken for the real dataset (no published figures beside it).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.data.synth_classes import expression_for, sample_va
from affectlab.data.synth_names import FORMATS
from affectlab.data.synth_render import degrade, encode_jpeg, render
from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES
from affectlab.taxonomy import Taxonomy, load_taxonomy

#: Splits each format has (RAF-DB: train/test; FER2013 and FER+: Training/PublicTest/PrivateTest).
FORMAT_SPLITS: dict[str, tuple[str, ...]] = {
    "rafdb": ("train", "test"),
    "rafdb-original": ("train", "test"),
    "fer2013": ("train", "val", "test"),
    "ferplus": ("train", "val", "test"),
    "expw": ("train",),  # ExpW has no split: the reader assigns photos by a hash of their name
}
_USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
_FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")


def _face(cls: int, rng: np.random.Generator, canvas: tuple[int, int], face_px: float, center: Any) -> Any:
    valence, arousal = sample_va(cls, rng)
    return render(
        expression_for(cls, valence, arousal, rng), rng, canvas=canvas, face_px=face_px, center=center
    )


def _square_face(cls: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """An already-cropped face (RAF-DB aligned, FER2013): the face fills most of the square."""
    shot = _face(cls, rng, (size, size), size * rng.uniform(0.78, 0.9), (size / 2, size / 2))
    return degrade(shot.image, rng, size * 0.8)


def _wide_shot(cls: int, rng: np.random.Generator, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A photo with one face somewhere in it, and the face's box (x, y, w, h)."""
    wid, hgt = (int(size * f) for f in rng.uniform(1.5, 2.5, 2))
    face = size * rng.uniform(0.85, 1.1)
    center = (rng.uniform(0.6 * face, wid - 0.6 * face), rng.uniform(0.6 * face, hgt - 0.6 * face))
    shot = _face(cls, rng, (wid, hgt), face, center)
    return degrade(shot.image, rng, face), shot.box


def _classes(taxonomy: Taxonomy, n: int, rng: np.random.Generator) -> list[int]:
    """n affectlab class indices, cycling over the dataset's classes in a shuffled order."""
    own = [AFFECTNET_CLASSES.index(c) for c in taxonomy.affectlab_classes]
    picks = [own[i % len(own)] for i in range(n)]
    rng.shuffle(picks)
    return picks


def _rafdb(
    out: Path, counts: dict[str, int], size: int, rng: np.random.Generator, original: bool, traps: bool
) -> None:
    taxonomy = load_taxonomy("rafdb")
    base = out / "basic"
    folder = base / "Image" / ("original" if original else "aligned")
    boxes = base / "Annotation" / "boundingbox"
    for path in (base / "EmoLabel", folder, boxes if original else folder):
        path.mkdir(parents=True, exist_ok=True)
    lines = []
    for split, n in counts.items():
        for i, cls in enumerate(_classes(taxonomy, n, rng), start=1):
            name = f"{split}_{i:05d}.jpg" if split == "train" else f"{split}_{i:04d}.jpg"
            if original:
                img, (x, y, w, h) = _wide_shot(cls, rng, size)
                (folder / name).write_bytes(encode_jpeg(img, 90))
                (boxes / f"{Path(name).stem}_boundingbox.txt").write_text(
                    f"{x}.0 {y}.0 {x + w}.0 {y + h}.0\n"
                )
            else:
                img = _square_face(cls, rng, size)
                (folder / f"{Path(name).stem}_aligned.jpg").write_bytes(encode_jpeg(img, 90))
            lines.append(f"{name} {taxonomy.code_of(AFFECTNET_CLASSES[cls])}")
    if traps:
        lines += ["train_99999.jpg 4", "val_00001.jpg 4", "test_0001.jpg"]  # no image, no split, no code
        stray = folder / ("train_88888.jpg" if original else "train_88888_aligned.jpg")
        stray.write_bytes(encode_jpeg(_square_face(1, rng, size), 90))  # an image without a label line
    (base / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")


def _pixels(img: np.ndarray) -> str:
    grey = np.floor(img @ np.array([0.299, 0.587, 0.114]) + 0.5).clip(0, 255).astype(np.uint8)
    return " ".join(map(str, grey.reshape(-1).tolist()))


def _fer_rows(
    counts: dict[str, int], rng: np.random.Generator, taxonomy: Taxonomy
) -> list[tuple[str, int, str]]:
    """(Usage, affectlab class, pixel string) per face, in split order."""
    return [
        (_USAGE[split], cls, _pixels(_square_face(cls, rng, 48)))
        for split, n in counts.items()
        for cls in _classes(taxonomy, n, rng)
    ]


def _fer_code(taxonomy: Taxonomy, cls: int) -> str:
    """FER2013's code for a class; FER+ contempt faces carry an old FER2013 label (neutral here)."""
    name = AFFECTNET_CLASSES[cls]
    return str(taxonomy.code_of(name if name in taxonomy.affectlab_classes else "neutral"))


def _write_fer2013(out: Path, rows: list[tuple[str, int, str]], traps: bool) -> None:
    taxonomy = load_taxonomy("fer2013")
    table = [[_fer_code(taxonomy, cls), pixels, usage] for usage, cls, pixels in rows]
    if traps:
        short = " ".join(rows[0][2].split()[:-1])
        table += [["3", short, "Training"], ["3", rows[0][2].replace(" 1", " 300", 1), "PrivateTest"]]
        table += [["3", rows[0][2], "Validation"]]  # not a FER2013 Usage
    with (out / "fer2013.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["emotion", "pixels", "Usage"])
        writer.writerows(table)


def _votes(cls: int, rng: np.random.Generator) -> list[int]:
    """Ten votes: mostly the drawn class, some spread over others and 'unknown'."""
    votes = [0] * 10
    true = load_taxonomy("ferplus").code_of(AFFECTNET_CLASSES[cls])  # FER+ codes are the vote columns
    for _ in range(10):
        u = rng.random()
        votes[true if u < 0.75 else (8 if u < 0.8 else int(rng.integers(0, 8)))] += 1
    return votes


def _ferplus(out: Path, counts: dict[str, int], rng: np.random.Generator, traps: bool) -> None:
    plus = load_taxonomy("ferplus")
    rows = _fer_rows(counts, rng, plus)
    _write_fer2013(out, rows, False)
    table = []
    for index, (usage, cls, _) in enumerate(rows):
        votes = _votes(cls, rng)
        if traps and index % 10 == 9:
            votes = [0] * 9 + [10]  # all-NF: the FER+ release leaves the image name empty here
        if traps and index % 10 == 5:
            votes = [3, 3, 0, 2, 0, 0, 0, 0, 2, 0]  # no majority, a plurality tie
        table.append([usage, "" if votes[9] == 10 else f"fer{index:07d}.png", *votes])
    with (out / "fer2013new.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["Usage", "Image name", *_FERPLUS_COLUMNS, "unknown", "NF"])
        writer.writerows(table)


def _expw(out: Path, n: int, size: int, rng: np.random.Generator, traps: bool) -> None:
    taxonomy = load_taxonomy("expw")
    images = out / "image" / "origin"
    images.mkdir(parents=True, exist_ok=True)
    (out / "label").mkdir(exist_ok=True)
    lines = []
    for i, cls in enumerate(_classes(taxonomy, n, rng)):
        name = f"{AFFECTNET_CLASSES[cls]}_person_{i:04d}.jpg"
        img, (x, y, w, h) = _wide_shot(cls, rng, size)
        (images / name).write_bytes(encode_jpeg(img, 90))
        code = taxonomy.code_of(AFFECTNET_CLASSES[cls])
        lines.append(f"{name} 0 {y} {x} {x + w} {y + h} {rng.uniform(20, 80):.4f} {code}")
    if traps:
        first = lines[0].split()[0]
        lines.append(f"{first} 1 {10 * size} {10 * size} {11 * size} {11 * size} 30.0 3")  # box off the image
        lines.append("missing_photo.jpg 0 10 10 60 60 30.0 3")
        lines.append(f"{first} 2 50 80 40 90 30.0 3")  # right < left
    (out / "label" / "label.lst").write_text("\n".join(lines) + "\n")


def generate_format(
    out: str | Path,
    fmt: str,
    *,
    per_split: int = 40,
    size: int = 100,
    seed: int = 0,
    traps: bool = False,
) -> Path:
    """Write a fixture in format ``fmt`` (see FORMATS) with ``per_split`` faces per split; return ``out``.

    ExpW has no split: it gets 3 x ``per_split`` photos, which its reader splits 80/10/10 by name.
    """
    if fmt not in FORMATS:
        raise AffectlabError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if per_split < 1 or not 32 <= size <= 512:
        raise AffectlabError(f"per_split must be >= 1 and size 32..512, got {per_split}, {size}")
    root = Path(out)
    if root.exists() and any(root.iterdir()):
        raise AffectlabError(f"{root}: not empty; choose a new folder for the fixture")
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, FORMATS.index(fmt)])
    counts = dict.fromkeys(FORMAT_SPLITS[fmt], per_split)
    if fmt in ("rafdb", "rafdb-original"):
        _rafdb(root, counts, size, rng, fmt == "rafdb-original", traps)
    elif fmt == "fer2013":
        _write_fer2013(root, _fer_rows(counts, rng, load_taxonomy("fer2013")), traps)
    elif fmt == "ferplus":
        _ferplus(root, counts, rng, traps)
    else:
        _expw(root, 3 * per_split, size, rng, traps)  # split 80/10/10 by the reader, by photo name
    meta = {"generator": "affectlab.data.synth_formats", "format": fmt, "seed": seed, "per_split": per_split}
    meta |= {"image_size": 48 if fmt in ("fer2013", "ferplus") else size, "traps": traps}
    (root / "synth.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return root
