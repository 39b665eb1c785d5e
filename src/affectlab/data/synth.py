"""The embedded AffectNet-shaped synthetic dataset: class/VA sampling, layouts and parallel generation."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
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
from affectlab.data.synth_render import CLASS_TEMPLATES, degrade, encode_jpeg, expression_for, render
from affectlab.errors import AffectlabError
from affectlab.labels import AFFECTNET_CLASSES

log = logging.getLogger(__name__)

#: Bumped whenever the same seed would produce different bytes.
SYNTH_VERSION = 1
LAYOUTS: tuple[str, ...] = ("repackaged", "official", "folders", "manifest")
#: AffectNet's manually annotated training counts per class (287,651 in all), in AFFECTNET_CLASSES order.
AFFECTNET_TRAIN_COUNTS: tuple[int, ...] = (74874, 134415, 25459, 14090, 6378, 3803, 24882, 3750)
#: Circumplex VA per class, polar: (angle deg, angle sd, radius, radius sd); valence = r cos, arousal = r sin.
VA_POLAR: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 180.0, 0.0, 0.15),  # neutral: isotropic around (0, 0)
    (30.0, 18.0, 0.72, 0.20),  # happy: high valence, mid-high arousal
    (210.0, 18.0, 0.68, 0.18),  # sad: negative valence, low arousal
    (86.0, 15.0, 0.78, 0.15),  # surprise: ~0 valence, high arousal
    (118.0, 12.0, 0.82, 0.14),  # fear: negative valence, high arousal
    (150.0, 15.0, 0.70, 0.16),  # disgust: negative valence, mid arousal
    (138.0, 12.0, 0.80, 0.14),  # anger: negative valence, high arousal
    (160.0, 18.0, 0.42, 0.15),  # contempt: slightly negative valence, low-mid arousal
)
OFFICIAL_HEADER: tuple[str, ...] = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)
MANIFEST_HEADER: tuple[str, ...] = ("path", "expression", "valence", "arousal")
_SPLITS: dict[str, int] = {"train": 0, "val": 1}
_MARKER = ".synth-incomplete"


def sample_va(cls: int, rng: np.random.Generator) -> tuple[float, float]:
    """Draw (valence, arousal) for class `cls` from its circumplex distribution, clipped to [-1, 1]."""
    angle, angle_sd, radius, radius_sd = VA_POLAR[cls]
    theta = np.deg2rad(rng.uniform(-180.0, 180.0) if angle_sd >= 180.0 else rng.normal(angle, angle_sd))
    r = abs(rng.normal(radius, radius_sd))
    return float(np.clip(r * np.cos(theta), -1.0, 1.0)), float(np.clip(r * np.sin(theta), -1.0, 1.0))


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


def _image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of one image, fixed by (seed, split, index) whatever the worker or chunk."""
    return np.random.default_rng([seed, _SPLITS[split], 0, index])


def _official_name(seed: int, split: str, index: int) -> str:
    """AffectNet-style `subdir/<56 hex>.jpg` path for one image of the official layout."""
    digest = hashlib.sha224(f"affectlab-synth:{seed}:{split}:{index}".encode()).hexdigest()
    return f"{1 + int(digest[:8], 16) % 1000}/{digest}.jpg"


def _fmt(x: float) -> str:
    return f"{x:.6f}"


def _render_one(job: Mapping[str, Any], index: int, cls: int) -> tuple[list[str], int, bool]:
    """Render and write one image; return its CSV row (official/manifest layouts), label and flip flag."""
    out, layout, split, seed, size = Path(job["out"]), job["layout"], job["split"], job["seed"], job["size"]
    rng = _image_rng(seed, split, index)
    valence, arousal = sample_va(cls, rng)
    expr = expression_for(cls, valence, arousal, rng)
    if layout == "official":
        wid, hgt = (int(size * f) for f in rng.uniform(1.4, 2.6, 2))
        face = size * rng.uniform(0.85, 1.15)
        half = 0.6 * face
        center = (rng.uniform(half, wid - half), rng.uniform(half, hgt - half))
    else:
        wid = hgt = size
        face = size * rng.uniform(0.74, 0.9)
        center = (size / 2 + rng.normal(0, 0.04 * size), size / 2 + rng.normal(0, 0.04 * size))
    rendered = render(expr, rng, canvas=(wid, hgt), face_px=face, center=center)
    data = encode_jpeg(degrade(rendered.image, rng, face), int(rng.integers(60, 96)))
    flipped = bool(rng.random() < job["label_noise"])
    label = int((cls + rng.integers(1, len(AFFECTNET_CLASSES))) % len(AFFECTNET_CLASSES)) if flipped else cls
    val_s, aro_s = _fmt(valence), _fmt(arousal)
    lnd = ";".join(f"{v:.2f}" for v in rendered.landmarks.reshape(-1))
    row: list[str] = []
    if layout == "repackaged":
        base = out / f"{split}_set"
        (base / "images" / f"{index}.jpg").write_bytes(data)
        for suffix, text in (("exp", str(label)), ("val", val_s), ("aro", aro_s), ("lnd", lnd)):
            np.save(base / "annotations" / f"{index}_{suffix}.npy", np.array(text))
    elif layout == "official":
        rel = _official_name(seed, split, index)
        path = out / "Manually_Annotated_Images" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        row = [rel, *(str(b) for b in rendered.box), lnd, str(label), val_s, aro_s]
    elif layout == "folders":
        (out / split / AFFECTNET_CLASSES[label] / f"{index:06d}.jpg").write_bytes(data)
    else:
        rel = f"images/{split}/{index:06d}.jpg"
        (out / rel).write_bytes(data)
        row = [rel, str(label), val_s, aro_s]
    return row, label, flipped


