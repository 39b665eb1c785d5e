"""Bench output: the ratio table (rich), the targets met or not, and the JSON file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

#: Issue #6 targets: (name, threshold, higher is better).
STORE_SPEEDUP = 10.0
TRAIN_RATIO = 0.90
ORT_SPEEDUP = 2.0
MEMORY_GROWTH = 0.10


def _fmt(value: float, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return f"{text}{unit}"


Row = tuple[str, str, str, str, str]


def _goal(target: str, measured: float, goal: str, met: bool) -> dict[str, Any]:
    """One line of the targets table."""
    return {"target": target, "measured": measured, "goal": goal, "met": met}


def _data_targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    ratio = data["ratios"]["store_vs_baseline"]
    target = f"store loader vs baseline at {data['size']} px"
    return [_goal(target, ratio, f">= {STORE_SPEEDUP:g}x", ratio >= STORE_SPEEDUP)]


def _train_targets(row: dict[str, Any]) -> list[dict[str, Any]]:
    goal, arch = f">= {TRAIN_RATIO:.2f}", row["arch"]
    direct, whole = row["ratio_direct"], row["ratio"]
    return [
        _goal(f"train {arch}: 1 - data-path share of end-to-end time", direct, goal, direct >= TRAIN_RATIO),
        _goal(
            f"train {arch}: end-to-end / model-only (whole steps, noisy)", whole, goal, whole >= TRAIN_RATIO
        ),
    ]


def _infer_targets(row: dict[str, Any]) -> list[dict[str, Any]]:
    speedup = row["batch1_speedup"]["ort_tuned"]
    target = f"ORT vs eager batch 1 {row['arch']}"
    return [_goal(target, speedup, f">= {ORT_SPEEDUP:g}x", speedup >= ORT_SPEEDUP)]


def _memory_targets(memory: dict[str, Any]) -> list[dict[str, Any]]:
    goal = f"<= +{MEMORY_GROWTH:.0%}"
    rss, private = memory["rss_growth"], memory["private_rss_growth"]
    stores = f"peak RSS {memory['small']['samples']:,} -> {memory['large']['samples']:,} samples"
    return [
        _goal(stores, rss, goal, rss <= MEMORY_GROWTH),
        _goal("peak private (anonymous) RSS, same stores", private, goal, private <= MEMORY_GROWTH),
    ]


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue that this run measured: name, measured value, target, met (bool)."""
    out: list[dict[str, Any]] = []
    if results.get("data"):
        out += _data_targets(results["data"])
    for row in results.get("train", []):
        out += _train_targets(row)
    for row in results.get("infer", {}).get("archs", []):
        out += _infer_targets(row)
    from affectlab.bench.video_track import tracking_targets

    out += tracking_targets(results)
    if results.get("memory"):
        out += _memory_targets(results["memory"])
    return out


def _versus(section: str, what: str, rate: float, name: str, reference: str, reference_rate: float) -> Row:
    """A rate row compared with a reference rate (blank comparison on the reference's own row)."""
    own = name == reference
    return (
        section,
        what,
        _fmt(rate, " img/s"),
        "" if own else reference,
        "" if own else _fmt(rate / reference_rate, "x"),
    )


def _data_rows(data: dict[str, Any]) -> list[Row]:
    """Loaders against the baseline, augmentation alone, JPEG decoders against Pillow."""
    loaders, base, workers = data["loaders"], data["loaders"]["baseline"]["images_per_s"], data["workers"]
    labels = {
        "baseline": "baseline loader (PIL, 3x np.load, main process)",
        "baseline_workers": f"baseline loader, {workers} workers",
        "affectlab_raw": f"affectlab raw layout, {workers} workers",
        "affectlab_store": "affectlab prepared store (uint8 batches)",
    }
    rows = [
        _versus("data", f"{label}, {data['size']} px", loaders[name]["images_per_s"], name, "baseline", base)
        for name, label in labels.items()
    ]
    augment = _fmt(data["augment"]["images_per_s"], " img/s")
    rows.append(("data", "batch augmentation + normalise alone (CPU)", augment, "", ""))
    rates = data["decoders"]["images_per_s"]
    for name, rate in rates.items():
        rows.append(_versus("decode", f"JPEG decode {name} (1 thread)", rate, name, "pil", rates["pil"]))
    return rows


