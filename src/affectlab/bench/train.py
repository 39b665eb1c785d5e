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
    from affectlab.data.transforms import BatchAugment, prepare_batch
    from affectlab.models import build_model
    from affectlab.training.config import LossConfig
    from affectlab.training.module import compute_losses

    torch.manual_seed(seed)
    split = open_split(store, "train")
    model = build_model(arch, num_classes=len(split.class_names)).to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_cfg = LossConfig()
    aug = BatchAugment(**AUGMENT, seed=seed) if augment else None  # type: ignore[arg-type]
    batches = _epochs(lambda: affectlab_loader(split, 0, batch_size, seed))
    fixed = next(batches)
    fixed_x = prepare_batch(fixed["image"], MEAN, STD, None, True)
    timings = {"fetch": 0.0, "prepare": 0.0, "step": 0.0}

    def step(x: torch.Tensor, batch: dict[str, torch.Tensor]) -> None:
        outputs = model(x)
        loss = compute_losses(outputs, batch, loss_cfg)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def end_to_end(record: bool) -> int:
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        x = prepare_batch(batch["image"], MEAN, STD, aug, True)
        t2 = time.perf_counter()
        step(x, batch)
        if record:
            timings["fetch"] += t1 - t0
            timings["prepare"] += t2 - t1
            timings["step"] += time.perf_counter() - t2
        return int(x.shape[0])

    def ceiling() -> int:
        step(fixed_x, fixed)
        return int(fixed_x.shape[0])

    end_to_end(False)
    ceiling()
    e2e_times: list[float] = []
    ceil_times: list[float] = []
    for _ in range(steps * rounds):  # alternate single steps so that load from elsewhere hits both alike
        started = time.perf_counter()
        n = end_to_end(True)
        e2e_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        ceiling()
        ceil_times.append(time.perf_counter() - started)
    e2e_s = sum(e2e_times)
    e2e_rate = n / statistics.median(e2e_times)
    ceil_rate = int(fixed_x.shape[0]) / statistics.median(ceil_times)
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
        "data_path_share": (timings["fetch"] + timings["prepare"]) / e2e_s,
        "ratio_direct": 1.0 - (timings["fetch"] + timings["prepare"]) / e2e_s,
    }
