"""Batch samplers and whole-batch datasets: one index array per batch, gathered in one call.

`BatchIndexSampler` yields sorted index arrays (sharded per rank for DDP); `BatchDataset` turns each
into a batch via `FaceSplit.get_batch` (use it with `DataLoader(..., batch_size=None)`);
`DeviceResidentSplit` holds a whole split (under DDP: one rank's shard) as uint8 on the training device and
`DeviceBatchLoader` gathers batches there (no host-to-device copy per step). The same code runs on the CPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


class FaceSplitLike(Protocol):
    """What the samplers need from `affectlab.data.FaceSplit`."""

    class_names: Any
    image_size: int

    def __len__(self) -> int: ...

    def get_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]: ...


def split_expressions(split: FaceSplitLike, chunk: int = 4096) -> np.ndarray:
    """Return the expression label (-1 missing) of every sample, from `labels()` when the split has it."""
    labels_fn = getattr(split, "labels", None)
    if callable(labels_fn):
        labels = labels_fn()
        if isinstance(labels, dict):
            labels = labels["expression"]
        return np.asarray(labels, dtype=np.int64)
    n = len(split)
    return np.concatenate(
        [split.get_batch(np.arange(i, min(i + chunk, n)))["expression"] for i in range(0, n, chunk)]
    ).astype(np.int64)


def balanced_weights(expressions: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-sample probabilities giving every present class equal mass (unlabelled samples get none)."""
    valid = expressions >= 0
    counts = np.bincount(expressions[valid], minlength=num_classes).astype(np.float64)
    per_class = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    w = np.zeros(len(expressions), dtype=np.float64)
    w[valid] = per_class[expressions[valid]]
    if w.sum() == 0:
        return np.full(len(expressions), 1.0 / max(len(expressions), 1))
    return w / w.sum()


