"""Readers: the four layouts (generated here), label policies, bad input, the report and strict mode."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from affectlab.data import detect_layout, open_split, validate_dataset
from affectlab.errors import AffectlabError

LANDMARKS = ";".join(f"{v:.1f}" for v in np.linspace(1, 30, 136))


def _image(path: Path, seed: int, size: int = 40, fmt: str | None = None) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path, fmt)
    return path


def make_repackaged(root: Path, items: list[dict[str, Any]], *, as_strings: bool = True) -> Path:
    """Write train_set/val_set images + annotations; values are numpy string scalars by default."""
    for item in items:
        base = root / ("train_set" if item["split"] == "train" else "val_set")
        _image(base / "images" / f"{item['id']}.jpg", item.get("seed", int(item["id"])), fmt="PNG")
        ann = base / "annotations"
        ann.mkdir(parents=True, exist_ok=True)
        for key in ("exp", "val", "aro", "lnd"):
            if key not in item:
                continue
            value = item[key]
            array = np.array(str(value)) if as_strings and key != "lnd" else np.asarray(value)
            np.save(ann / f"{item['id']}_{key}.npy", array)
    return root


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


OFFICIAL_HEADER = [
    "subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
    "facial_landmarks", "expression", "valence", "arousal",
]  # fmt: skip


def make_official(root: Path, train: list[list[Any]], val: list[list[Any]] | None = None) -> Path:
    """Write the official CSV lists; each row is [name, x, y, w, h, exp, val, aro] (image made if missing)."""
    for name, rows in (("training.csv", train), ("validation.csv", val or [])):
        out_rows = []
        for i, (rel, x, y, w, h, exp, va, ar) in enumerate(rows):
            image = root / "Manually_Annotated_Images" / rel
            if not image.exists() and not rel.startswith("missing"):
                _image(image, seed=i + len(name), size=48, fmt="PNG")
            out_rows.append([rel, x, y, w, h, LANDMARKS, exp, va, ar])
        _write_csv(root / "Manually_Annotated_file_lists" / name, OFFICIAL_HEADER, out_rows)
    return root


def _rejected(report: Any) -> dict[str, int]:
    return {reason: entry.count for reason, entry in report.rejected.items()}


def _notes(report: Any) -> dict[str, int]:
    return {reason: entry.count for reason, entry in report.notes.items()}


def test_repackaged_string_and_numeric_scalars(tmp_path: Path) -> None:
    items = [
        {"split": "train", "id": 1, "exp": 3, "val": 0.785714, "aro": -0.25, "lnd": LANDMARKS},
        {"split": "train", "id": 2, "exp": 7, "val": -0.5, "aro": 0.5},
        {"split": "val", "id": 3, "exp": 0, "val": 0.0, "aro": 0.1, "lnd": np.arange(136, dtype=float)},
    ]
    for as_strings, name in ((True, "str"), (False, "num")):
        root = make_repackaged(tmp_path / name, items, as_strings=as_strings)
        assert detect_layout(root) == "repackaged"
        assert np.load(root / "train_set/annotations/1_exp.npy").dtype.kind == ("U" if as_strings else "i")
        split = open_split(root, "train", size=24, workers=0)
        labels = split.labels()
        assert labels["expression"].tolist() == [3, 7]
        assert labels["valence"][0] == pytest.approx(0.785714)
        assert labels["arousal"].tolist() == [-0.25, 0.5]
        batch = split.get_batch(np.array([1, 0]))
        assert batch["image"].shape == (2, 24, 24, 3) and batch["expression"].tolist() == [7, 3]
        records = split.records  # type: ignore[attr-defined]
        assert records[0].landmarks.shape == (68, 2) and records[1].landmarks is None
        assert len(open_split(root, "val", size=24, workers=0)) == 1


def test_repackaged_missing_annotation_and_image(tmp_path: Path) -> None:
    items = [
        {"split": "train", "id": 1, "exp": 1, "val": 0.5, "aro": 0.5},
        {"split": "train", "id": 2, "exp": 1, "val": 0.5},  # no N_aro.npy
    ]
    root = make_repackaged(tmp_path, items)
    np.save(root / "train_set/annotations/9_exp.npy", np.array("2"))  # annotation without image
    report = validate_dataset(root, workers=0)
    assert _rejected(report) == {"missing_annotation": 1, "missing_image": 1}
    assert report.total("train") == 1
    with pytest.raises(AffectlabError, match=r"2\.jpg: annotation file 2_aro\.npy does not exist"):
        validate_dataset(root, strict=True, workers=0)


def test_official_label_policy_and_boxes(tmp_path: Path) -> None:
    train = [
        ["1/a.png", 4, 4, 30, 30, 1, 0.5, 0.2],  # line 2: good
        ["1/b.png", 4, 4, 30, 30, 8, 0.1, 0.1],  # None: expression missing, VA kept
        ["1/c.png", 4, 4, 30, 30, 9, -2, -2],  # Uncertain and VA missing: no label at all
        ["1/d.png", 4, 4, 30, 30, 10, -2, -2],  # No-Face
        ["1/e.png", 4, 4, 30, 30, 2, -2, -2],  # VA missing, expression kept
        ["1/f.png", 30, 30, 40, 40, 3, 0.0, 0.0],  # box partly outside: clipped
        ["1/g.png", 60, 60, 10, 10, 3, 0.0, 0.0],  # box fully outside
        ["1/h.png", 4, 4, 0, 30, 3, 0.0, 0.0],  # zero width
        ["1/a.png", 4, 4, 30, 30, 1, 0.5, 0.2],  # duplicate id
        ["1/i.png", 4, 4, 30, 30, 12, 0.0, 0.0],  # code out of range
        ["1/j.png", 4, 4, 30, 30, 1, 1.5, 0.0],  # valence out of range
        ["1/k.png", 4, 4, 30, 30, 1, "nan", 0.0],  # NaN
        ["missing/l.png", 4, 4, 30, 30, 1, 0.0, 0.0],  # image file absent
        ["1/m.png", 4, 4, 30, 30, 7, 0.3, 0.3],  # contempt
    ]
    root = make_official(tmp_path, train, [["2/a.png", 0, 0, 48, 48, 0, 0.0, 0.0]])
    assert detect_layout(root) == "official"
    report = validate_dataset(root, workers=0)
    assert _rejected(report) == {
        "no_label": 1, "no_face": 1, "box_outside_image": 1, "bad_box": 1, "duplicate_id": 1,
        "label_out_of_range": 2, "label_nan": 1, "missing_image": 1,
    }  # fmt: skip
    notes = _notes(report)
    assert notes["expression_none"] == 1 and "expression_uncertain" not in notes  # 9 + no VA: rejected
    assert (
        notes["valence_missing"] == 1 and notes["arousal_missing"] == 1 and notes["box_partly_outside"] == 1
    )
    assert report.counts["train"]["(no expression)"] == 1 and report.counts["train"]["contempt"] == 1
    assert report.total("train") == 5 and report.total("val") == 1
    assert any("training.csv:10" in ex for ex in report.rejected["duplicate_id"].examples)

    seven = validate_dataset(root, num_classes=7, workers=0)
    assert _rejected(seven)["contempt_dropped"] == 1 and seven.total("train") == 4
    assert "contempt" not in seven.counts["train"]

    with pytest.raises(AffectlabError, match=r"training\.csv:4: no expression, valence or arousal label"):
        validate_dataset(root, strict=True, workers=0)


def test_official_strict_names_line_and_expectation(tmp_path: Path) -> None:
    rows = [["1/a.png", 4, 4, 30, 30, 1, 0.5, 0.2], ["1/b.png", 4, 4, 30, 30, 11, 0, 0]]
    root = make_official(tmp_path, rows)
    with pytest.raises(AffectlabError, match=r"training\.csv:3: expression code 11 is outside 0-7"):
        validate_dataset(root, strict=True, workers=0)
    lists = root / "Manually_Annotated_file_lists"
    _write_csv(lists / "training.csv", ["subDirectory_filePath", "expression"], [])
    with pytest.raises(AffectlabError, match="missing column"):
        validate_dataset(root, workers=0)


def test_official_crop_uses_box_and_margin(tmp_path: Path) -> None:
    root = tmp_path / "off"
    img = np.zeros((48, 48, 3), dtype=np.uint8)
    img[10:30, 10:30] = 255
    (root / "Manually_Annotated_Images/1").mkdir(parents=True)
    Image.fromarray(img).save(root / "Manually_Annotated_Images/1/a.png")
    make_official(root, [["1/a.png", 10, 10, 20, 20, 1, 0.5, 0.5]])
    tight = open_split(root, "train", size=20, margin=0.0, workers=0).get_batch(np.array([0]))["image"][0]
    assert tight.min() == 255  # exactly the white box
    wide = open_split(root, "train", size=40, margin=0.5, workers=0).get_batch(np.array([0]))["image"][0]
    assert wide[0, 0].max() == 0 and wide[20, 20].min() == 255


def test_class_folders_by_name_and_index(tmp_path: Path) -> None:
    root = tmp_path / "folders"
    folders = [
        ("train", "Happy", 2), ("train", "anger", 1), ("train", "NEUTRAL", 1), ("train", "7", 1),
        ("val", "3", 1), ("val", "surprised", 1), ("val", "bored", 1),
    ]  # fmt: skip
    for k, (split, folder, n) in enumerate(folders):
        for i in range(n):
            _image(root / split / folder / f"{folder}_{i}.png", seed=10 * k + i)
    (root / "train" / "Happy" / ".DS_Store").write_bytes(b"junk")
    assert detect_layout(root) == "folders"
    report = validate_dataset(root, workers=0)
    train = report.counts["train"]
    assert (train["happy"], train["anger"], train["neutral"], train["contempt"]) == (2, 1, 1, 1)
    assert report.counts["val"]["surprise"] == 2
    assert _rejected(report) == {"bad_label": 1, "hidden_file": 1}  # .DS_Store: counted, never read
    assert "bored" in report.rejected["bad_label"].examples[0]
    split = open_split(root, "train", size=16, num_classes=7, workers=0)
    assert sorted(split.labels()["expression"].tolist()) == [0, 1, 1, 6]  # anger is 6, not alphabetical 0


def test_manifest_csv(tmp_path: Path) -> None:
    for i in range(5):
        _image(tmp_path / "img" / f"{i}.png", seed=i)
    rows = [
        ["img/0.png", "3", "0.5", "", "train"],
        ["img/1.png", "Happy", "", "", "train"],
        ["img/2.png", "", "-0.5", "0.25", "val"],
        ["img/3.png", "", "", "", "train"],  # no label at all
        ["img/4.png", "sleepy", "0", "0", "train"],  # unknown name
        ["img/missing.png", "1", "", "", "val"],
    ]
    csv_path = _write_csv(tmp_path / "faces.csv", ["path", "expression", "valence", "arousal", "split"], rows)
    assert detect_layout(csv_path) == "manifest"
    report = validate_dataset(csv_path, workers=0)
    assert _rejected(report) == {"no_label": 1, "bad_label": 1, "missing_image": 1}
    train = open_split(csv_path, "train", size=16, workers=0)
    assert train.labels()["expression"].tolist() == [3, 1]
    assert math.isnan(train.labels()["arousal"][0])
    val = open_split(csv_path, "val", size=16, workers=0).labels()
    assert val["expression"].tolist() == [-1] and val["arousal"].tolist() == [0.25]
    with pytest.raises(AffectlabError, match=r"faces\.csv:5: no expression"):
        validate_dataset(csv_path, strict=True, workers=0)


def test_bad_images_are_counted_and_reported(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for i in range(3):
        _image(root / "train" / "happy" / f"good{i}.jpg", seed=i, fmt="JPEG")
    data = (root / "train/happy/good0.jpg").read_bytes()
    (root / "train/happy/trunc.jpg").write_bytes(data[: len(data) // 2])
    (root / "train/happy/empty.jpg").write_bytes(b"")
    (root / "train/happy/notes.txt").write_text("hello")
    _image(root / "train" / "sad" / "png_as.jpg", seed=9, fmt="PNG")
    Image.new("L", (40, 40), 7).save(root / "train" / "sad" / "grey.png")
    report_path = tmp_path / "report.json"
    report = validate_dataset(root, workers=2, report_path=report_path)
    assert _rejected(report) == {"truncated": 1, "empty_file": 1, "not_an_image": 1}
    assert _notes(report) == {"extension_mismatch": 1, "converted_to_rgb": 1}
    assert report.total("train") == 5
    saved = json.loads(report_path.read_text())
    assert saved["rejected"]["truncated"]["count"] == 1
    assert "trunc.jpg" in saved["rejected"]["truncated"]["examples"][0]
    console = Console(record=True, width=200)
    report.print(console)
    text = console.export_text()
    assert "truncated" in text and "empty.jpg" in text and "happy" in text
    with pytest.raises(AffectlabError, match=r"empty\.jpg: file is empty"):
        validate_dataset(root, strict=True, workers=0)


def test_leakage_between_train_and_val(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _image(root / "train" / "happy" / "a.png", seed=1)
    _image(root / "train" / "happy" / "a_copy.png", seed=1)  # duplicate within train: a note
    _image(root / "val" / "sad" / "b.png", seed=1)  # same content in val: leakage
    _image(root / "val" / "sad" / "c.png", seed=2)
    report = validate_dataset(root, workers=0)
    assert report.leakage.count == 1 and "b.png" in report.leakage.examples[0]
    assert _notes(report) == {"duplicate_content": 1}
    with pytest.raises(AffectlabError, match="leakage"):
        validate_dataset(root, strict=True, workers=0)


def test_detect_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(AffectlabError, match="no such file"):
        detect_layout(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AffectlabError, match="unrecognised dataset layout"):
        detect_layout(tmp_path / "empty")
