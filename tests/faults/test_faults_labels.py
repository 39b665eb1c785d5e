"""Bad labels in every annotated layout: a counted skip by default, an error naming file, line and field
in strict mode. Complements tests/data/test_data_layouts.py (each reader's full label policy once)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from fault_helpers import good_image

from affectlab.data import prepare, validate_dataset
from affectlab.errors import AffectlabError

GOOD = [("1", "0.5", "0.2"), ("2", "-0.3", "0.4"), ("3", "0.1", "-0.6")]
OFFICIAL_HEADER = [
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
]


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def make_layout(kind: str, root: Path, labels: list[tuple[str, str, str]]) -> tuple[Path, list[str]]:
    """Write a train split with one image per (expression, valence, arousal) row; return the path to give
    the readers and, per row, the text strict mode must name for it (file:line or the image file)."""
    places = []
    if kind == "repackaged":
        ann = root / "train_set" / "annotations"
        ann.mkdir(parents=True)
        for i, (exp, val, aro) in enumerate(labels):
            good_image(root / "train_set" / "images" / f"{i}.jpg", seed=i)
            for key, value in (("exp", exp), ("val", val), ("aro", aro)):
                np.save(ann / f"{i}_{key}.npy", np.array(value))
            places.append(rf"{i}\.jpg")
        return root, places
    if kind == "official":
        rows = []
        for i, (exp, val, aro) in enumerate(labels):
            good_image(root / "Manually_Annotated_Images" / "1" / f"{i}.jpg", seed=i)
            rows.append([f"1/{i}.jpg", "0", "0", "48", "48", "", exp, val, aro])
            places.append(rf"training\.csv:{i + 2}")
        _csv(root / "Manually_Annotated_file_lists" / "training.csv", OFFICIAL_HEADER, rows)
        return root, places
    assert kind == "manifest"
    rows = []
    for i, (exp, val, aro) in enumerate(labels):
        good_image(root / "img" / f"{i}.jpg", seed=i)
        rows.append([f"img/{i}.jpg", exp, val, aro])
        places.append(rf"train\.csv:{i + 2}")
    _csv(root / "train.csv", ["path", "expression", "valence", "arousal"], rows)
    return root, places


#: bad (expression, valence, arousal), the rejection reason, and the field/value strict mode must name.
BAD = {
    "nan_valence": (("1", "nan", "0.2"), "label_nan", "valence is NaN"),
    "arousal_1.5": (("1", "0.2", "1.5"), "label_out_of_range", "arousal 1.5 is outside"),
    "expression_11": (("11", "0.2", "0.2"), "label_out_of_range", "expression code 11 is outside 0-7"),
}


@pytest.mark.parametrize("kind", ["repackaged", "official", "manifest"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_label_counted_or_strict_error(tmp_path: Path, kind: str, case: str) -> None:
    bad, reason, field = BAD[case]
    root, places = make_layout(kind, tmp_path / kind, [GOOD[0], bad, *GOOD[1:]])
    report = validate_dataset(root, workers=0)
    assert {k: v.count for k, v in report.rejected.items()} == {reason: 1}
    assert report.total("train") == 3
    with pytest.raises(AffectlabError, match=rf"{places[1]}: {field}.*\[{reason}\]"):
        validate_dataset(root, strict=True, workers=0)
    with pytest.raises(AffectlabError, match=rf"{places[1]}: {field}"):
        prepare(root, tmp_path / "store", 32, strict=True, workers=0, progress=False)
    out = prepare(root, tmp_path / "store", 32, workers=0, progress=False)
    assert (out / "manifest.json").is_file()


@pytest.mark.parametrize("field", ["exp", "val", "aro"])
def test_repackaged_missing_annotation_file(tmp_path: Path, field: str) -> None:
    root, _ = make_layout("repackaged", tmp_path / "ds", GOOD)
    (root / "train_set" / "annotations" / f"1_{field}.npy").unlink()
    report = validate_dataset(root, workers=0)
    assert report.rejected["missing_annotation"].count == 1 and report.total("train") == 2
    with pytest.raises(AffectlabError, match=rf"1\.jpg: annotation file 1_{field}\.npy does not exist"):
        validate_dataset(root, strict=True, workers=0)


def test_repackaged_without_annotations_folder(tmp_path: Path) -> None:
    """Every item skipped and counted; prepare then refuses clearly rather than writing an empty store."""
    root, _ = make_layout("repackaged", tmp_path / "ds", GOOD)
    for path in (root / "train_set" / "annotations").iterdir():
        path.unlink()
    report = validate_dataset(root, workers=0)
    assert report.rejected["missing_annotation"].count == 3 and report.total("train") == 0
    with pytest.raises(AffectlabError, match="no usable samples"):
        prepare(root, tmp_path / "store", 32, workers=0, progress=False)
    assert not (tmp_path / "store").exists()


def test_official_without_list_files(tmp_path: Path) -> None:
    root, _ = make_layout("official", tmp_path / "ds", GOOD)
    (root / "Manually_Annotated_file_lists" / "training.csv").unlink()
    with pytest.raises(AffectlabError, match=r"no train, val or test split found"):
        validate_dataset(root, workers=0)
    with pytest.raises(AffectlabError, match="no usable samples"):
        prepare(root, tmp_path / "store", 32, workers=0, progress=False)


def test_manifest_folder_without_csv(tmp_path: Path) -> None:
    root, _ = make_layout("manifest", tmp_path / "ds", GOOD)
    (root / "train.csv").unlink()
    with pytest.raises(AffectlabError, match="unrecognised dataset layout"):
        validate_dataset(root, workers=0)


@pytest.mark.parametrize(
    "column", ["subDirectory_filePath", "face_width", "expression", "valence", "arousal"]
)
def test_official_csv_missing_column(tmp_path: Path, column: str) -> None:
    """A missing column is an error in both modes: silently reading every row as unlabelled would be worse."""
    root, _ = make_layout("official", tmp_path / "ds", GOOD)
    lists = root / "Manually_Annotated_file_lists" / "training.csv"
    rows = list(csv.DictReader(lists.open()))
    header = [c for c in OFFICIAL_HEADER if c != column]
    _csv(lists, header, [[r[c] for c in header] for r in rows])
    for strict in (False, True):
        with pytest.raises(AffectlabError, match=rf"training\.csv: missing column\(s\) {column}"):
            validate_dataset(root, strict=strict, workers=0)


def test_manifest_csv_missing_path_column(tmp_path: Path) -> None:
    root, _ = make_layout("manifest", tmp_path / "ds", GOOD)
    _csv(root / "train.csv", ["file", "expression", "valence", "arousal"], [["img/0.jpg", "1", "0", "0"]])
    with pytest.raises(AffectlabError, match=r"train\.csv: missing column\(s\) path"):
        validate_dataset(root, workers=0)


def test_manifest_misspelt_label_column(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`valance` instead of `valence`: strict mode refuses; otherwise a warning names both columns."""
    root, _ = make_layout("manifest", tmp_path / "ds", GOOD)
    rows = [[f"img/{i}.jpg", *labels] for i, labels in enumerate(GOOD)]
    _csv(root / "train.csv", ["path", "expression", "valance", "arousal"], rows)
    with pytest.raises(
        AffectlabError, match=r"train\.csv: no column\(s\) valence but unknown column\(s\) valance"
    ):
        validate_dataset(root, strict=True, workers=0)
    with caplog.at_level("WARNING"):
        report = validate_dataset(root, workers=0)
    assert "unknown column(s) valance" in caplog.text and report.total("train") == 3
    _csv(root / "train.csv", ["path", "label"], [["img/0.jpg", "1"]])
    with pytest.raises(AffectlabError, match=r"train\.csv: no label column"):
        validate_dataset(root, workers=0)