class BatchIndexSampler(Sampler[np.ndarray]):
    """Yield one sorted int64 index array per batch: shuffled or weighted per epoch, sharded by rank."""

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        weights: np.ndarray | None = None,
        pad: bool | None = None,
        length: int | None = None,
    ) -> None:
        if num_items < 1 or batch_size < 1:
            raise ValueError(f"need num_items >= 1 and batch_size >= 1, got {num_items}, {batch_size}")
        if length is not None and (length < num_items or world_size != 1):
            raise ValueError(f"length must be >= num_items ({num_items}) on one rank, got {length}")
        self.num_items = num_items
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        # Training shards are padded so that every rank runs the same number of steps (DDP needs it);
        # evaluation shards are not, so every sample is counted exactly once.
        self.pad = shuffle if pad is None else pad
        #: Samples drawn per epoch when more than `num_items` (a rank's shard padded to the longest shard).
        self.length = length
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order is drawn next (called by Lightning each epoch)."""
        self.epoch = epoch

    def _per_rank(self) -> int:
        if self.length is not None:
            return self.length
        if self.pad:
            return -(-self.num_items // self.world_size)
        return len(range(self.rank, self.num_items, self.world_size))

    def __len__(self) -> int:
        n = self._per_rank()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def epoch_indices(self) -> np.ndarray:
        """All indices this rank visits this epoch, in order."""
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.weights is not None:
            order = rng.choice(self.num_items, size=self.num_items, replace=True, p=self.weights)
        elif self.shuffle:
            order = rng.permutation(self.num_items)
        else:
            order = np.arange(self.num_items)
        if self.length is not None:
            order = np.resize(order, self.length)
        if self.world_size > 1:
            if self.pad:
                total = self._per_rank() * self.world_size
                order = np.resize(order, total)
            order = order[self.rank :: self.world_size]
        return order.astype(np.int64)

    def __iter__(self) -> Iterator[np.ndarray]:
        order = self.epoch_indices()
        for b in range(len(self)):
            yield np.sort(order[b * self.batch_size : (b + 1) * self.batch_size])


class BatchDataset(Dataset):
    """Map an index array to a whole batch dict via `split.get_batch` (use with `batch_size=None`)."""

    def __init__(self, split: FaceSplitLike) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        batch = self.split.get_batch(np.asarray(indices, dtype=np.int64))
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items() if k in _KEYS}


_KEYS = ("image", "expression", "valence", "arousal", "index")


def shard_indices(n: int, rank: int = 0, world_size: int = 1) -> np.ndarray:
    """The samples rank `rank` of `world_size` holds: every world_size-th (class-sorted data stays mixed)."""
    return np.arange(rank, n, world_size, dtype=np.int64)


class DeviceResidentSplit:
    """A split (or one rank's shard of it) held as tensors on one device (images uint8 NHWC).

    Under DDP each rank holds only its shard (`shard_indices`): world_size ranks together hold the split once.
    The copy goes through two pinned host buffers on CUDA, so reading the next chunk from the store overlaps
    the non-blocking transfer of the previous one.
    """

    def __init__(
        self,
        split: FaceSplitLike,
        device: torch.device | str,
        chunk: int = 2048,
        *,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        device = torch.device(device)
        self.split_size = len(split)
        held = shard_indices(self.split_size, rank, world_size)
        self.class_names = split.class_names
        self.image_size = split.image_size
        self.device = device
        self.rank, self.world_size = rank, world_size
        #: Samples per rank in the largest shard: every rank draws this many per training epoch.
        self.longest_shard = -(-self.split_size // world_size)
        first = split.get_batch(held[:chunk])
        n = len(held)
        self.images = torch.empty((n, *first["image"].shape[1:]), dtype=torch.uint8, device=device)
        self.labels: dict[str, torch.Tensor] = {}
        for key in ("expression", "valence", "arousal"):
            dtype = torch.from_numpy(np.asarray(first[key][:0])).dtype
            self.labels[key] = torch.empty(n, dtype=dtype, device=device)
        self.global_index = torch.from_numpy(held).to(device)
        _copy_in(split, held, first, self, chunk)

    def __len__(self) -> int:
        return self.images.shape[0]

    def get_batch(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """Gather a batch on the device; `indices` (int64, same device) count within this rank's shard."""
        out = {
            "image": self.images.index_select(0, indices),
            "index": self.global_index.index_select(0, indices),
        }
        out.update({k: v.index_select(0, indices) for k, v in self.labels.items()})
        return out

    def expressions(self) -> np.ndarray:
        """Expression labels of the held samples as a numpy array (for class-balanced sampling)."""
        return self.labels["expression"].cpu().numpy()

    def sampler(
        self, batch_size: int, *, train: bool, seed: int = 0, weights: np.ndarray | None = None
    ) -> BatchIndexSampler:
        """Batches over the held samples: training draws `longest_shard` per epoch (equal steps on every
        rank); evaluation visits each held sample once."""
        length = self.longest_shard if train and self.longest_shard > len(self) else None
        per_rank = length or len(self)
        return BatchIndexSampler(
            len(self),
            batch_size,
            shuffle=train,
            drop_last=train and per_rank >= batch_size,
            seed=seed,
            weights=weights,
            pad=train,
            length=length,
        )


def _copy_in(
    split: FaceSplitLike,
    held: np.ndarray,
    first: dict[str, np.ndarray],
    data: DeviceResidentSplit,
    chunk: int,
) -> None:
    """Copy the held samples onto the device chunk by chunk (pinned, non-blocking on CUDA)."""
    pinned = data.device.type == "cuda"
    staging = [
        torch.empty((min(chunk, len(held)), *data.images.shape[1:]), dtype=torch.uint8, pin_memory=pinned)
        for _ in range(2 if pinned else 1)
    ]
    done: list[Any] = [None] * len(staging)
    # labels gathered on the host and copied once at the end: a copy from pageable memory would wait for
    # the image transfer just queued, and the next chunk's read from the store would no longer overlap it
    labels = {key: np.empty(len(held), dtype=np.asarray(first[key]).dtype) for key in data.labels}
    for k, start in enumerate(range(0, len(held), chunk)):
        stop = min(start + chunk, len(held))
        part = first if start == 0 else split.get_batch(held[start:stop])
        slot = k % len(staging)
        if done[slot] is not None:
            done[slot].synchronize()  # the transfer that last used this buffer has finished
        buffer = staging[slot][: stop - start]
        buffer.copy_(torch.from_numpy(np.ascontiguousarray(part["image"])))
        data.images[start:stop].copy_(buffer, non_blocking=pinned)
        if pinned:
            done[slot] = torch.cuda.Event()
            done[slot].record()
        for key in labels:
            labels[key][start:stop] = np.asarray(part[key])
    for key, values in labels.items():
        data.labels[key].copy_(torch.from_numpy(values))
    if pinned:
        torch.cuda.synchronize(data.device)


class DeviceBatchLoader:
    """Iterate device-resident batches: one index upload per epoch, then on-device gathers only."""

    def __init__(self, data: DeviceResidentSplit, sampler: BatchIndexSampler) -> None:
        self.data = data
        self.sampler = sampler  # Lightning calls `sampler.set_epoch` through this attribute
        self.batch_sampler = None  # like a DataLoader with batch_size=None: the sampler yields whole batches

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        batches = list(self.sampler)
        if not batches:
            return
        flat = torch.from_numpy(np.concatenate(batches))
        if self.data.device.type == "cuda":  # one upload per epoch, pinned and non-blocking
            flat = flat.pin_memory().to(self.data.device, non_blocking=True)
        else:
            flat = flat.to(self.data.device)
        start = 0
        for b in batches:
            yield self.data.get_batch(flat[start : start + len(b)])
            start += len(b)