def _train_rows(row: dict[str, Any]) -> list[Row]:
    """End-to-end against model-only throughput, and the data path's share, for one architecture."""
    arch = row["arch"]
    return [
        (
            "train",
            f"{arch} {row['size']} px batch {row['batch_size']} end-to-end",
            _fmt(row["end_to_end_images_per_s"], " img/s"),
            f"model-only {_fmt(row['model_only_images_per_s'], ' img/s')}",
            _fmt(row["ratio"]),
        ),
        (
            "train",
            f"{arch} data path (gather, uint8->float, augment) share",
            f"{row['data_path_share']:.1%}",
            "of end-to-end time",
            _fmt(row["ratio_direct"]),
        ),
    ]


def _infer_rows(row: dict[str, Any]) -> list[Row]:
    """Batch-1 latency and large-batch throughput of ONNX Runtime against eager PyTorch."""
    lat = row["batch1_latency_ms"]
    key = next(k for k in row if k.endswith("_images_per_s"))
    thr = row[key]
    return [
        (
            "infer",
            f"{row['arch']} {row['size']} px batch 1 ORT tuned (default)",
            f"{_fmt(lat['ort_tuned'], ' ms')} ({_fmt(lat['ort_default'], ' ms')})",
            f"eager {_fmt(lat['eager'], ' ms')}",
            _fmt(row["batch1_speedup"]["ort_tuned"], "x"),
        ),
        (
            "infer",
            f"{row['arch']} {key.split('_')[0]} ORT tuned",
            _fmt(thr["ort_tuned"], " img/s"),
            f"eager {_fmt(thr['eager'], ' img/s')}",
            _fmt(thr["ort_tuned"] / thr["eager"], "x"),
        ),
    ]


def _video_row(video: dict[str, Any]) -> Row:
    what = f"predict video ({video['detector']} + ONNX), {video['frames']} frames"
    return (
        "infer",
        what,
        f"{_fmt(video['frames_per_s'])} frames/s",
        f"{_fmt(video['faces_per_s'])} faces/s",
        "",
    )


def _memory_rows(memory: dict[str, Any]) -> list[Row]:
    """Peak memory of an epoch over the small and the large store, and the growth between them."""
    rows: list[Row] = []
    for key in ("small", "large"):
        m = memory[key]
        rows.append(
            (
                "memory",
                f"epoch over {m['samples']:,} samples at {m['image_size']} px",
                f"{_fmt(m['peak_rss_mib'], ' MiB')} peak RSS",
                f"private {_fmt(m['peak_private_rss_mib'], ' MiB')}, "
                f"file {_fmt(m['peak_file_backed_rss_mib'], ' MiB')}",
                "",
            )
        )
    growth = f"{memory['private_rss_growth']:+.1%} private"
    rows.append(("memory", "growth large vs small", f"{memory['rss_growth']:+.1%} RSS", "", growth))
    return rows


def _rows(results: dict[str, Any]) -> list[Row]:
    """(section, what, value, compared with, ratio) rows of the table."""
    rows: list[Row] = []
    if results.get("data"):
        rows += _data_rows(results["data"])
    for row in results.get("train", []):
        rows += _train_rows(row)
    infer = results.get("infer", {})
    for row in infer.get("archs", []):
        rows += _infer_rows(row)
    if infer.get("video"):
        rows.append(_video_row(infer["video"]))
    from affectlab.bench.video_track import tracking_rows

    rows += tracking_rows(results)
    if results.get("memory"):
        rows += _memory_rows(results["memory"])
    return rows


def render(results: dict[str, Any], console: Console | None = None) -> None:
    """Print machine info, the ratio table and the targets table."""
    console = console or Console()
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    console.print(
        f"[bold]machine[/]: {m['cpu']}, {m['physical_cores']} physical / {m['logical_cores']} logical "
        f"cores, torch threads {m['torch_threads']}, load {m.get('load_average')} -> "
        f"{m.get('load_average_end')}; {versions}"
    )
    table = Table(title="affectlab bench", show_lines=False)
    for col in ("section", "measurement", "value", "compared with", "ratio"):
        table.add_column(col, justify="right" if col in ("value", "ratio") else "left")
    for row in _rows(results):
        table.add_row(*row)
    console.print(table)
    goals = targets(results)
    if goals:
        tt = Table(title="targets (issue #6)")
        for col in ("target", "measured", "goal", "met"):
            tt.add_column(col)
        for g in goals:
            measured = f"{g['measured']:+.1%}" if "RSS" in g["target"] else _fmt(g["measured"])
            tt.add_row(g["target"], measured, g["goal"], "[green]yes[/]" if g["met"] else "[red]no[/]")
        console.print(tt)


def write_json(results: dict[str, Any], path: str | Path) -> Path:
    """Write the results (with the targets) as indented JSON."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(results, targets=targets(results))
    out.write_text(json.dumps(payload, indent=2, default=float) + "\n", encoding="utf-8")
    return out
