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


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue that this run measured: name, measured value, target, met (bool)."""
    out: list[dict[str, Any]] = []
    data = results.get("data")
    if data:
        ratio = data["ratios"]["store_vs_baseline"]
        out.append(
            {
                "target": f"store loader vs baseline at {data['size']} px",
                "measured": ratio,
                "goal": f">= {STORE_SPEEDUP:g}x",
                "met": ratio >= STORE_SPEEDUP,
            }
        )
    for row in results.get("train", []):
        direct = row["ratio_direct"]
        out.append(
            {
                "target": f"train {row['arch']}: 1 - data-path share of end-to-end time",
                "measured": direct,
                "goal": f">= {TRAIN_RATIO:.2f}",
                "met": direct >= TRAIN_RATIO,
            }
        )
        out.append(
            {
                "target": f"train {row['arch']}: end-to-end / model-only (whole steps, noisy)",
                "measured": row["ratio"],
                "goal": f">= {TRAIN_RATIO:.2f}",
                "met": row["ratio"] >= TRAIN_RATIO,
            }
        )
    for row in results.get("infer", {}).get("archs", []):
        speedup = row["batch1_speedup"]["ort_tuned"]
        out.append(
            {
                "target": f"ORT vs eager batch 1 {row['arch']}",
                "measured": speedup,
                "goal": f">= {ORT_SPEEDUP:g}x",
                "met": speedup >= ORT_SPEEDUP,
            }
        )
    from affectlab.bench.video_track import tracking_targets

    out.extend(tracking_targets(results))
    memory = results.get("memory")
    if memory:
        growth = memory["rss_growth"]
        out.append(
            {
                "target": f"peak RSS {memory['small']['samples']:,} -> "
                f"{memory['large']['samples']:,} samples",
                "measured": growth,
                "goal": f"<= +{MEMORY_GROWTH:.0%}",
                "met": growth <= MEMORY_GROWTH,
            }
        )
        growth = memory["private_rss_growth"]
        out.append(
            {
                "target": "peak private (anonymous) RSS, same stores",
                "measured": growth,
                "goal": f"<= +{MEMORY_GROWTH:.0%}",
                "met": growth <= MEMORY_GROWTH,
            }
        )
    return out


def _rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(section, what, value, compared with, ratio) rows of the table."""
    rows: list[tuple[str, str, str, str, str]] = []
    data = results.get("data")
    if data:
        loaders, base = data["loaders"], data["loaders"]["baseline"]["images_per_s"]
        for name, label in (
            ("baseline", "baseline loader (PIL, 3x np.load, main process)"),
            ("baseline_workers", f"baseline loader, {data['workers']} workers"),
            ("affectlab_raw", f"affectlab raw layout, {data['workers']} workers"),
            ("affectlab_store", "affectlab prepared store (uint8 batches)"),
        ):
            rate = loaders[name]["images_per_s"]
            rows.append(
                (
                    "data",
                    f"{label}, {data['size']} px",
                    _fmt(rate, " img/s"),
                    "baseline" if name != "baseline" else "",
                    _fmt(rate / base, "x") if name != "baseline" else "",
                )
            )
        rows.append(
            (
                "data",
                "batch augmentation + normalise alone (CPU)",
                _fmt(data["augment"]["images_per_s"], " img/s"),
                "",
                "",
            )
        )
        dec = data["decoders"]
        for name, rate in dec["images_per_s"].items():
            pil = dec["images_per_s"]["pil"]
            rows.append(
                (
                    "decode",
                    f"JPEG decode {name} (1 thread)",
                    _fmt(rate, " img/s"),
                    "pil" if name != "pil" else "",
                    _fmt(rate / pil, "x") if name != "pil" else "",
                )
            )
    for row in results.get("train", []):
        rows.append(
            (
                "train",
                f"{row['arch']} {row['size']} px batch {row['batch_size']} end-to-end",
                _fmt(row["end_to_end_images_per_s"], " img/s"),
                f"model-only {_fmt(row['model_only_images_per_s'], ' img/s')}",
                _fmt(row["ratio"]),
            )
        )
        rows.append(
            (
                "train",
                f"{row['arch']} data path (gather, uint8->float, augment) share",
                f"{row['data_path_share']:.1%}",
                "of end-to-end time",
                _fmt(row["ratio_direct"]),
            )
        )
    infer = results.get("infer", {})
    for row in infer.get("archs", []):
        lat = row["batch1_latency_ms"]
        rows.append(
            (
                "infer",
                f"{row['arch']} {row['size']} px batch 1 ORT tuned (default)",
                f"{_fmt(lat['ort_tuned'], ' ms')} ({_fmt(lat['ort_default'], ' ms')})",
                f"eager {_fmt(lat['eager'], ' ms')}",
                _fmt(row["batch1_speedup"]["ort_tuned"], "x"),
            )
        )
        key = next(k for k in row if k.endswith("_images_per_s"))
        thr = row[key]
        rows.append(
            (
                "infer",
                f"{row['arch']} {key.split('_')[0]} ORT tuned",
                _fmt(thr["ort_tuned"], " img/s"),
                f"eager {_fmt(thr['eager'], ' img/s')}",
                _fmt(thr["ort_tuned"] / thr["eager"], "x"),
            )
        )
    video = infer.get("video")
    if video:
        rows.append(
            (
                "infer",
                f"predict video ({video['detector']} + ONNX), {video['frames']} frames",
                f"{_fmt(video['frames_per_s'])} frames/s",
                f"{_fmt(video['faces_per_s'])} faces/s",
                "",
            )
        )
    from affectlab.bench.video_track import tracking_rows

    rows.extend(tracking_rows(results))
    memory = results.get("memory")
    if memory:
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
        rows.append(
            (
                "memory",
                "growth large vs small",
                f"{memory['rss_growth']:+.1%} RSS",
                "",
                f"{memory['private_rss_growth']:+.1%} private",
            )
        )
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
