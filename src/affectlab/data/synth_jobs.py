"""Rendering the synthetic dataset in parallel: one image from its own random stream, chunks, the pool."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from affectlab.data.synth_classes import expression_for, sample_va
from affectlab.data.synth_layouts import ImageLabels, write_image
from affectlab.data.synth_render import degrade, encode_jpeg, render
from affectlab.labels import AFFECTNET_CLASSES

#: Split -> the number that separates its random streams from the other split's.
SPLIT_IDS: dict[str, int] = {"train": 0, "val": 1}
#: What a chunk returns: split, CSV rows, recorded-label counts, label flips.
ChunkResult = tuple[str, list[list[str]], np.ndarray, int]


def _image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of one image, fixed by (seed, split, index) whatever the worker or chunk."""
    return np.random.default_rng([seed, SPLIT_IDS[split], 0, index])


def _fmt(x: float) -> str:
    return f"{x:.6f}"


def _scene(layout: str, size: int, rng: np.random.Generator) -> tuple[int, int, float, tuple[float, float]]:
    """Canvas width and height, face size and face centre: a wider scene for the official layout's boxes."""
    if layout == "official":
        wid, hgt = (int(size * f) for f in rng.uniform(1.4, 2.6, 2))
        face = size * rng.uniform(0.85, 1.15)
        half = 0.6 * face
        return wid, hgt, face, (rng.uniform(half, wid - half), rng.uniform(half, hgt - half))
    face = size * rng.uniform(0.74, 0.9)
    return size, size, face, (size / 2 + rng.normal(0, 0.04 * size), size / 2 + rng.normal(0, 0.04 * size))


def _noisy_label(cls: int, label_noise: float, rng: np.random.Generator) -> tuple[int, bool]:
    """The recorded label: `cls`, or with probability `label_noise` one of the other classes."""
    flipped = bool(rng.random() < label_noise)
    label = int((cls + rng.integers(1, len(AFFECTNET_CLASSES))) % len(AFFECTNET_CLASSES)) if flipped else cls
    return label, flipped


def _render_one(job: Mapping[str, Any], index: int, cls: int) -> tuple[list[str], int, bool]:
    """Render and write one image; return its CSV row (official/manifest layouts), label and flip flag."""
    layout, split, seed, size = job["layout"], job["split"], job["seed"], job["size"]
    rng = _image_rng(seed, split, index)
    valence, arousal = sample_va(cls, rng)
    expr = expression_for(cls, valence, arousal, rng)
    wid, hgt, face, center = _scene(layout, size, rng)
    rendered = render(expr, rng, canvas=(wid, hgt), face_px=face, center=center)
    data = encode_jpeg(degrade(rendered.image, rng, face), int(rng.integers(60, 96)))
    label, flipped = _noisy_label(cls, job["label_noise"], rng)
    lnd = ";".join(f"{v:.2f}" for v in rendered.landmarks.reshape(-1))
    labels = ImageLabels(label, _fmt(valence), _fmt(arousal), lnd, rendered.box)
    return write_image(Path(job["out"]), layout, split, index, seed, data, labels), label, flipped


def _render_chunk(job: Mapping[str, Any]) -> ChunkResult:
    """Render a chunk of consecutive images; return split, rows, recorded-label counts and flips."""
    counts = np.zeros(len(AFFECTNET_CLASSES), np.int64)
    rows, flips = [], 0
    for offset, cls in enumerate(job["classes"]):
        row, label, flipped = _render_one(job, job["start"] + offset, int(cls))
        counts[label] += 1
        flips += flipped
        if row:
            rows.append(row)
    return job["split"], rows, counts, flips


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def make_jobs(
    out: Path,
    layout: str,
    seed: int,
    size: int,
    label_noise: float,
    plan: Mapping[str, np.ndarray],
    chunk: int,
) -> list[dict[str, Any]]:
    """Cut each split's shuffled class sequence into chunks of consecutive indices."""
    jobs = []
    for split, counts in plan.items():
        classes = np.repeat(np.arange(len(counts)), counts)
        classes = np.random.default_rng([seed, SPLIT_IDS[split], 1, 0]).permutation(classes)
        for start in range(0, len(classes), chunk):
            part = classes[start : start + chunk].tolist()
            jobs.append(
                dict(
                    out=str(out),
                    layout=layout,
                    split=split,
                    seed=seed,
                    size=size,
                    label_noise=label_noise,
                    start=start,
                    classes=part,
                )
            )
    return jobs


def run_jobs(jobs: list[dict[str, Any]], workers: int) -> Iterator[ChunkResult]:
    """Run chunks in order, in-process for one worker or on a process pool (fork where available)."""
    if workers <= 1:
        _init_worker()
        yield from map(_render_chunk, jobs)
        return
    # fork starts fast and works from scripts without a __main__ guard, but forking a process that has
    # loaded torch (and its thread pools) can deadlock the children: spawn then.
    can_fork = "fork" in multiprocessing.get_all_start_methods() and "torch" not in sys.modules
    method = "fork" if can_fork else "spawn"
    with multiprocessing.get_context(method).Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap(_render_chunk, jobs)
