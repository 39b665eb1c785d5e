"""The embedded AffectNet-shaped synthetic dataset: class counts, the public `generate`, and its record.

What a class looks like is `synth_classes`, how a face is drawn `synth_render`, where files go
`synth_layouts`, and the parallel rendering `synth_jobs`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from affectlab import __version__
from affectlab.data.synth_classes import CLASS_TEMPLATES, VA_POLAR, sample_va
from affectlab.data.synth_jobs import SPLIT_IDS, make_jobs, run_jobs
from affectlab.data.synth_layouts import MANIFEST_HEADER, MARKER, OFFICIAL_HEADER, ListWriters, prepare_out
from affectlab.data.synth_names import LAYOUTS
from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES
from affectlab.workers import refuse_worker_import

__all__ = [
    "AFFECTNET_TRAIN_COUNTS",
    "LAYOUTS",
    "MANIFEST_HEADER",
    "OFFICIAL_HEADER",
    "SYNTH_VERSION",
    "VA_POLAR",
    "generate",
    "sample_va",
    "train_class_counts",
    "val_class_counts",
]

log = logging.getLogger(__name__)

#: Bumped whenever the same seed would produce different bytes.
SYNTH_VERSION = 1
#: AffectNet's manually annotated training counts per class (287,651 in all), in AFFECTNET_CLASSES order.
AFFECTNET_TRAIN_COUNTS: tuple[int, ...] = (74874, 134415, 25459, 14090, 6378, 3803, 24882, 3750)


def train_class_counts(n: int, weights: Sequence[float] = AFFECTNET_TRAIN_COUNTS) -> np.ndarray:
    """Split `n` images over classes in proportion to `weights` (largest remainder; >= 1 each)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(AFFECTNET_CLASSES),) or (w < 0).any() or w.sum() <= 0:
        raise AffectlabError(
            f"class weights must be {len(AFFECTNET_CLASSES)} non-negative numbers "
            f"(not all zero), got {list(weights)}"
        )
    active = int((w > 0).sum())
    if n < active:
        raise AffectlabError(f"--train {n} is too small: every one of the {active} classes needs an image")
    quota = n * w / w.sum()
    counts = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    for k in np.flatnonzero((counts == 0) & (w > 0)):
        counts[np.argmax(counts)] -= 1
        counts[k] = 1
    return counts


