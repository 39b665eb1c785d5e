"""ExpW: label.lst boxes (top, left, right, bottom), several faces per photo, the hash split and traps."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from affectlab.data import detect_layout, open_split, validate_dataset
from affectlab.data.readers.expw import split_of
from affectlab.data.synth_formats import generate_format
from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES


def _photo(root: Path, name: str) -> None:
    img = np.zeros((60, 100, 3), np.uint8)
    img[5:25, 10:30] = 200  # face 0: left 10, top 5, right 30, bottom 25
    img[30:50, 60:80] = 90  # face 1: left 60, top 30, right 80, bottom 50
    (root / "image" / "origin").mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(root / "image" / "origin" / name, quality=100)


def _labels(root: Path, lines: list[str]) -> None:
    (root / "label").mkdir(parents=True, exist_ok=True)
    (root / "label" / "label.lst").write_text("\n".join(lines) + "\n")


def _split_name(split: str) -> str:
    return next(f"p{i}.jpg" for i in range(1000) if split_of(f"p{i}.jpg") == split)


def test_happy_in_the_file_arrives_as_affectlab_happy_cropped_by_its_box(tmp_path: Path) -> None:
    # ExpW: 3 = happy, 0 = angry (affectlab: happy 1, anger 6)
    name = _split_name("train")
    _photo(tmp_path, name)
    _labels(tmp_path, [f"{name} 0 5 10 30 25 50.1 3", f"{name} 1 30 60 80 50 40.0 0"])
    assert detect_layout(tmp_path) == "expw"
    split = open_split(tmp_path, "train", size=20, margin=0.0)
    assert split.labels()["expression"].tolist() == [
        AFFECTNET_CLASSES.index("happy"),
        AFFECTNET_CLASSES.index("anger"),
    ]
    assert [r.box for r in split.records] == [(10.0, 5.0, 20.0, 20.0), (60.0, 30.0, 20.0, 20.0)]
    assert split.ids() == [f"{name}#0", f"{name}#1"]
    first, second = split.get_batch(np.array([0, 1]))["image"]
    assert first.mean() > 190 and 80 < second.mean() < 100  # each crop is its own face


def test_traps_boxes_outside_the_image_bad_boxes_and_missing_photos(tmp_path: Path) -> None:
    name = _split_name("train")
    _photo(tmp_path, name)
    lines = [
        f"{name} 0 5 10 30 25 50.1 3",
        f"{name} 1 500 600 700 650 30.0 3",  # entirely outside the 100x60 photo
        f"{name} 2 50 90 120 70 30.0 3",  # partly outside: kept, padded black
        f"{name} 3 5 30 10 25 30.0 3",  # right < left
        "nothere.jpg 0 5 10 30 25 50.1 3",
        f"{name} 4 5 10 30 25 50.1",  # a field short
        f"{name} 5 5 10 30 25 50.1 9",  # not an ExpW code
    ]
    _labels(tmp_path, lines)
    report = validate_dataset(tmp_path, workers=0)
    assert report.rejected["box_outside_image"].count == 1
    assert report.notes["box_partly_outside"].count == 1
    label_file = tmp_path / "label" / "label.lst"
    assert report.rejected["bad_box"].examples[0].startswith(f"{label_file}:4:")
    assert report.rejected["missing_image"].count == 1 and report.rejected["bad_row"].count == 1
    assert report.rejected["label_out_of_range"].count == 1
    assert report.total("train") == 2


def test_hash_split_is_by_photo_and_about_80_10_10() -> None:
    counts = Counter(split_of(f"photo_{i}.jpg") for i in range(5000))
    assert abs(counts["train"] / 5000 - 0.8) < 0.03 and abs(counts["test"] / 5000 - 0.1) < 0.02
    assert split_of("photo_1.jpg") == split_of("photo_1.jpg")


def test_generated_fixture(tmp_path: Path) -> None:
    root = generate_format(tmp_path / "expw", "expw", per_split=10, size=48, traps=True)
    report = validate_dataset(root, workers=0)
    assert sum(report.total(s) for s in report.counts) == 30
    assert report.rejected["box_outside_image"].count == 1 and report.rejected["bad_box"].count == 1
    assert report.rejected["missing_image"].count == 1
    with pytest.raises(AffectlabError, match=r"label.lst:32: no image .*missing_photo.jpg \[missing_image\]"):
        validate_dataset(root, workers=0, strict=True)
