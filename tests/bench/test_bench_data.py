"""Data benchmarks on tiny inputs: the baseline loader's labels, decoders, loaders and augmentation rates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from affectlab.bench.data import (
    affectlab_loader,
    bench_augment,
    bench_data,
    bench_decoders,
    float_batches,
    load_baseline,
    time_batches,
)
from affectlab.data import open_split


def test_baseline_labels_match_open_split(tiny_raw: Path) -> None:
    baseline = load_baseline()
    dataset = baseline.BaselineDataset(tiny_raw, "train", size=32)
    split = open_split(tiny_raw, "train", size=32, check_images=False)
    by_id = {sid: i for i, sid in enumerate(split.ids())}
    assert sorted(by_id) == sorted(dataset.ids)
    ours = split.get_batch(np.array([by_id[sid] for sid in dataset.ids]))
    loader = baseline.baseline_loader(tiny_raw, size=32, batch_size=64, shuffle=False)
    images, expression, valence, arousal = next(iter(loader))
    assert images.shape == (len(dataset), 3, 32, 32) and images.dtype == torch.float32
    np.testing.assert_array_equal(expression.numpy(), ours["expression"])
    np.testing.assert_allclose(valence.numpy(), ours["valence"], atol=1e-6)
    np.testing.assert_allclose(arousal.numpy(), ours["arousal"], atol=1e-6)


def test_decoders_report_rates(tiny_raw: Path) -> None:
    files = sorted((tiny_raw / "train_set" / "images").glob("*.jpg"))[:4]
    result = bench_decoders(files, seconds=0.05)
    assert "pil" in result["images_per_s"]
    assert all(rate > 0 for rate in result["images_per_s"].values())
    assert result["fastest"] in result["images_per_s"]


def test_store_loader_batches_and_rate(tiny_store: Path) -> None:
    split = open_split(tiny_store, "train")
    batch = next(iter(affectlab_loader(split, 0, batch_size=16)))
    assert batch["image"].dtype == torch.uint8 and batch["image"].shape == (16, 32, 32, 3)
    rate = time_batches(lambda: affectlab_loader(split, 0, 16), 5, lambda b: len(b["image"]))
    assert rate["images"] == 80 and rate["images_per_s"] > 0
    assert bench_augment(split, 2, batch_size=8)["images_per_s"] > 0


@pytest.mark.slow
def test_bench_data_well_formed(tiny_raw: Path, tiny_store: Path) -> None:
    result = bench_data(tiny_raw, tiny_store, 32, batches=2, baseline_batches=1, workers=1, rounds=1)
    assert set(result["loaders"]) == {
        "baseline",
        "baseline_workers",
        "affectlab_raw",
        "affectlab_store_float",
        "affectlab_store_uint8",
    }
    assert all(v["images_per_s"] > 0 for v in result["loaders"].values())
    assert result["ratios"]["store_float_vs_baseline"] > 0
    names = {"per_image_loop", "mmap_gather", "bounded_map", "coalesced_reads"}
    assert set(result["reads"]["readers"]) == names | {f"{n}_in_order" for n in names}


def test_like_for_like_batches_match_the_baseline_form(tiny_raw: Path, tiny_store: Path) -> None:
    baseline = load_baseline()
    theirs = next(iter(baseline.baseline_loader(tiny_raw, size=32, batch_size=16)))[0]
    split = open_split(tiny_store, "train")
    ours = next(float_batches(affectlab_loader(split, 0, batch_size=16)))
    assert ours.dtype == theirs.dtype == torch.float32 and ours.shape == theirs.shape == (16, 3, 32, 32)
    assert ours.is_contiguous() and ours.device == theirs.device
    # the same normalisation: (x / 255 - mean) / std per channel, checked on one pixel by hand
    raw = torch.from_numpy(split.get_batch(np.arange(1))["image"][0, 0, 0]).float()
    mean, std = torch.tensor(baseline.IMAGENET_MEAN), torch.tensor(baseline.IMAGENET_STD)
    one = next(float_batches([{"image": torch.from_numpy(split.get_batch(np.arange(1))["image"])}]))
    torch.testing.assert_close(one[0, :, 0, 0], (raw / 255 - mean) / std)


def test_read_path_readers_agree(tiny_store: Path) -> None:
    from affectlab.bench.data import bench_reads, load_benchmark

    refs = load_benchmark("store_readers")
    idx = np.array([0, 3, 4, 5, 20, 47])
    ours = open_split(tiny_store, "train").get_batch(idx)["image"]
    bounded = refs.BoundedMapReader(tiny_store, budget_mib=0)
    for reader in (refs.PerImageReader(tiny_store), refs.GatherReader(tiny_store), bounded):
        np.testing.assert_array_equal(reader.read(idx), ours)
    # the map's pages count in the file-backed RSS until a drop (budget 0: every read drops them)
    assert bounded.drops == 1
    np.testing.assert_array_equal(bounded.read(idx), ours)
    assert bounded.drops == 2
    roomy = refs.BoundedMapReader(tiny_store, budget_mib=1 << 20)
    roomy.read(idx)
    assert roomy.drops == 0 and roomy._shared_pages() > roomy.base  # the pages read stay mapped
    roomy.close()
    for reader in (refs.PerImageReader(tiny_store), refs.GatherReader(tiny_store), bounded):
        reader.close()
    # behind the library's get_batch, every reader gives the library's whole batch: unsorted, repeated and
    # negative indices included
    split = open_split(tiny_store, "train")
    mixed = np.array([47, 3, -1, 3, 0, 20])
    want = split.get_batch(mixed)
    for make in (refs.PerImageReader, refs.GatherReader, refs.BoundedMapReader):
        wrapped = refs.ThroughGetBatch(split, make(tiny_store))
        got = wrapped.get_batch(mixed)
        assert got.keys() == want.keys() and len(wrapped) == len(split)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
        wrapped.close()
    result = bench_reads(tiny_store, batches=2, batch_size=8, rounds=1)
    assert all(r["images_per_s"] > 0 and len(r["load"]) == 2 for r in result["readers"].values())
    assert result["image_size"] == 32 and result["samples"] == len(open_split(tiny_store, "train"))