def val_class_counts(m: int) -> np.ndarray:
    """Split `m` images evenly over the classes (the first m % C classes get one more), as AffectNet's val."""
    k = len(AFFECTNET_CLASSES)
    return np.array([m // k + (i < m % k) for i in range(k)], dtype=np.int64)


def _weights(class_counts: Mapping[str, float] | Sequence[float] | None) -> tuple[float, ...]:
    """Turn the user's class weights (by name or in class order) into a tuple in class order."""
    if class_counts is None:
        return tuple(float(c) for c in AFFECTNET_TRAIN_COUNTS)
    if isinstance(class_counts, Mapping):
        unknown = set(class_counts) - set(AFFECTNET_CLASSES)
        if unknown:
            raise AffectlabError(
                f"unknown class names in class_counts: {sorted(unknown)}; "
                f"expected some of {list(AFFECTNET_CLASSES)}"
            )
        return tuple(float(class_counts.get(name, 0.0)) for name in AFFECTNET_CLASSES)
    return tuple(float(c) for c in class_counts)


def _check_args(layout: str, size: int, train: int, val: int, seed: int, label_noise: float) -> None:
    """Refuse settings the generator cannot honour, naming the option."""
    if layout not in LAYOUTS:
        raise AffectlabError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if not 32 <= size <= 1024:
        raise AffectlabError(f"--size must be between 32 and 1024 pixels, got {size}")
    if train < 0 or val < 0 or seed < 0:
        raise AffectlabError(f"--train, --val and --seed must be >= 0, got {train}, {val}, {seed}")
    if not 0.0 <= label_noise < 1.0:
        raise AffectlabError(f"label_noise must be in [0, 1), got {label_noise}")


def _pool(workers: int | None, total: int) -> tuple[int, int]:
    """Worker processes (default: all cores up to 8, one for small sets) and images per chunk."""
    if workers is None:
        workers = 1 if total < 200 else min(os.cpu_count() or 1, 8)
    if workers < 1:
        raise AffectlabError(f"--workers must be >= 1, got {workers}")
    chunk = int(np.clip(total // (workers * 8) if workers > 1 else 256, 16, 256))
    return workers, chunk


class _RateColumn(ProgressColumn):
    """Images per second of a rich task."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0.0:7.0f} img/s", style="progress.data.speed")


def _progress_bar(progress: bool) -> Progress:
    """The synth progress bar (on stderr; disabled when `progress` is False)."""
    columns = [
        TextColumn("[bold]synth"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    from rich.console import Console

    # stderr: stdout is the caller's (a script printing results, a pipe)
    return Progress(*columns, console=Console(stderr=True), disable=not progress, transient=False)


def _render_all(
    jobs: list[dict[str, Any]], workers: int, lists: ListWriters, total: int, progress: bool
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Run every job, append its CSV rows; return the recorded-label counts and label flips per split."""
    recorded = {s: np.zeros(len(AFFECTNET_CLASSES), np.int64) for s in SPLIT_IDS}
    flips = dict.fromkeys(SPLIT_IDS, 0)
    with _progress_bar(progress) as bar:
        task = bar.add_task("synth", total=total)
        for split, rows, counts, flipped in run_jobs(jobs, workers):
            recorded[split] += counts
            flips[split] += flipped
            lists.write(split, rows)
            bar.advance(task, int(counts.sum()))
    return recorded, flips


def generate(
    out: str | Path,
    *,
    train: int = 10000,
    val: int = 1000,
    size: int = 112,
    layout: str = "repackaged",
    seed: int = 0,
    workers: int | None = None,
    class_counts: Mapping[str, float] | Sequence[float] | None = None,
    label_noise: float = 0.02,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Generate the synthetic AffectNet-shaped dataset in `layout` under `out` and return `out`."""
    refuse_worker_import("generate_synthetic")
    out = Path(out)
    _check_args(layout, size, train, val, seed, label_noise)
    weights = _weights(class_counts)
    plan = {
        "train": train_class_counts(train, weights) if train else np.zeros(8, np.int64),
        "val": val_class_counts(val),
    }
    total = train + val
    workers, chunk = _pool(workers, total)
    prepare_out(out, layout, overwrite)
    jobs = make_jobs(out, layout, seed, size, label_noise, plan, chunk)
    with contextlib.closing(ListWriters(out, layout)) as lists:
        started = time.perf_counter()
        recorded, flips = _render_all(jobs, workers, lists, total, progress)
    elapsed = time.perf_counter() - started
    log.info(
        "synth: wrote %d images (%s layout, %d px) in %.1f s (%.0f img/s, %d workers)",
        total,
        layout,
        size,
        elapsed,
        total / max(elapsed, 1e-9),
        workers,
    )
    settings = _settings_meta(layout=layout, size=size, seed=seed, label_noise=label_noise, weights=weights)
    _write_meta(out, settings, _split_meta(plan, recorded, flips))
    (out / MARKER).unlink()
    return out


def _settings_meta(
    *, layout: str, size: int, seed: int, label_noise: float, weights: Sequence[float]
) -> dict[str, Any]:
    """synth.json's settings part: generator, layout, size, seed, noise and class weights."""
    names = list(AFFECTNET_CLASSES)
    return {
        "generator": "affectlab.synth",
        "synth_version": SYNTH_VERSION,
        "affectlab_version": __version__,
        "layout": layout,
        "image_size": size,
        "seed": seed,
        "label_noise": label_noise,
        "class_names": names,
        "class_weights": dict(zip(names, weights, strict=True)),
    }


def _split_meta(
    plan: Mapping[str, np.ndarray], recorded: Mapping[str, np.ndarray], flips: Mapping[str, int]
) -> dict[str, Any]:
    """synth.json's per-split counts: rendered and labelled per class, label flips."""
    names = list(AFFECTNET_CLASSES)
    return {
        split: {
            "images": int(plan[split].sum()),
            "rendered_per_class": dict(zip(names, plan[split].tolist(), strict=True)),
            "labelled_per_class": dict(zip(names, recorded[split].tolist(), strict=True)),
            "label_flips": int(flips[split]),
        }
        for split in SPLIT_IDS
    }


def _write_meta(out: Path, settings: dict[str, Any], splits: dict[str, Any]) -> None:
    """Write OUT/synth.json (atomically): settings, per-split counts and the class distributions used."""
    names = list(AFFECTNET_CLASSES)
    meta = {
        **settings,
        "splits": splits,
        "va_polar": {
            n: dict(zip(("angle_deg", "angle_sd", "radius", "radius_sd"), p, strict=True))
            for n, p in zip(names, VA_POLAR, strict=True)
        },
        "expression_templates": dict(zip(names, CLASS_TEMPLATES, strict=True)),
    }
    tmp = out / "synth.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / "synth.json")
