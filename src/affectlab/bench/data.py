"""Data-path benchmarks: JPEG decoders, baseline loader vs affectlab's raw and store loaders, augmentation."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
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


def float_batches(loader: Iterable[dict[str, torch.Tensor]]) -> Iterator[torch.Tensor]:
    """The store loader's uint8 batches made into what the baseline delivers: normalised float32 NCHW."""
    from affectlab.data.transforms import prepare_batch

    for batch in loader:
        yield prepare_batch(batch["image"], MEAN, STD, None, channels_last=False)


def interleaved(runners: dict[str, Callable[[], dict[str, float]]], rounds: int) -> dict[str, dict[str, Any]]:
    """Run each timing in turn, `rounds` times (load from elsewhere hits all alike); keep the median round.

    Each result carries the 1-minute load average at the start and end of its rounds.
    """
    from affectlab.bench.machine import load_1min

    runs: dict[str, list[dict[str, float]]] = {name: [] for name in runners}
    loads: dict[str, list[float | None]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            loads[name].append(load_1min())
            runs[name].append(run())
            loads[name].append(load_1min())
    out: dict[str, dict[str, Any]] = {}
    for name, values in runs.items():
        ordered = sorted(values, key=lambda v: v["images_per_s"])
        median: dict[str, Any] = dict(ordered[len(ordered) // 2])
        median["rounds"] = [round(v["images_per_s"], 1) for v in values]
        median["load"] = [loads[name][0], loads[name][-1]]
        out[name] = median
    return out


def bench_reads(store: Path, batches: int, batch_size: int = BATCH, rounds: int = 3) -> dict[str, Any]:
    """The store's read path alone: earlier readers (benchmarks/store_readers.py) vs `StoreSplit`.

    Every round opens each reader afresh (a new memory map faults its pages in again, as in a new epoch)
    and reads `batches` batches of distinct samples: sorted random ones (a shuffled training epoch) and, as
    ``*_in_order``, consecutive ones (evaluation, the device-resident copy); images/s, median of the rounds.
    Every reader runs behind the same ``get_batch`` (index checks, label lookups): only the image reads
    differ. ``page_cache``: how the OS held the file (large folios or single pages), which moves every rate.
    """
    from affectlab.bench.machine import page_cache_folios
    from affectlab.data import open_split

    refs = load_benchmark("store_readers")
    split = open_split(store, "train")
    n = len(split)
    rng = np.random.default_rng(0)
    per_round = min(batches, max(1, n // batch_size))
    images_file = store / "train" / "images.npy"
    np.load(images_file, mmap_mode="r").sum()  # the file in the page cache for all
    page_cache = page_cache_folios(images_file)

    def timing(make: Callable[[], Any], in_order: bool = False) -> Callable[[], dict]:
        def run() -> dict[str, float]:
            order = np.arange(n) if in_order else rng.permutation(n)
            reader = make()
            started = time.perf_counter()
            for b in range(per_round):
                reader.get_batch(np.sort(order[b * batch_size : (b + 1) * batch_size]))
            seconds = time.perf_counter() - started
            if hasattr(reader, "close"):
                reader.close()
            images = per_round * min(batch_size, n)
            return {"images_per_s": images / seconds, "images": images, "seconds": seconds}

        return run

    def behind_get_batch(make: Callable[[], Any]) -> Callable[[], Any]:
        return lambda: refs.ThroughGetBatch(split, make())

    readers: dict[str, Callable[[], Any]] = {
        "per_image_loop": behind_get_batch(lambda: refs.PerImageReader(store)),
        "mmap_gather": behind_get_batch(lambda: refs.GatherReader(store)),
        "bounded_map": behind_get_batch(lambda: refs.BoundedMapReader(store)),
        "coalesced_reads": lambda: open_split(store, "train"),
    }
    runners = {name: timing(make) for name, make in readers.items()}
    runners.update({f"{name}_in_order": timing(make, in_order=True) for name, make in readers.items()})
    results = interleaved(runners, rounds)
    ratios = {}
    for suffix in ("", "_in_order"):
        ours = results[f"coalesced_reads{suffix}"]["images_per_s"]
        ratios[f"coalesced_vs_per_image{suffix}"] = ours / results[f"per_image_loop{suffix}"]["images_per_s"]
        ratios[f"coalesced_vs_mmap_gather{suffix}"] = ours / results[f"mmap_gather{suffix}"]["images_per_s"]
        ratios[f"coalesced_vs_bounded_map{suffix}"] = ours / results[f"bounded_map{suffix}"]["images_per_s"]
    return {
        "batch_size": batch_size,
        "image_size": split.image_size,
        "samples": n,
        "page_cache": page_cache,
        "readers": results,
        "ratios": ratios,
    }


def bench_data(
    raw: Path,
    store: Path,
    size: int,
    *,
    batches: int = 20,
    baseline_batches: int | None = None,
    workers: int = 2,
    rounds: int = 3,
) -> dict[str, Any]:
    """Loaders like for like (normalised float batches on the CPU) and uint8, read path, decoders, augment."""
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
    raw_split = open_split(raw, "train", size=size, check_images=False)
    store_split = open_split(store, "train", size=size)

    def base(w: int) -> Callable[[], dict[str, float]]:
        make = partial(baseline.baseline_loader, raw, size=size, batch_size=BATCH, num_workers=w)
        return partial(time_batches, make, nb, lambda b: len(b[0]), warmup=2 if w else 1)

    runners: dict[str, Callable[[], dict[str, float]]] = {
        "baseline": base(0),
        "affectlab_store_float": partial(
            time_batches, lambda: float_batches(affectlab_loader(store_split, 0)), batches, len
        ),
        "affectlab_store_uint8": partial(
            time_batches, lambda: affectlab_loader(store_split, 0), batches, lambda b: len(b["image"])
        ),
    }
    loaders = interleaved(runners, rounds)
    loaders.update(
        interleaved(
            {
                "baseline_workers": base(workers),
                "affectlab_raw": partial(
                    time_batches,
                    lambda: float_batches(affectlab_loader(raw_split, workers)),
                    nb,
                    len,
                    warmup=2,
                ),
            },
            1,
        )
    )
    for name, w in (("baseline", 0), ("baseline_workers", workers), ("affectlab_raw", workers)):
        loaders[name]["workers"] = w
    for name in ("affectlab_store_float", "affectlab_store_uint8"):
        loaders[name]["workers"] = 0
    results["loaders"] = loaders
    rate = {k: v["images_per_s"] for k, v in loaders.items()}
    results["ratios"] = {
        "store_float_vs_baseline": rate["affectlab_store_float"] / rate["baseline"],
        "store_float_vs_baseline_workers": rate["affectlab_store_float"] / rate["baseline_workers"],
        "store_uint8_vs_baseline": rate["affectlab_store_uint8"] / rate["baseline"],
        "raw_float_vs_baseline": rate["affectlab_raw"] / rate["baseline"],
    }
    results["reads"] = bench_reads(store, batches * 4, rounds=rounds)
    results["augment"] = bench_augment(store_split, batches)
    return results
