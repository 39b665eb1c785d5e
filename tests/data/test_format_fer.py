"""FER2013 (pixels in a CSV) and FER+ (votes beside it): splits, label modes, soft labels and traps."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from affectlab.data import detect_layout, open_split, open_store, prepare, validate_dataset
from affectlab.data.readers.base import Rejected
from affectlab.data.readers.ferplus import winning_code
from affectlab.data.synth_formats import generate_format
from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES
from affectlab.preprocessing import load_face

FER_HEADER = ["emotion", "pixels", "Usage"]
PLUS_HEADER = [
    "Usage",
    "Image name",
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
]
PLUS_HEADER += ["contempt", "unknown", "NF"]


def _pixels(value: int) -> str:
    grid = (np.arange(48 * 48).reshape(48, 48) % 7 + value) % 256
    return " ".join(map(str, grid.reshape(-1).tolist()))


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_happy_in_the_file_arrives_as_affectlab_happy_and_usage_is_the_split(tmp_path: Path) -> None:
    # FER2013: 3 = Happy, 0 = Angry, 6 = Neutral (affectlab: happy 1, anger 6, neutral 0)
    rows = [[3, _pixels(10), "Training"], [0, _pixels(20), "Training"], [6, _pixels(30), "PublicTest"]]
    rows.append([3, _pixels(40), "PrivateTest"])
    csv_path = _write(tmp_path / "fer2013.csv", FER_HEADER, rows)
    assert detect_layout(tmp_path) == "fer2013" and detect_layout(csv_path) == "fer2013"
    train = open_split(tmp_path, "train", size=48)
    assert train.labels()["expression"].tolist() == [
        AFFECTNET_CLASSES.index("happy"),
        AFFECTNET_CLASSES.index("anger"),
    ]
    assert open_split(tmp_path, "public_test", size=48).labels()["expression"].tolist() == [0]
    private = open_split(csv_path, "private_test", size=48)
    assert private.labels()["expression"].tolist() == [1] and private.ids() == ["fer0000003"]
    # the pixels reach the model through affectlab.preprocessing, grey -> RGB, unchanged at 48 px
    face = train[0]["image"]
    expected = (np.arange(48 * 48).reshape(48, 48) % 7 + 10).astype(np.uint8)
    np.testing.assert_array_equal(face, np.repeat(expected[:, :, None], 3, axis=2))
    same, _, _ = load_face(expected, None, 48, 0.1)
    np.testing.assert_array_equal(face, same)


def test_fer2013_traps_are_counted_with_their_csv_line(tmp_path: Path) -> None:
    good = _pixels(5)
    rows = [
        [3, good, "Training"],
        [3, " ".join(good.split()[:-1]), "Training"],  # 2303 values
        [3, good + " 7", "Training"],  # 2305 values
        [3, good.replace("5", "300", 1), "Training"],  # a value > 255
        [3, good.replace("5", "x", 1), "Training"],  # not a number
        [3, good, "Validation"],  # not a Usage
        [7, good, "Training"],  # not a FER2013 code
    ]
    _write(tmp_path / "fer2013.csv", FER_HEADER, rows)
    report = validate_dataset(tmp_path, workers=0)
    bad = report.rejected["bad_pixels"]
    assert bad.count == 4 and bad.examples[0].startswith(f"{tmp_path / 'fer2013.csv'}:3: expected 2304")
    assert "found 2303" in bad.examples[0] and "found 2305" in bad.examples[1]
    assert report.rejected["bad_row"].count == 1 and report.rejected["label_out_of_range"].count == 1
    assert report.total("train") == 1 and report.notes["converted_to_rgb"].count == 1
    with pytest.raises(AffectlabError, match=r"fer2013.csv:3: expected 2304 pixel values"):
        validate_dataset(tmp_path, strict=True, workers=0)


def test_fer2013_duplicates_across_usages_are_reported_as_leakage(tmp_path: Path) -> None:
    _write(
        tmp_path / "fer2013.csv", FER_HEADER, [[3, _pixels(1), "Training"], [3, _pixels(1), "PrivateTest"]]
    )
    report = validate_dataset(tmp_path, workers=0)
    assert report.leakage.count == 1 and "fer2013.csv:3 (test) == " in report.leakage.examples[0]


@pytest.mark.parametrize(
    ("votes", "majority", "plurality", "probability"),
    [
        ([0, 10, 0, 0, 0, 0, 0, 0, 0, 0], 1, 1, 1),
        ([4, 6, 0, 0, 0, 0, 0, 0, 0, 0], 1, 1, 1),
        ([5, 5, 0, 0, 0, 0, 0, 0, 0, 0], "no_majority", "label_tie", 0),  # probability: first in file order
        ([4, 3, 3, 0, 0, 0, 0, 0, 0, 0], "no_majority", 0, 0),
        ([0, 0, 0, 0, 0, 0, 0, 0, 0, 10], 9, 9, 9),  # all NF: the taxonomy then skips it as no_face
        ([3, 0, 0, 0, 0, 0, 0, 0, 7, 0], 8, 8, 8),  # unknown wins
        ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "no_label", "no_label", "no_label"),
    ],
)
def test_ferplus_label_modes_by_hand(
    votes: list[int], majority: object, plurality: object, probability: object
) -> None:
    for mode, expected in (("majority", majority), ("plurality", plurality), ("probability", probability)):
        if isinstance(expected, str):
            with pytest.raises(Rejected) as info:
                winning_code(votes, mode, 8)
            assert info.value.reason == expected, mode
        else:
            assert winning_code(votes, mode, 8)[0] == expected, mode


def _ferplus(root: Path, votes: list[list[int]]) -> Path:
    _write(root / "fer2013.csv", FER_HEADER, [[3, _pixels(i), "Training"] for i in range(len(votes))])
    _write(
        root / "fer2013new.csv",
        PLUS_HEADER,
        [["Training", f"fer{i:07d}.png", *v] for i, v in enumerate(votes)],
    )
    return root


def test_ferplus_happiness_votes_arrive_as_happy_with_soft_labels(tmp_path: Path) -> None:
    votes = [
        [1, 9, 0, 0, 0, 0, 0, 0, 0, 0],  # happiness
        [0, 0, 0, 0, 0, 0, 0, 8, 2, 0],  # contempt
        [5, 5, 0, 0, 0, 0, 0, 0, 0, 0],  # tie
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # all NF (the trap)
        [2, 0, 4, 0, 0, 0, 0, 0, 0, 4],  # NF ties the best emotion: not a face in probability mode
    ]
    root = _ferplus(tmp_path, votes)
    assert detect_layout(root) == "ferplus"
    majority = validate_dataset(root, workers=0)
    assert majority.rejected["no_face"].count == 1 and majority.rejected["no_majority"].count == 2
    split = open_split(root, "train", size=48)
    assert [AFFECTNET_CLASSES[e] for e in split.labels()["expression"]] == ["happy", "contempt"]
    soft = split.labels()["expression_soft"]
    np.testing.assert_allclose(soft[0], [0.1, 0.9, 0, 0, 0, 0, 0, 0], atol=1e-7)
    np.testing.assert_allclose(soft[1], [0, 0, 0, 0, 0, 0, 0, 1.0], atol=1e-7)  # unknown votes are not mass
    prob = validate_dataset(root, workers=0, label_mode="probability")
    assert prob.total("train") == 3 and prob.notes["label_tie_broken"].count == 1
    assert prob.rejected["no_face"].count == 2
    seven = open_split(root, "train", size=48, num_classes=7)  # contempt dropped from the 7-class set
    assert seven.labels()["expression"].tolist() == [1]
    assert seven.labels()["expression_soft"].shape == (1, 7)


def test_ferplus_needs_the_two_files_to_pair_row_by_row(tmp_path: Path) -> None:
    root = _ferplus(tmp_path, [[0, 10, 0, 0, 0, 0, 0, 0, 0, 0]] * 2)
    _write(root / "fer2013.csv", FER_HEADER, [[3, _pixels(0), "Training"]])
    with pytest.raises(AffectlabError, match="more rows than fer2013.csv"):
        validate_dataset(root, workers=0)
    swapped = [PLUS_HEADER[0], PLUS_HEADER[1], PLUS_HEADER[3], PLUS_HEADER[2], *PLUS_HEADER[4:]]
    _write(root / "fer2013new.csv", swapped, [["Training", "a", 0, 10, 0, 0, 0, 0, 0, 0, 0, 0]])
    with pytest.raises(AffectlabError, match="vote columns are in the order"):
        validate_dataset(root, workers=0)


def test_generated_fer_fixtures_prepare_every_usage(tmp_path: Path) -> None:
    root = generate_format(tmp_path / "fer", "fer2013", per_split=6, traps=True)
    report = validate_dataset(root, workers=0)
    assert [report.total(s) for s in ("train", "val", "test")] == [6, 6, 6]
    assert report.rejected["bad_pixels"].count == 2
    store = open_store(prepare(root, tmp_path / "store", 48, workers=0, progress=False, num_classes=7))
    assert store.splits == ("train", "val", "test")
    assert len(store.split("private_test")) == 6
    plus = generate_format(tmp_path / "plus", "ferplus", per_split=10, traps=True)
    report = validate_dataset(plus, workers=0)
    assert report.rejected["no_face"].count == 3  # every tenth row is all-NF
    store = open_store(prepare(plus, tmp_path / "plus_store", 48, workers=0, progress=False))
    labels = store.split("train").labels()
    assert labels["expression_soft"].shape == (len(labels["expression"]), 8)
    np.testing.assert_allclose(labels["expression_soft"].sum(axis=1), 1.0, atol=1e-6)
