"""The LightningDataModule: whole-batch loading from a prepared store or raw layout, or from device memory."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader

from affectlab.data.sampling import (
    BatchDataset,
    BatchIndexSampler,
    DeviceBatchLoader,
    DeviceResidentSplit,
    FaceSplitLike,
    balanced_weights,
    split_expressions,
)
from affectlab.data.store import MANIFEST, is_store
from affectlab.errors import AffectlabError
from affectlab.io import file_sha256
from affectlab.training.config import TrainConfig

log = logging.getLogger(__name__)


def dataset_fingerprint(path: str | Path | None, splits: dict[str, FaceSplitLike]) -> dict[str, Any]:
    """Identify the training data: store manifest checksum or layout path, sizes and class names."""
    info: dict[str, Any] = {"sizes": {k: len(v) for k, v in splits.items()}}
    if path is None:
        info["source"] = "in-memory:" + type(next(iter(splits.values()))).__name__
    elif is_store(path):
        digest = file_sha256(Path(path) / MANIFEST)
        info.update(source="store", path=str(Path(path).resolve()), manifest_sha256=digest)
    else:
        info.update(source="layout", path=str(Path(path).resolve()))
    return info


def _cut(split: FaceSplitLike) -> tuple[int, float | None, bool | None]:
    """How a split's faces were cut: (side, margin, alignment)."""
    return int(split.image_size), getattr(split, "crop_margin", None), getattr(split, "align", None)


def split_preprocess(split: FaceSplitLike, mean: Any, std: Any) -> Any:
    """The Preprocess of a model trained on `split` (its side, margin and alignment, plus mean/std)."""
    from affectlab.preprocessing.spec import Preprocess

    size, margin, align = _cut(split)
    if margin is None or align is None:
        raise AffectlabError(
            f"{type(split).__name__} does not say how its faces were cut (crop_margin, align); give it "
            "those attributes (see affectlab.data.splits.FaceSplit) so the model can record them"
        )
    return Preprocess(size=size, mean=mean, std=std, crop_margin=margin, align=align)


