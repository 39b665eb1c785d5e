"""Taxonomies as data: every dataset's codes map to affectlab's classes by name; user label maps."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from affectlab.data import open_split, validate_dataset
from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES
from affectlab.taxonomy import BUILTIN, affectnet_taxonomy, load_taxonomy, taxonomy_from_dict

# The datasets' own documentation, typed in here by hand (not read from the taxonomy files under test).
DOCUMENTED = {
    "rafdb": {1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "anger", 7: "neutral"},
    "fer2013": {0: "anger", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"},
    "expw": {0: "anger", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"},
    "ferplus": {
        0: "neutral", 1: "happy", 2: "surprise", 3: "sad", 4: "anger", 5: "disgust", 6: "fear", 7: "contempt"
    },
}  # fmt: skip


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_taxonomies_match_the_datasets_documentation(name: str) -> None:
    taxonomy = load_taxonomy(name)
    assert {c.code: c.affectlab for c in taxonomy.classes} == DOCUMENTED[name]
    assert set(taxonomy.affectlab_classes) == set(DOCUMENTED[name].values())
    # affectlab order, never the dataset's order
    assert list(taxonomy.affectlab_classes) == [
        c for c in AFFECTNET_CLASSES if c in DOCUMENTED[name].values()
    ]


def test_ferplus_non_label_columns_skip_the_face() -> None:
    taxonomy = load_taxonomy("ferplus")
    unknown, nf = taxonomy.lookup(8), taxonomy.lookup(9)
    assert (unknown.name, unknown.effect, unknown.reason) == ("unknown", "skip", "label_unknown")
    assert (nf.name, nf.effect, nf.reason) == ("NF", "skip", "no_face")


def test_affectnet_taxonomy_is_affectlabs_own() -> None:
    taxonomy = affectnet_taxonomy()
    assert tuple(c.name for c in taxonomy.classes) == AFFECTNET_CLASSES
    assert taxonomy.lookup(10).effect == "skip" and taxonomy.lookup(8).effect == "missing"


def test_declared_maps_are_validated() -> None:
    with pytest.raises(AffectlabError, match="declared twice"):
        taxonomy_from_dict({"classes": [{"code": 1, "name": "happy"}, {"code": 1, "name": "sad"}]})
    with pytest.raises(AffectlabError, match="same affectlab class"):
        taxonomy_from_dict({"classes": [{"code": 1, "name": "happy"}, {"code": 2, "name": "joy"}]})
    with pytest.raises(AffectlabError, match="affectlab: <class>"):
        taxonomy_from_dict({"classes": [{"code": 1, "name": "elation"}]})
    with pytest.raises(AffectlabError, match="effect"):
        taxonomy_from_dict(
            {
                "classes": [{"code": 1, "name": "sad"}],
                "non_labels": [{"code": 2, "name": "x", "effect": "drop"}],
            }
        )
    with pytest.raises(AffectlabError, match="no such label-map"):
        load_taxonomy("/nonexistent/map.yaml")


USER_MAP = """
name: mylab
title: My lab's codes
classes:
  - {code: 10, name: joy}
  - {code: 11, name: elation, affectlab: surprise}
  - {code: 12, name: other, affectlab: null}
  - {code: 13, name: calm, affectlab: neutral}
non_labels:
  - {code: 99, name: blurry, effect: skip, reason: blurry}
"""


def _write_manifest(root: Path, rows: list[tuple[str, str]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, _ in enumerate(rows):
        Image.fromarray(np.full((16, 16, 3), 30 * i, np.uint8)).save(root / f"{i}.png")
    with (root / "train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "expression", "valence", "arousal"])
        writer.writerows([[f"{i}.png", code, value, ""] for i, (code, value) in enumerate(rows)])
    return root


def test_user_label_map_maps_codes_and_names_by_name(tmp_path: Path) -> None:
    (tmp_path / "map.yaml").write_text(USER_MAP)
    root = _write_manifest(
        tmp_path / "data",
        [("10", ""), ("11", ""), ("12", "0.5"), ("13", ""), ("joy", ""), ("99", ""), ("7", ""), ("12", "")],
    )
    report = validate_dataset(root, label_map=tmp_path / "map.yaml", workers=0)
    counts = report.counts["train"]
    assert counts["happy"] == 2 and counts["surprise"] == 1 and counts["neutral"] == 1
    assert counts["(no expression)"] == 1  # 'other' with a valence: kept, expression missing
    assert report.notes["expression_unmapped"].count == 1
    assert report.rejected["blurry"].count == 1  # a declared non-label that skips the item
    assert report.rejected["label_out_of_range"].count == 1  # code 7 is not a code of this map
    assert report.rejected["no_label"].count == 1  # 'other' without valence/arousal: nothing left
    assert report.label_map["title"] == "My lab's codes"
    split = open_split(root, "train", size=16, label_map=tmp_path / "map.yaml")
    assert split.labels()["expression"].tolist() == [1, 3, -1, 0, 1]
    assert split.dataset_classes == ("neutral", "happy", "surprise")
