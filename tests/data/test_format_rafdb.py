"""RAF-DB basic: the label file, aligned and original images, its splits and its traps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from affectlab.data import detect_layout, open_split, prepare, validate_dataset
from affectlab.data.synth_formats import generate_format
from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES


def _image(path: Path, size: tuple[int, int], value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


def make_aligned(root: Path, lines: list[str], images: list[str]) -> Path:
    base = root / "basic"
    (base / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (base / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    for i, stem in enumerate(images):
        _image(base / "Image" / "aligned" / f"{stem}_aligned.jpg", (20, 20), 10 + 20 * i)
    return root


def test_happiness_in_the_file_arrives_as_affectlab_happy(tmp_path: Path) -> None:
    # RAF-DB's README: 4 = Happiness, 1 = Surprise, 7 = Neutral (affectlab: happy 1, surprise 3, neutral 0)
    root = make_aligned(
        tmp_path,
        ["train_00001.jpg 4", "train_00002.jpg 1", "test_0001.jpg 7"],
        ["train_00001", "train_00002", "test_0001"],
    )
    assert detect_layout(root) == "rafdb"
    train = open_split(root, "train", size=16)
    assert [train.class_names[e] for e in train.labels()["expression"]] == ["happy", "surprise"]
    assert train.labels()["expression"].tolist() == [AFFECTNET_CLASSES.index("happy"), 3]
    test = open_split(root, "test", size=16)
    assert test.labels()["expression"].tolist() == [0]
    assert test.dataset_classes == AFFECTNET_CLASSES[:7]  # RAF-DB has no contempt
    with pytest.raises(AffectlabError, match="no 'val' split"):
        open_split(root, "val", size=16)


def test_traps_names_without_images_and_images_without_names(tmp_path: Path) -> None:
    root = make_aligned(
        tmp_path,
        [
            "train_00001.jpg 4",
            "train_00002.jpg 5",
            "val_00001.jpg 4",
            "train_00003.jpg",
            "train_00004.jpg 9",
            "",
        ],
        ["train_00001", "train_00003", "train_00004", "train_00009"],
    )
    report = validate_dataset(root, workers=0)
    label_file = root / "basic" / "EmoLabel" / "list_patition_label.txt"
    assert report.rejected["missing_image"].examples[0].startswith(f"{label_file}:2:")
    assert report.rejected["bad_row"].count == 2  # no split prefix; no code
    assert report.rejected["label_out_of_range"].count == 1  # code 9 is not a RAF-DB code
    assert report.rejected["missing_annotation"].count == 1  # train_00009 has no label line
    assert report.total("train") == 1
    with pytest.raises(AffectlabError, match=r"list_patition_label.txt:2: .*no image"):
        validate_dataset(root, workers=0, strict=True)


def test_original_images_are_cropped_by_their_box_file(tmp_path: Path) -> None:
    base = tmp_path / "basic"
    (base / "EmoLabel").mkdir(parents=True)
    (base / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 4\ntrain_00002.jpg 4\n")
    img = np.zeros((60, 80, 3), np.uint8)
    img[10:30, 40:60] = 200  # the face: x 40..60, y 10..30
    (base / "Image" / "original").mkdir(parents=True)
    Image.fromarray(img).save(base / "Image" / "original" / "train_00001.jpg", quality=100)
    Image.fromarray(img).save(base / "Image" / "original" / "train_00002.jpg", quality=100)
    boxes = base / "Annotation" / "boundingbox"
    boxes.mkdir(parents=True)
    (boxes / "train_00001_boundingbox.txt").write_text("40.0 10.0 60.0 30.0\n")
    (boxes / "train_00002_boundingbox.txt").write_text("60.0 10.0 40.0 30.0\n")  # x2 < x1
    report = validate_dataset(tmp_path, workers=0)
    assert report.rejected["bad_box"].count == 1
    split = open_split(tmp_path, "train", size=20, margin=0.0)
    assert split.records[0].box == (40.0, 10.0, 20.0, 20.0)
    face = split[0]["image"]
    assert face.mean() > 190  # the crop is the bright box, not the black photo around it


def test_generated_fixture_validates_and_prepares_every_split(tmp_path: Path) -> None:
    root = generate_format(tmp_path / "raf", "rafdb", per_split=8, size=48, traps=True)
    report = validate_dataset(root, workers=0)
    assert (report.total("train"), report.total("test")) == (8, 8)
    assert report.rejected["missing_image"].count == 1 and report.rejected["missing_annotation"].count == 1
    assert report.label_map["name"] == "rafdb"
    store = prepare(root, tmp_path / "store", 32, workers=0, progress=False, num_classes=7)
    from affectlab.data import open_store

    opened = open_store(store)
    assert opened.splits == ("train", "test")
    assert opened.taxonomy is not None and opened.taxonomy.name == "rafdb"
    assert len(opened.split("test")) == 8 and opened.split("test").dataset_classes == AFFECTNET_CLASSES[:7]