def _render_chunk(job: Mapping[str, Any]) -> tuple[str, list[list[str]], np.ndarray, int]:
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


class _RateColumn(ProgressColumn):
    """Images per second of a rich task."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0.0:7.0f} img/s", style="progress.data.speed")


def _prepare_out(out: Path, layout: str, overwrite: bool) -> None:
    """Create the output skeleton; refuse to write into a non-empty folder unless it is ours and overwrite."""
    if out.exists() and any(out.iterdir()):
        ours = (out / "synth.json").exists() or (out / _MARKER).exists()
        if not (overwrite and ours):
            hint = "pass --overwrite to replace it" if ours else "choose an empty or new folder"
            raise AffectlabError(f"output folder {out} is not empty; {hint}")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).write_text("generation in progress or interrupted; re-run with --overwrite\n")
    for split in _SPLITS:
        if layout == "repackaged":
            for sub in ("images", "annotations"):
                (out / f"{split}_set" / sub).mkdir(parents=True, exist_ok=True)
        elif layout == "folders":
            for name in AFFECTNET_CLASSES:
                (out / split / name).mkdir(parents=True, exist_ok=True)
        elif layout == "manifest":
            (out / "images" / split).mkdir(parents=True, exist_ok=True)
        else:
            (out / "Manually_Annotated_file_lists").mkdir(parents=True, exist_ok=True)


def _jobs(
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
        classes = np.random.default_rng([seed, _SPLITS[split], 1, 0]).permutation(classes)
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


def _run(jobs: list[dict[str, Any]], workers: int) -> Iterator[tuple[str, list[list[str]], np.ndarray, int]]:
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
    out = Path(out)
    if layout not in LAYOUTS:
        raise AffectlabError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if not 32 <= size <= 1024:
        raise AffectlabError(f"--size must be between 32 and 1024 pixels, got {size}")
    if train < 0 or val < 0 or seed < 0:
        raise AffectlabError(f"--train, --val and --seed must be >= 0, got {train}, {val}, {seed}")
    if not 0.0 <= label_noise < 1.0:
        raise AffectlabError(f"label_noise must be in [0, 1), got {label_noise}")
    weights = _weights(class_counts)
    plan = {
        "train": train_class_counts(train, weights) if train else np.zeros(8, np.int64),
        "val": val_class_counts(val),
    }
    total = train + val
    if workers is None:
        workers = 1 if total < 200 else min(os.cpu_count() or 1, 8)
    if workers < 1:
        raise AffectlabError(f"--workers must be >= 1, got {workers}")
    chunk = int(np.clip(total // (workers * 8) if workers > 1 else 256, 16, 256))
    _prepare_out(out, layout, overwrite)
    jobs = _jobs(out, layout, seed, size, label_noise, plan, chunk)
    recorded = {s: np.zeros(len(AFFECTNET_CLASSES), np.int64) for s in _SPLITS}
    flips = dict.fromkeys(_SPLITS, 0)
    files: dict[str, Any] = {}
    writers: dict[str, Any] = {}
    if layout in ("official", "manifest"):
        names = (
            {
                "train": "Manually_Annotated_file_lists/training.csv",
                "val": "Manually_Annotated_file_lists/validation.csv",
            }
            if layout == "official"
            else {"train": "train.csv", "val": "val.csv"}
        )
        for split, name in names.items():
            files[split] = (out / name).open("w", newline="", encoding="utf-8")
            writers[split] = csv.writer(files[split], lineterminator="\n")
            writers[split].writerow(OFFICIAL_HEADER if layout == "official" else MANIFEST_HEADER)
    columns = [
        TextColumn("[bold]synth"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    started = time.perf_counter()
    try:
        with Progress(*columns, disable=not progress, transient=False) as bar:
            task = bar.add_task("synth", total=total)
            for split, rows, counts, flipped in _run(jobs, workers):
                recorded[split] += counts
                flips[split] += flipped
                if split in writers:
                    writers[split].writerows(rows)
                bar.advance(task, int(counts.sum()))
    finally:
        for handle in files.values():
            handle.close()
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
    _write_meta(
        out,
        layout=layout,
        size=size,
        seed=seed,
        label_noise=label_noise,
        weights=weights,
        plan=plan,
        recorded=recorded,
        flips=flips,
    )
    (out / _MARKER).unlink()
    return out


def _write_meta(
    out: Path,
    *,
    layout: str,
    size: int,
    seed: int,
    label_noise: float,
    weights: Sequence[float],
    plan: Mapping[str, np.ndarray],
    recorded: Mapping[str, np.ndarray],
    flips: Mapping[str, int],
) -> None:
    """Write OUT/synth.json (atomically): what was generated and with which knobs."""
    names = list(AFFECTNET_CLASSES)
    meta = {
        "generator": "affectlab.synth",
        "synth_version": SYNTH_VERSION,
        "affectlab_version": __version__,
        "layout": layout,
        "image_size": size,
        "seed": seed,
        "label_noise": label_noise,
        "class_names": names,
        "class_weights": dict(zip(names, weights, strict=True)),
        "splits": {
            split: {
                "images": int(plan[split].sum()),
                "rendered_per_class": dict(zip(names, plan[split].tolist(), strict=True)),
                "labelled_per_class": dict(zip(names, recorded[split].tolist(), strict=True)),
                "label_flips": int(flips[split]),
            }
            for split in _SPLITS
        },
        "va_polar": {
            n: dict(zip(("angle_deg", "angle_sd", "radius", "radius_sd"), p, strict=True))
            for n, p in zip(names, VA_POLAR, strict=True)
        },
        "expression_templates": dict(zip(names, CLASS_TEMPLATES, strict=True)),
    }
    tmp = out / "synth.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / "synth.json")
