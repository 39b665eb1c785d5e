"""`affectlab bench`: build the inputs, run the selected benchmarks side by side, collect one result dict."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from affectlab.errors import AffectlabError

log = logging.getLogger(__name__)

SECTIONS: tuple[str, ...] = ("data", "train", "infer", "video", "memory")
#: Batches of 64 per round when the memory section times the read path on its large store.
MEMORY_READ_BATCHES = 1024


@dataclass
class BenchPlan:
    """Sizes and counts of one bench run (`quick` or full)."""

    size: int
    raw_images: int
    data_batches: int
    train_archs: tuple[str, ...]
    train_batch: int
    train_steps: int
    train_rounds: int
    infer_archs: tuple[str, ...]
    b1_runs: int
    b64_runs: int
    video_frames: int
    memory_size: int
    memory_small: int
    memory_large: int


def plan(quick: bool, size: int | None = None) -> BenchPlan:
    """The default plan: quick finishes in minutes on two cores; full uses 224 px and more repetitions."""
    from affectlab.bench.datasets import AFFECTNET_TRAIN
    from affectlab.bench.train import ARCHS

    if quick:
        return BenchPlan(size or 64, 384, 8, ARCHS, 32, 2, 2, ARCHS, 15, 2, 12, 16, 10_000, AFFECTNET_TRAIN)
    return BenchPlan(size or 224, 2048, 20, ARCHS, 32, 3, 3, ARCHS, 40, 4, 48, 24, 10_000, AFFECTNET_TRAIN)


def parse_only(only: str | None) -> tuple[str, ...]:
    """Turn `data,train` into the sections to run (all when None)."""
    if not only:
        return SECTIONS
    wanted = tuple(s.strip() for s in only.split(",") if s.strip())
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown or not wanted:
        raise AffectlabError(
            f"--only: unknown section(s) {unknown or only!r}; choose from {', '.join(SECTIONS)}"
        )
    return wanted


def _timed(name: str, fn: Callable[[], Any], timings: dict[str, float]) -> Any:
    started = time.perf_counter()
    log.info("bench: %s ...", name)
    try:
        return fn()
    finally:
        timings[name] = round(time.perf_counter() - started, 1)


def _apply_limits(p: BenchPlan, threads: int | None) -> int:
    """Refuse an image size outside 32..512; pin the threads of every measurement (default: physical cores).

    torch's intra-op threads, ONNX Runtime's sessions and the subprocesses (OMP_NUM_THREADS) all get the
    same count, so that no comparison sets one runtime's thread pool against another's.
    """
    import os

    from affectlab.threads import resolve_threads, set_torch_threads

    if not 32 <= p.size <= 512:
        raise AffectlabError(f"--size must be between 32 and 512 pixels, got {p.size}")
    pinned = resolve_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(pinned)
    return set_torch_threads(pinned)


@contextlib.contextmanager
def _workspace(workdir: str | Path | None) -> Iterator[Path]:
    """The folder for the inputs: `workdir` (kept), else a temporary one (removed afterwards)."""
    temp = None if workdir is not None else tempfile.TemporaryDirectory(prefix="affectlab-bench-")
    root = Path(workdir if workdir is not None else temp.name)  # type: ignore[union-attr]
    root.mkdir(parents=True, exist_ok=True)
    try:
        yield root
    finally:
        if temp is not None:
            temp.cleanup()


def _make_inputs(
    p: BenchPlan, root: Path, sections: tuple[str, ...], timings: dict[str, float]
) -> tuple[Path | None, Path | None, tuple[Path, Path] | None]:
    """The raw dataset and store (data, train) and the memory stores, as the sections need them."""
    from affectlab.bench import datasets

    raw = store = None
    if {"data", "train"} & set(sections):
        raw = _timed(
            "synth",
            partial(datasets.make_raw, root / f"raw-{p.size}", train=p.raw_images, size=p.size),
            timings,
        )
        store = _timed(
            "prepare", partial(datasets.make_store, raw, root / f"store-{p.size}", p.size), timings
        )
    mem_stores = (
        _timed("memory inputs", partial(_memory_inputs, p, root), timings) if "memory" in sections else None
    )
    return raw, store, mem_stores


def _run_sections(
    p: BenchPlan, root: Path, sections: tuple[str, ...], threads: int, timings: dict[str, float]
) -> dict[str, Any]:
    """Run the selected sections in order (data, train, infer, memory); return their results by name."""
    # Every input is generated first: the generator forks worker processes, and forking after torch or
    # ONNX Runtime have started their thread pools can deadlock the children.
    raw, store, mem_stores = _make_inputs(p, root, sections, timings)
    results: dict[str, Any] = {}
    if "data" in sections:
        from affectlab.bench.data import bench_data

        assert raw is not None and store is not None
        results["data"] = _timed(
            "data", partial(bench_data, raw, store, p.size, batches=p.data_batches), timings
        )
    if "train" in sections:
        from affectlab.bench.train import bench_train

        assert store is not None
        one = partial(
            bench_train, store=store, batch_size=p.train_batch, steps=p.train_steps, rounds=p.train_rounds
        )
        results["train"] = [_timed(f"train {arch}", partial(one, arch), timings) for arch in p.train_archs]
        from affectlab.bench.train import bench_speed_settings

        settings = partial(
            bench_speed_settings, store, batch_size=p.train_batch, steps=p.train_steps, threads=threads
        )
        results["speed_settings"] = _timed("speed settings", settings, timings)
    if "infer" in sections:
        results["infer"] = _timed("infer", partial(_infer, p, root, threads), timings)
    if "video" in sections:  # tracking vs per-frame detection: affectlab.bench.video_track
        results["video"] = _timed("video", partial(_video, p, root, threads), timings)
    if mem_stores is not None:
        from affectlab.bench.memory import compare_memory

        results["memory"] = _timed("memory", partial(compare_memory, *mem_stores), timings)
        from affectlab.bench.data import bench_reads

        # the read path again, on small images from the large store: where per-call costs show
        reads = partial(bench_reads, mem_stores[1], MEMORY_READ_BATCHES)
        results["memory"]["reads"] = _timed("memory reads", reads, timings)
    return results


def run_bench(
    *,
    quick: bool = False,
    size: int | None = None,
    only: str | None = None,
    workdir: str | Path | None = None,
    threads: int | None = None,
    bench_plan: BenchPlan | None = None,
) -> dict[str, Any]:
    """Run the selected benchmarks on the synthetic dataset: machine info, plan, results, timings."""
    from affectlab.bench.machine import machine_info

    sections = parse_only(only)
    p = bench_plan or plan(quick, size)
    pinned = _apply_limits(p, threads)
    timings: dict[str, float] = {}
    with _workspace(workdir) as root:
        results: dict[str, Any] = {
            "machine": machine_info(),
            "quick": quick,
            "plan": asdict(p),
            "sections": list(sections),
            "timings_s": timings,
            "threads": pinned,
        }
        results.update(_run_sections(p, root, sections, pinned, timings))
    results["machine"]["load_average_end"] = machine_info().get("load_average")
    return results


def _infer(p: BenchPlan, root: Path, threads: int) -> dict[str, Any]:
    from affectlab.bench.infer import bench_inference, bench_video, export_model, make_video

    folder = root / "infer"
    folder.mkdir(exist_ok=True)
    archs = [
        bench_inference(a, p.size, folder, b1_runs=p.b1_runs, b64_runs=p.b64_runs, threads=threads)
        for a in p.infer_archs
    ]
    _, onnx_path = export_model(p.infer_archs[0], p.size, folder)
    video = make_video(folder / "faces.avi", frames=p.video_frames)
    return {"archs": archs, "video": bench_video(onnx_path, video, threads=threads)}


def _video(p: BenchPlan, root: Path, threads: int | None = None) -> dict[str, Any]:
    from affectlab.bench.infer import export_model
    from affectlab.bench.video_track import bench_tracking

    folder = root / "infer"
    folder.mkdir(exist_ok=True)
    _, onnx_path = export_model(p.infer_archs[0], p.size, folder)
    return bench_tracking(onnx_path, root / "video", frames=4 * p.video_frames, threads=threads)


def _memory_inputs(p: BenchPlan, root: Path) -> tuple[Path, Path]:
    from affectlab.bench import datasets

    raw = datasets.make_raw(
        root / f"raw-mem-{p.memory_size}", train=min(1024, p.memory_small), size=p.memory_size
    )
    base = datasets.make_store(raw, root / f"store-mem-{p.memory_size}", p.memory_size)
    small = datasets.tile_store(base, root / f"mem-{p.memory_small}", p.memory_small)
    large = datasets.tile_store(base, root / f"mem-{p.memory_large}", p.memory_large)
    return small, large
