"""Batch samplers, whole-batch datasets and the device-resident (GPU) path, exercised on CPU."""

from __future__ import annotations

import numpy as np
import torch

from affectlab.data.sampling import (
    BatchDataset,
    BatchIndexSampler,
    DeviceBatchLoader,
    DeviceResidentSplit,
    balanced_weights,
    split_expressions,
)


def test_sampler_covers_each_index_once_per_epoch() -> None:
    s = BatchIndexSampler(100, 16, shuffle=True, seed=1)
    batches = list(s)
    assert len(batches) == len(s) == 7
    assert sorted(np.concatenate(batches).tolist()) == list(range(100))
    assert all((np.diff(b) >= 0).all() for b in batches)  # sorted for memory-map locality


def test_sampler_order_depends_on_seed_and_epoch_only() -> None:
    a, b = BatchIndexSampler(50, 8, seed=3), BatchIndexSampler(50, 8, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    first = np.concatenate(list(a))
    a.set_epoch(1)
    assert not np.array_equal(first, np.concatenate(list(a)))


def test_sampler_drop_last() -> None:
    s = BatchIndexSampler(100, 16, drop_last=True)
    assert len(s) == 6 and all(len(b) == 16 for b in s)


def test_ddp_shards_train_padded_val_exact() -> None:
    train = [BatchIndexSampler(101, 8, seed=0, rank=r, world_size=2) for r in range(2)]
    assert len(train[0]) == len(train[1])
    seen = np.concatenate([np.concatenate(list(s)) for s in train])
    assert set(seen.tolist()) == set(range(101))
    val = [BatchIndexSampler(101, 8, shuffle=False, rank=r, world_size=2) for r in range(2)]
    got = np.sort(np.concatenate([np.concatenate(list(s)) for s in val]))
    assert np.array_equal(got, np.arange(101))


def test_balanced_weights_equalise_classes() -> None:
    expr = np.array([0] * 90 + [1] * 9 + [2] * 1 + [-1] * 5)
    w = balanced_weights(expr, 3)
    assert np.isclose(w.sum(), 1.0) and (w[expr == -1] == 0).all()
    s = BatchIndexSampler(len(expr), 64, seed=0, weights=w)
    draws = []
    for epoch in range(40):
        s.set_epoch(epoch)
        draws.extend(list(s))
    drawn = expr[np.concatenate(draws)]
    counts = np.bincount(drawn, minlength=3) / len(drawn)
    assert np.allclose(counts, 1 / 3, atol=0.05)


def test_batch_dataset_returns_whole_batches(split_factory) -> None:
    split = split_factory(20, 32)
    ds = BatchDataset(split)
    loader = torch.utils.data.DataLoader(ds, sampler=BatchIndexSampler(20, 8, seed=0), batch_size=None)
    batches = list(loader)
    assert [b["image"].shape[0] for b in batches] == [8, 8, 4]
    assert batches[0]["image"].dtype == torch.uint8 and batches[0]["image"].shape[1:] == (32, 32, 3)
    assert torch.equal(
        batches[0]["expression"], torch.from_numpy(split.expression[batches[0]["index"].numpy()])
    )


def test_split_expressions_with_and_without_labels_method(split_factory) -> None:
    split = split_factory(30, 32)
    assert np.array_equal(split_expressions(split), split.expression)

    class NoLabels:
        class_names, image_size = split.class_names, 32

        def __len__(self) -> int:
            return len(split)

        def get_batch(self, idx: np.ndarray) -> dict:
            return split.get_batch(idx)

    assert np.array_equal(split_expressions(NoLabels(), chunk=7), split.expression)


def test_device_resident_split_on_cpu_matches_source(split_factory) -> None:
    split = split_factory(50, 32, missing=0.2)
    res = DeviceResidentSplit(split, "cpu", chunk=16)
    assert res.images.shape == (50, 32, 32, 3) and res.images.dtype == torch.uint8
    idx = torch.tensor([3, 7, 49])
    batch = res.get_batch(idx)
    ref = split.get_batch(idx.numpy())
    assert np.array_equal(batch["image"].numpy(), ref["image"])
    assert np.array_equal(batch["expression"].numpy(), ref["expression"])
    assert np.array_equal(batch["valence"].numpy(), ref["valence"], equal_nan=True)
    assert np.array_equal(res.expressions(), split.expression)


def test_device_batch_loader_follows_sampler_and_epoch(split_factory) -> None:
    split = split_factory(40, 32)
    res = DeviceResidentSplit(split, torch.device("cpu"))
    sampler = BatchIndexSampler(40, 16, seed=5)
    loader = DeviceBatchLoader(res, sampler)
    got = [b["index"] for b in loader]
    assert len(got) == len(loader) == 3
    assert all(
        np.array_equal(g.numpy(), s) for g, s in zip(got, BatchIndexSampler(40, 16, seed=5), strict=True)
    )
    loader.sampler.set_epoch(1)
    assert not torch.equal(torch.cat([b["index"] for b in loader]), torch.cat(got))


def test_device_resident_shards_hold_the_split_once(split_factory) -> None:
    split = split_factory(10, 8, missing=0.2)
    shards = [DeviceResidentSplit(split, "cpu", chunk=3, rank=r, world_size=3) for r in range(3)]
    assert [len(s) for s in shards] == [4, 3, 3]  # each rank holds only its shard, chunks of 3
    held = torch.cat([s.global_index for s in shards]).sort().values
    assert torch.equal(held, torch.arange(10))
    for shard in shards:
        batch = shard.get_batch(torch.arange(len(shard)))
        ref = split.get_batch(batch["index"].numpy())
        assert np.array_equal(batch["image"].numpy(), ref["image"])
        assert np.array_equal(batch["arousal"].numpy(), ref["arousal"], equal_nan=True)
        assert np.array_equal(shard.expressions(), ref["expression"])


def test_shard_samplers_give_every_rank_the_same_steps(split_factory) -> None:
    split = split_factory(10, 8)
    shards = [DeviceResidentSplit(split, "cpu", rank=r, world_size=3) for r in range(3)]
    train = [s.sampler(2, train=True, seed=1) for s in shards]
    assert [len(t) for t in train] == [2, 2, 2]  # 4 samples per rank (the longest shard), batches of 2
    for shard, sampler in zip(shards, train, strict=True):
        drawn = np.concatenate(list(sampler))
        assert set(drawn) == set(range(len(shard)))  # local indices; the short shards repeat one
    val = [np.concatenate(list(s.sampler(3, train=False))) for s in shards]
    globals_ = np.concatenate([s.global_index.numpy()[v] for s, v in zip(shards, val, strict=True)])
    assert sorted(globals_.tolist()) == list(range(10))  # evaluation: every sample exactly once
