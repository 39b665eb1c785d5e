"""The selection split: seeded, reproducible, disjoint by content/photo/video, stratified, recorded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from affectlab.data.selection import (
    SubsetSplit,
    draw_selection,
    group_samples,
    open_selection,
    save_selection,
)
from affectlab.errors import AffectlabError


class IdSplit:
    """A FaceSplit double with ids, images that can repeat, and labels."""

    def __init__(self, images: np.ndarray, expression: np.ndarray, ids: list[str]) -> None:
        self.images, self.expression, self._ids = images, expression, ids
        self.class_names = tuple(f"c{k}" for k in range(8))
        self.image_size = images.shape[1]
        self.crop_margin, self.align = 0.0, False

    def __len__(self) -> int:
        return len(self.images)

    def labels(self) -> dict[str, np.ndarray]:
        n = len(self)
        return {
            "expression": self.expression,
            "valence": np.zeros(n, np.float32),
            "arousal": np.zeros(n, np.float32),
        }

    def ids(self) -> list[str]:
        return self._ids

    def get_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        idx = np.asarray(indices)
        labels = self.labels()
        return {"image": self.images[idx], "index": idx, **{k: v[idx] for k, v in labels.items()}}


def _split(n: int = 400, seed: int = 0, ids: list[str] | None = None) -> IdSplit:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 255, size=(n, 8, 8, 3), dtype=np.uint8)
    expression = np.repeat(np.arange(8), n // 8)[:n]
    expression[: n // 2] = 0  # imbalanced: half of the samples are class 0
    return IdSplit(images, expression, ids or [f"img{k:04d}" for k in range(n)])


def test_disjoint_reproducible_and_seeded() -> None:
    split = _split()
    train_a, sel_a, rec = draw_selection(split, 0.1, seed=3)
    train_b, sel_b, _ = draw_selection(split, 0.1, seed=3)
    _, sel_c, _ = draw_selection(split, 0.1, seed=4)
    assert np.array_equal(sel_a, sel_b) and np.array_equal(train_a, train_b)
    assert not np.array_equal(sel_a, sel_c)
    assert not set(train_a) & set(sel_a) and len(train_a) + len(sel_a) == len(split)
    assert rec["num_samples"] == len(sel_a) == pytest.approx(40, abs=4)


def test_stratified_by_class() -> None:
    split = _split(800)
    _, sel, _ = draw_selection(split, 0.1, seed=0)
    counts = np.bincount(split.expression[sel], minlength=8)
    share = np.bincount(split.expression, minlength=8) * 0.1
    assert np.all(np.abs(counts - share) <= 1.5), (counts, share)


def test_identical_images_stay_on_one_side() -> None:
    split = _split(200)
    split.images[100:150] = split.images[0]  # 51 copies of one image, under different ids
    train, sel, _ = draw_selection(split, 0.2, seed=1)
    copies = set(range(100, 150)) | {0}
    assert copies <= set(train) or copies <= set(sel)
    assert group_samples(split)[100] == group_samples(split)[0]


def test_faces_of_one_photo_and_frames_of_one_video_stay_together() -> None:
    faces = [f"photo{k // 4}.jpg#{k % 4}" for k in range(200)]
    groups = group_samples(_split(200, ids=faces))
    assert len(set(groups)) == 50 and groups[0] == groups[3] != groups[4]
    frames = [f"video{k // 10}/{k % 10:05d}" for k in range(200)]
    assert len(set(group_samples(_split(200, ids=frames), layout="affwild2"))) == 20
    assert len(set(group_samples(_split(200, ids=frames), layout="repackaged"))) == 200  # no video layout
    by_subject = group_samples(
        _split(200, ids=[f"s{k % 7}_img{k}" for k in range(200)]), group_by=r"^(s\d+)_"
    )
    assert len(set(by_subject)) == 7
    train, sel, _ = draw_selection(_split(200, ids=frames), 0.2, seed=0, layout="affwild2")
    videos = lambda idx: {frames[i].split("/")[0] for i in idx}  # noqa: E731
    assert not videos(train) & videos(sel)


def test_recorded_and_reopened_by_id(tmp_path: Path) -> None:
    split = _split()
    _, sel, rec = draw_selection(split, 0.1, seed=0)
    save_selection(tmp_path / "selection.json", rec, split, sel)
    saved = json.loads((tmp_path / "selection.json").read_text())
    assert saved["ids"] == [split.ids()[i] for i in sel] and saved["seed"] == 0
    # the same samples in another order (another store prepared from the same ids): found by id
    order = np.random.default_rng(0).permutation(len(split))
    shuffled = IdSplit(split.images[order], split.expression[order], [split.ids()[i] for i in order])
    view = open_selection(tmp_path, shuffled)
    assert view.ids() == saved["ids"]
    assert np.array_equal(view.get_batch(np.arange(len(view)))["image"], split.images[sel])
    smaller = _split(100)
    smaller._ids = [f"other{k}" for k in range(100)]
    with pytest.raises(AffectlabError, match="not in this data"):
        open_selection(tmp_path, smaller)


def test_subset_split_is_a_split() -> None:
    split = _split(50)
    view = SubsetSplit(split, np.array([5, 7, 9]), "selection")
    batch = view.get_batch(np.array([0, 2]))
    assert np.array_equal(batch["index"], [0, 2]) and np.array_equal(batch["image"], split.images[[5, 9]])
    assert list(view.labels()["expression"]) == list(split.expression[[5, 7, 9]])
    with pytest.raises(AffectlabError, match="out of range"):
        view.get_batch(np.array([3]))


def test_a_split_too_small_to_hold_out_is_refused() -> None:
    with pytest.raises(AffectlabError, match="leaves a side empty"):
        draw_selection(_split(8), 0.05)
