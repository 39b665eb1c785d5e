"""Training throughput: end-to-end from a prepared store (with augmentation) vs the model-only ceiling."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from affectlab.bench.data import AUGMENT, MEAN, STD, affectlab_loader

ARCHS: tuple[str, ...] = ("resnet18", "mobilenet_v2", "efficientnet_b1")


def _epochs(make: Callable[[], Any]) -> Iterator[dict[str, torch.Tensor]]:
    while True:
        yield from make()


class _TrainLoop:
    """One architecture's training step, fed end-to-end from a store or from one batch already in memory."""

    def __init__(self, arch: str, split: Any, batch_size: int, augment: bool, seed: int) -> None:
        from affectlab.data.transforms import BatchAugment, prepare_batch
        from affectlab.models import build_model
        from affectlab.training.config import LossConfig

        self.model = build_model(arch, num_classes=len(split.class_names)).to(
            memory_format=torch.channels_last
        )
        self.model.train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.loss_cfg = LossConfig()
        self.aug = BatchAugment(**AUGMENT, seed=seed) if augment else None  # type: ignore[arg-type]
        self.batches = _epochs(lambda: affectlab_loader(split, 0, batch_size, seed))
        self.fixed = next(self.batches)
        self.fixed_x = prepare_batch(self.fixed["image"], MEAN, STD, None, True)
        #: Seconds of the recorded end-to-end steps spent fetching, preparing and stepping.
        self.timings = {"fetch": 0.0, "prepare": 0.0, "step": 0.0}

    def step(self, x: torch.Tensor, batch: dict[str, torch.Tensor]) -> None:
        """Forward, losses, backward and one optimiser step."""
        from affectlab.training.module import compute_losses

        outputs = self.model(x)
        loss = compute_losses(outputs, batch, self.loss_cfg)["loss"]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def end_to_end(self, record: bool) -> int:
        """One step on the next batch from the store (augmented); return the batch size."""
        from affectlab.data.transforms import prepare_batch

        t0 = time.perf_counter()
        batch = next(self.batches)
        t1 = time.perf_counter()
        x = prepare_batch(batch["image"], MEAN, STD, self.aug, True)
        t2 = time.perf_counter()
        self.step(x, batch)
        if record:
            self.timings["fetch"] += t1 - t0
            self.timings["prepare"] += t2 - t1
            self.timings["step"] += time.perf_counter() - t2
        return int(x.shape[0])

    def ceiling(self) -> int:
        """One step on the batch already in memory (the model-only ceiling); return its size."""
        self.step(self.fixed_x, self.fixed)
        return int(self.fixed_x.shape[0])


def _alternate(loop: _TrainLoop, n: int) -> tuple[list[float], list[float], int]:
    """Time `n` end-to-end and `n` model-only steps after one warm-up of each; return both and the last size.

    Single steps alternate, so that load from elsewhere on the machine hits both alike.
    """
    loop.end_to_end(False)
    loop.ceiling()
    e2e_times: list[float] = []
    ceil_times: list[float] = []
    for _ in range(n):
        started = time.perf_counter()
        last = loop.end_to_end(True)
        e2e_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        loop.ceiling()
        ceil_times.append(time.perf_counter() - started)
    return e2e_times, ceil_times, last


def bench_train(
    arch: str,
    store: Path,
    *,
    batch_size: int = 32,
    steps: int = 4,
    rounds: int = 2,
    augment: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Images/s of the full training step from a store vs the same step on a batch already in memory."""
    from affectlab.data import open_split

    torch.manual_seed(seed)
    split = open_split(store, "train")
    loop = _TrainLoop(arch, split, batch_size, augment, seed)
    e2e_times, ceil_times, n = _alternate(loop, steps * rounds)
    timings = loop.timings
    e2e_s = sum(e2e_times)
    e2e_rate = n / statistics.median(e2e_times)
    ceil_rate = int(loop.fixed_x.shape[0]) / statistics.median(ceil_times)
    data_path = (timings["fetch"] + timings["prepare"]) / e2e_s
    return {
        "arch": arch,
        "size": split.image_size,
        "batch_size": batch_size,
        "steps": steps * rounds,
        "augment": augment,
        "end_to_end_images_per_s": e2e_rate,
        "model_only_images_per_s": ceil_rate,
        "ratio": e2e_rate / ceil_rate,
        "ratio_of_means": sum(ceil_times) / e2e_s,
        "share_of_end_to_end": {k: v / e2e_s for k, v in timings.items()},
        # What the data path (batch gather + on-device uint8->float, augmentation, normalisation) costs,
        # timed directly inside the end-to-end steps: robust to load that makes whole steps vary by +-20%.
        "data_path_share": data_path,
        "ratio_direct": 1.0 - data_path,
    }
