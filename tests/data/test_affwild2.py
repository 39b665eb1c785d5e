"""The Aff-Wild2 (ABAW) reader on generated Aff-Wild2-shaped data: labels by name, invalid frames, counts."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from affectlab.data.readers import LabelPolicy, Problems, detect_layout, read_layout
from affectlab.data.readers.affwild2 import AFFWILD2_CLASSES, frame_of, video_of
from affectlab.data.synth_video import TO_AFFWILD2, generate_affwild2
from affectlab.errors import AffectlabError

VA = "annotations/VA_Estimation_Challenge"
EXPR = "annotations/EXPR_Classification_Challenge"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("aw") / "affwild2"
    return generate_affwild2(root, train=2, val=1, frames=12, size=48, invalid_every=5, other_every=7)


@pytest.fixture()
def root(made: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "affwild2"
    shutil.copytree(made, copy)
    return copy


def _read(root: Path, strict: bool = False) -> tuple[dict, Problems]:
    problems = Problems(strict=strict)
    layout, records = read_layout(root, LabelPolicy(8), problems)
    assert layout == "affwild2"
    return records, problems


def _lines(root: Path, rel: str) -> list[str]:
    return (root / rel).read_text().splitlines()


def test_layout_detected_and_labels_follow_the_files(root: Path) -> None:
    assert detect_layout(root) == "affwild2"
    records, problems = _read(root)
    assert [len(records["train"]), len(records["val"])] == [2 * 10, 1 * 10]  # frames 5 and 10 unannotated
    assert problems.rejected["no_label"].count == 3 * 2
    va = _lines(root, f"{VA}/Train_Set/train-001.txt")
    ex = _lines(root, f"{EXPR}/Train_Set/train-001.txt")
    assert ex[0] == ",".join(AFFWILD2_CLASSES)
    by_id = {r.source_id: r for r in records["train"]}
    for k in (1, 2, 7, 12):
        rec = by_id[f"train-001/{k:05d}"]
        v, a = (float(x) for x in va[k].split(","))
        assert (rec.valence, rec.arousal) == pytest.approx((v, a), abs=1e-6)
        code = int(ex[k])
        name = AFFWILD2_CLASSES[code]
        expected = {
            "Happiness": 1,
            "Sadness": 2,
            "Surprise": 3,
            "Fear": 4,
            "Disgust": 5,
            "Anger": 6,
            "Neutral": 0,
        }
        assert rec.expression == (-1 if name == "Other" else expected[name])
        assert rec.path.name == f"{k:05d}.jpg" and rec.box is None
    assert by_id["train-001/00007"].expression == -1  # Other: kept for valence/arousal, counted
    assert problems.notes["expression_other"].count == 3
    assert video_of("train-001/00007") == "train-001" and frame_of("train-001/00007") == 7


def test_expression_header_is_mapped_by_name_not_position(root: Path) -> None:
    path = root / EXPR / "Train_Set" / "train-002.txt"
    lines = path.read_text().splitlines()
    order = list(reversed(AFFWILD2_CLASSES))  # same classes, another order
    recoded = [",".join(order)] + [
        x if x == "-1" else str(order.index(AFFWILD2_CLASSES[int(x)])) for x in lines[1:]
    ]
    before = {r.source_id: r.expression for r in _read(root)[0]["train"]}
    path.write_text("\n".join(recoded) + "\n")
    after = {r.source_id: r.expression for r in _read(root)[0]["train"]}
    assert before == after


def test_invalid_values_are_missing_not_numbers(root: Path) -> None:
    path = root / VA / "Train_Set" / "train-001.txt"
    lines = path.read_text().splitlines()
    lines[2] = "-5," + lines[2].split(",")[1]  # valence not annotated on frame 2, arousal is
    lines[3] = "1.7,0.2"  # out of range
    lines[4] = "abc"
    path.write_text("\n".join(lines) + "\n")
    records, problems = _read(root)
    by_id = {r.source_id: r for r in records["train"]}
    rec = by_id["train-001/00002"]
    assert math.isnan(rec.valence) and not math.isnan(rec.arousal)
    assert problems.notes["valence_missing"].count >= 1
    assert problems.rejected["label_out_of_range"].count == 1 and problems.rejected["bad_label"].count == 1
    # frames 3 and 4 lost their VA line but keep their expression label
    assert math.isnan(by_id["train-001/00003"].valence) and by_id["train-001/00003"].expression >= 0


def test_mismatched_frame_counts_and_missing_frames(root: Path) -> None:
    folder = root / "cropped_aligned" / "train-001"
    (folder / "00003.jpg").unlink()  # no crop for an annotated frame (no face found there)
    shutil.copy(folder / "00001.jpg", folder / "00013.jpg")  # a frame after the last annotated line
    shutil.copy(folder / "00001.jpg", folder / "00014.jpg")
    records, problems = _read(root)
    ids = {r.source_id for r in records["train"]}
    assert "train-001/00003" not in ids and "train-001/00013" not in ids
    assert problems.rejected["no_frame_image"].count == 1
    assert problems.notes["frame_count_mismatch"].count == 1
    assert "2 frames after the 12 annotated" in problems.notes["frame_count_mismatch"].examples[0]


def test_missing_video_bad_header_and_unannotated_folder(root: Path) -> None:
    shutil.rmtree(root / "cropped_aligned" / "val-001")
    (root / VA / "Train_Set" / "train-002.txt").write_text("arousal,valence\n0.1,0.2\n")
    shutil.copytree(root / "cropped_aligned" / "train-001", root / "cropped_aligned" / "test-video")
    records, problems = _read(root)
    assert problems.rejected["missing_video"].count == 1 and records["val"] == []
    assert problems.rejected["bad_annotation"].count == 1
    # train-002 keeps its expression labels (its EXPR file is fine), without valence/arousal
    two = [r for r in records["train"] if r.source_id.startswith("train-002/")]
    assert two and all(math.isnan(r.valence) for r in two) and all(r.expression >= 0 for r in two)
    assert problems.notes["video_without_annotation"].count == 1
    with pytest.raises(AffectlabError, match="missing_video|bad_annotation"):
        _read(root, strict=True)


def test_to_affwild2_mapping_is_by_name() -> None:
    assert {AFFWILD2_CLASSES[v] for v in TO_AFFWILD2.values()} == set(AFFWILD2_CLASSES) - {"Other"}
    assert AFFWILD2_CLASSES[TO_AFFWILD2[1]] == "Happiness" and AFFWILD2_CLASSES[TO_AFFWILD2[6]] == "Anger"


def test_prepare_and_open_split(root: Path, tmp_path: Path) -> None:
    from affectlab.data import open_split, prepare

    store = prepare(root, tmp_path / "store", 32, workers=0)
    split = open_split(store, "val")
    assert len(split) == 10 and split.ids()[0] == "val-001/00001"
    batch = split.get_batch(np.arange(3))
    assert batch["image"].shape == (3, 32, 32, 3)
    raw = open_split(root, "val", 32, workers=0)
    assert raw.ids() == split.ids()
    assert np.array_equal(raw.get_batch(np.arange(3))["image"], batch["image"])
