"""Data-path benchmarks: JPEG decoders, baseline loader vs affectlab's raw and store loaders, augmentation."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from affectlab.errors import AffectlabError

BATCH = 64
#: The training recipe's augmentation (configs/default.yaml): what the training figure pays for.
AUGMENT = dict(
    crop_scale=(0.7, 1.0),
    crop_ratio=(0.9, 1.1),
    hflip=0.5,
    brightness=0.25,
    contrast=0.25,
    saturation=0.25,
    erasing=0.25,
    erasing_scale=(0.02, 0.15),
)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def benchmarks_dir() -> Path:
    """Return the repository's benchmarks/ folder (next to src/, or under the working directory)."""
    for candidate in (Path(__file__).resolve().parents[3] / "benchmarks", Path.cwd() / "benchmarks"):
        if (candidate / "baseline_loader.py").is_file():
            return candidate
    raise AffectlabError(
        "benchmarks/baseline_loader.py not found: run `affectlab bench` from a source checkout"
    )


def load_benchmark(stem: str) -> ModuleType:
    """Import benchmarks/<stem>.py (reference code that is not part of the library) as a module."""
    name = f"affectlab_bench_{stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, benchmarks_dir() / f"{stem}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_baseline() -> ModuleType:
    """Import benchmarks/baseline_loader.py (the original-study-style loader) as a module."""
    return load_benchmark("baseline_loader")


def bench_decoders(files: list[Path], seconds: float = 1.0) -> dict[str, Any]:
    """Decode the same JPEG bytes with every installed decoder (benchmarks/decoders.py), images/s each."""
    return dict(load_benchmark("decoders").bench_decoders(files, seconds))


def _cycle(make: Callable[[], Iterable[Any]]) -> Iterator[Any]:
    while True:
        yield from make()


def time_batches(
    make: Callable[[], Iterable[Any]], batches: int, count: Callable[[Any], int], warmup: int = 1
) -> dict[str, float]:
    """Time `batches` batches from a (re-created per epoch) iterable after `warmup` batches; images/s."""
    it = _cycle(make)
    for _ in range(warmup):
        next(it)
    images, started = 0, time.perf_counter()
    for _ in range(batches):
        images += count(next(it))
    seconds = time.perf_counter() - started
    del it
    return {"images_per_s": images / seconds, "images": images, "seconds": seconds}


def affectlab_loader(split: Any, workers: int, batch_size: int = BATCH, seed: int = 0) -> DataLoader:
    """The training path's loader: one sorted index array per batch, gathered whole by `get_batch`."""
    from affectlab.data.sampling import BatchDataset, BatchIndexSampler

    sampler = BatchIndexSampler(
        len(split), batch_size, shuffle=True, drop_last=len(split) >= batch_size, seed=seed
    )
    return DataLoader(
        BatchDataset(split),
        sampler=sampler,
        batch_size=None,
        num_workers=workers,
        persistent_workers=False,
        prefetch_factor=4 if workers > 0 else None,
    )


def bench_augment(split: Any, batches: int, batch_size: int = BATCH) -> dict[str, float]:
    """On-device (here: CPU) uint8 -> float, augmentation and normalisation on whole batches; images/s."""
    from affectlab.data.transforms import BatchAugment, prepare_batch

    augment = BatchAugment(**AUGMENT)  # type: ignore[arg-type]
    n = len(split)
    rng = np.random.default_rng(0)
    pool = [
        torch.from_numpy(split.get_batch(np.sort(rng.choice(n, min(batch_size, n), replace=False)))["image"])
        for _ in range(4)
    ]
    prepare_batch(pool[0], MEAN, STD, augment)
    images, started = 0, time.perf_counter()
    for i in range(batches):
        out = prepare_batch(pool[i % len(pool)], MEAN, STD, augment)
        images += out.shape[0]
    seconds = time.perf_counter() - started
    return {"images_per_s": images / seconds, "images": images, "seconds": seconds}


def bench_data(
    raw: Path,
    store: Path,
    size: int,
    *,
    batches: int = 20,
    baseline_batches: int | None = None,
    workers: int = 2,
) -> dict[str, Any]:
    """Baseline vs raw-layout vs store loaders (images/s of device-ready batches), decoders, augmentation."""
    from affectlab.data import open_split

    baseline = load_baseline()
    files = sorted((raw / "train_set" / "images").glob("*.jpg"))[:256]
    results: dict[str, Any] = {
        "size": size,
        "batch_size": BATCH,
        "workers": workers,
        "decoders": bench_decoders(files),
    }
    nb = baseline_batches or max(2, batches // 4)
    loaders: dict[str, dict[str, float]] = {}
    loaders["baseline"] = time_batches(
        lambda: baseline.baseline_loader(raw, size=size, batch_size=BATCH, num_workers=0),
        nb,
        lambda b: len(b[0]),
    )
    loaders["baseline_workers"] = time_batches(
        lambda: baseline.baseline_loader(raw, size=size, batch_size=BATCH, num_workers=workers),
        nb,
        lambda b: len(b[0]),
        warmup=2,
    )
    raw_split = open_split(raw, "train", size=size, check_images=False)
    loaders["affectlab_raw"] = time_batches(
        lambda: affectlab_loader(raw_split, workers), nb, lambda b: len(b["image"]), warmup=2
    )
    store_split = open_split(store, "train", size=size)
    loaders["affectlab_store"] = time_batches(
        lambda: affectlab_loader(store_split, 0), batches * 4, lambda b: len(b["image"])
    )
    loaders["baseline"]["workers"] = 0
    loaders["baseline_workers"]["workers"] = workers
    loaders["affectlab_raw"]["workers"] = workers
    loaders["affectlab_store"]["workers"] = 0
    results["loaders"] = loaders
    base = loaders["baseline"]["images_per_s"]
    results["ratios"] = {
        "store_vs_baseline": loaders["affectlab_store"]["images_per_s"] / base,
        "store_vs_baseline_workers": loaders["affectlab_store"]["images_per_s"]
        / loaders["baseline_workers"]["images_per_s"],
        "raw_vs_baseline": loaders["affectlab_raw"]["images_per_s"] / base,
    }
    results["augment"] = bench_augment(store_split, batches)
    return results