class AffectDataModule(pl.LightningDataModule):
    """Train/val batches from `affectlab.data.open_split` (or given splits), gathered whole by index."""

    def __init__(
        self,
        cfg: TrainConfig,
        train_split: FaceSplitLike | None = None,
        val_split: FaceSplitLike | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.train_split = train_split
        self.val_split = val_split
        self._device_train: DeviceResidentSplit | None = None
        self._device_val: DeviceResidentSplit | None = None

    def open(self) -> None:
        """Open the splits (idempotent) and check that train and val agree on classes and size."""
        d = self.cfg.data
        if self.train_split is None or self.val_split is None:
            if d.path is None:
                raise AffectlabError("no training data: set data.path (or --data PATH)")
            if not Path(d.path).exists():
                raise AffectlabError(f"data path {d.path} does not exist")
            from affectlab.data import open_split

            crop = {"size": d.size, "margin": d.margin, "align": d.align, "num_classes": d.num_classes}
            if self.train_split is None:
                self.train_split = open_split(d.path, d.train_split, **crop)  # type: ignore[arg-type]
            if self.val_split is None:
                self.val_split = open_split(d.path, d.val_split, **crop)  # type: ignore[arg-type]
        train_cut = _cut(self.train_split)
        if train_cut != _cut(self.val_split):
            raise AffectlabError(
                f"train and val faces are cut differently (size, margin, align): {train_cut} vs "
                f"{_cut(self.val_split)}; a model must be validated on the pixels it trains on"
            )
        if list(self.train_split.class_names) != list(self.val_split.class_names):
            raise AffectlabError(
                f"train and val classes differ: {list(self.train_split.class_names)} vs "
                f"{list(self.val_split.class_names)}"
            )
        if len(self.train_split) == 0 or len(self.val_split) == 0:
            raise AffectlabError(
                f"empty split: train has {len(self.train_split)} samples, val has {len(self.val_split)}"
            )

    @property
    def class_names(self) -> list[str]:
        """Class names of the training split."""
        self.open()
        assert self.train_split is not None
        return list(self.train_split.class_names)

    def preprocess(self) -> Any:
        """The Preprocess that a model trained on these splits needs (see :func:`split_preprocess`)."""
        self.open()
        assert self.train_split is not None
        return split_preprocess(self.train_split, self.cfg.data.mean, self.cfg.data.std)

    @property
    def image_size(self) -> int:
        """Side of the (square) images the splits deliver."""
        self.open()
        assert self.train_split is not None
        return int(self.train_split.image_size)

    def fingerprint(self) -> dict[str, Any]:
        """See :func:`dataset_fingerprint`."""
        self.open()
        assert self.train_split is not None and self.val_split is not None
        return dataset_fingerprint(self.cfg.data.path, {"train": self.train_split, "val": self.val_split})

    def train_expressions(self) -> np.ndarray:
        """Expression labels of the training split."""
        self.open()
        if self._device_train is not None:
            return self._device_train.expressions()
        assert self.train_split is not None
        return split_expressions(self.train_split)

    # -- Lightning hooks ------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Open the splits; with `data.gpu_resident`, copy them onto the training device once."""
        self.open()
        if self.cfg.data.gpu_resident and self._device_train is None:
            device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
            assert self.train_split is not None and self.val_split is not None
            self._device_train = DeviceResidentSplit(self.train_split, device)
            self._device_val = DeviceResidentSplit(self.val_split, device)
            gib = (self._device_train.images.numel() + self._device_val.images.numel()) / 2**30
            log.info("data resident on %s: %.2f GiB of uint8 images", device, gib)

    def _rank_world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def _device_type(self) -> str:
        return self.trainer.strategy.root_device.type if self.trainer is not None else "cpu"

    def _num_workers(self) -> int:
        if self.cfg.data.num_workers is not None:
            return self.cfg.data.num_workers
        if self.cfg.data.path is None:
            return 0
        if is_store(self.cfg.data.path):
            # A store gathers a whole batch from a memory map: cheap; one worker overlaps it with GPU compute.
            return 1 if self._device_type() == "cuda" else 0
        return max(1, min(8, (os.cpu_count() or 2)))  # raw layouts decode per item: parallelise

    def _sampler(self, n: int, train: bool, weights: np.ndarray | None = None) -> BatchIndexSampler:
        rank, world = self._rank_world()
        d = self.cfg.data
        bs = d.batch_size if train else (d.val_batch_size or d.batch_size)
        per_rank = -(-n // world)
        return BatchIndexSampler(
            n,
            bs,
            shuffle=train,
            drop_last=train and per_rank >= bs,
            seed=self.cfg.seed,
            rank=rank,
            world_size=world,
            weights=weights,
            pad=train,
        )

    def _loader(self, split: FaceSplitLike, sampler: BatchIndexSampler) -> DataLoader:
        workers = self._num_workers()
        return DataLoader(
            BatchDataset(split),
            sampler=sampler,
            batch_size=None,
            num_workers=workers,
            pin_memory=self._device_type() == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
        )

    def train_dataloader(self) -> Any:
        """Shuffled (or class-balanced) training batches."""
        weights = None
        if self.cfg.data.sampling == "balanced":
            weights = balanced_weights(self.train_expressions(), len(self.class_names))
        if self._device_train is not None:
            return DeviceBatchLoader(
                self._device_train, self._sampler(len(self._device_train), True, weights)
            )
        assert self.train_split is not None
        return self._loader(self.train_split, self._sampler(len(self.train_split), True, weights))

    def val_dataloader(self) -> Any:
        """Validation batches in order, sharded without padding so every sample counts once."""
        if self._device_val is not None:
            return DeviceBatchLoader(self._device_val, self._sampler(len(self._device_val), False))
        assert self.val_split is not None
        return self._loader(self.val_split, self._sampler(len(self.val_split), False))
