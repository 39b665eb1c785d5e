"""StoreSplit's read path: coalesced positioned reads, checked against numpy's own reading of the file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import affectlab.data.splits as splits_mod
from affectlab.data.splits import StoreSplit
from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES

N, S = 40, 8


def _split(tmp_path: Path) -> StoreSplit:
    folder = tmp_path / "train"
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.save(folder / "images.npy", rng.integers(0, 256, (N, S, S, 3), dtype=np.uint8))
    labels = {
        "expression": rng.integers(0, 8, N).astype(np.int64),
        "valence": rng.uniform(-1, 1, N).astype(np.float32),
        "arousal": rng.uniform(-1, 1, N).astype(np.float32),
    }
    np.savez(folder / "labels.npz", **labels)  # type: ignore[arg-type]
    return StoreSplit(folder, AFFECTNET_CLASSES, S, 0.1, False)


def _count_reads(monkeypatch: pytest.MonkeyPatch, limit: int | None = None) -> list[int]:
    """Count os.preadv calls made by splits.py (optionally returning at most `limit` bytes per call)."""
    calls: list[int] = []
    real = os.preadv

    def preadv(fd: int, buffers: list, offset: int) -> int:
        calls.append(offset)
        if limit is not None:
            buffers = [memoryview(buffers[0])[:limit]]
        return real(fd, buffers, offset)

    monkeypatch.setattr(splits_mod.os, "preadv", preadv)
    return calls


@pytest.mark.parametrize(
    "indices",
    [
        [0, 1, 2, 3, 10, 11, 39],  # sorted runs
        [0, 5, 12, 38],  # no two adjacent: one read per sample (a shuffled batch)
        [39, 2, 20, 2],  # the same, unsorted, with a duplicate
        [5, 3, 3, 39, 0, 5, 12],  # unsorted with duplicates (sampling with replacement)
        list(range(N)),  # one run: the whole split
        [17],
        [-1, 0],  # negative indices count from the end
    ],
)
def test_reads_equal_numpy(tmp_path: Path, indices: list[int]) -> None:
    split = _split(tmp_path)
    reference = np.load(tmp_path / "train" / "images.npy")
    batch = split.get_batch(np.array(indices))
    np.testing.assert_array_equal(batch["image"], reference[np.array(indices)])
    np.testing.assert_array_equal(batch["index"], np.array(indices) % N)


def test_one_read_per_run_and_duplicates_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    split = _split(tmp_path)
    calls = _count_reads(monkeypatch)
    split.get_batch(np.array([0, 1, 2, 3, 10, 11, 39]))
    assert len(calls) == 3  # runs 0-3, 10-11, 39
    calls.clear()
    split.get_batch(np.array([11, 10, 10, 2, 3, 2]))
    assert len(calls) == 2  # unique samples 2-3 and 10-11
    calls.clear()
    split.get_batch(np.arange(N))
    assert len(calls) == 1
    calls.clear()
    split.get_batch(np.array([30, 4, 8, 4]))
    assert len(calls) == 3


def test_large_reads_that_come_back_in_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    split = _split(tmp_path)
    reference = np.load(tmp_path / "train" / "images.npy")
    calls = _count_reads(monkeypatch, limit=100)  # fewer bytes than one image per call
    np.testing.assert_array_equal(split.get_batch(np.arange(5, 9))["image"], reference[5:9])
    assert len(calls) == -(-4 * S * S * 3 // 100)
    calls.clear()  # the same when no two samples are adjacent (each sample its own read)
    np.testing.assert_array_equal(split.get_batch(np.array([9, 5, 7]))["image"], reference[[9, 5, 7]])
    assert len(calls) == 3 * -(-S * S * 3 // 100)


def test_truncated_store_names_the_sample(tmp_path: Path) -> None:
    split = _split(tmp_path)
    path = tmp_path / "train" / "images.npy"
    os.truncate(path, path.stat().st_size - 2 * S * S * 3 - 5)  # samples 37 (partly), 38, 39 gone
    split.get_batch(np.arange(0, 36))
    with pytest.raises(AffectlabError, match=r"short read at sample 37; re-run prepare"):
        split.get_batch(np.arange(30, 40))
    for lone in ([33, 37], [35, 39]):  # samples read one by one
        with pytest.raises(AffectlabError, match=rf"short read at sample {lone[1]}; re-run prepare"):
            split.get_batch(np.array(lone))


def test_indices_out_of_range_are_named_and_the_batch_index_is_its_own(tmp_path: Path) -> None:
    split = _split(tmp_path)
    for bad, shown in (([3, N], f"3..{N}"), ([-N - 1, 0], f"{-N - 1}..0")):
        with pytest.raises(AffectlabError, match=rf"index out of range for a split of {N} samples: {shown}$"):
            split.get_batch(np.array(bad))
    asked = np.array([2, -1, 5], dtype=np.int64)
    batch = split.get_batch(asked)
    assert batch["index"].tolist() == [2, N - 1, 5] and asked.tolist() == [2, -1, 5]  # caller's kept
    asked[0] = 7
    assert batch["index"][0] == 2
