"""Bench output: the ratio table (rich), the targets met or not, and the JSON file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

#: Issue #17's targets: loader like for like, end-to-end CPU training, ORT at batch 1, flat loader memory.
STORE_SPEEDUP = 5.0
READ_SPEEDUP = 1.0
TRAIN_RATIO = 0.95
ORT_SPEEDUP = 2.0
MEMORY_GROWTH = 0.10


def _fmt(value: float, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return f"{text}{unit}"


def _load(result: dict[str, Any]) -> str:
    """The 1-minute load average at the start and end of a measurement: '5.2-6.1'."""
    load = [v for v in result.get("load") or [] if v is not None]
    return "-".join(f"{v:.1f}" for v in (load[0], load[-1])) if load else ""


#: (section, measurement, value, compared with, ratio, load average during it)
Row = tuple[str, str, str, str, str, str]


def _goal(target: str, measured: float, goal: str, met: bool, load: str = "") -> dict[str, Any]:
    """One line of the targets table (these targets are issue #17's)."""
    return {"target": target, "measured": measured, "goal": goal, "met": met, "load": load, "issue": 17}


def _data_targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    loaders = data["loaders"]
    ratio = data["ratios"]["store_float_vs_baseline"]
    load = f"{_load(loaders['baseline'])} / {_load(loaders['affectlab_store_float'])}"
    out = [
        _goal(
            f"store loader vs baseline, both normalised float, {data['size']} px",
            ratio,
            f">= {STORE_SPEEDUP:g}x",
            ratio >= STORE_SPEEDUP,
            load,
        )
    ]
    if data.get("reads"):
        out += _read_targets(data["reads"])
    return out


def _read_targets(reads: dict[str, Any]) -> list[dict[str, Any]]:
    """The read path vs each earlier reader, shuffled and in order (the image size named when known)."""
    out = []
    size = f", {reads['image_size']} px" if reads.get("image_size") else ""
    if reads.get("page_cache"):
        size += f" (page cache {reads['page_cache']['large_folio_share']:.0%} in large folios)"
    for suffix, batches in (("", "shuffled batches"), ("_in_order", "batches in order")):
        for key, what in (("per_image", "per-image loop"), ("mmap_gather", "gather")):
            value = reads["ratios"].get(f"coalesced_vs_{key}{suffix}")
            if value is None:  # results written before in-order reads were measured
                continue
            target = f"store read path vs the earlier {what}, {batches}{size}"
            loaded = _load(reads["readers"][f"coalesced_reads{suffix}"])
            out.append(_goal(target, value, f"> {READ_SPEEDUP:g}x", value > READ_SPEEDUP, loaded))
    return out


def _train_targets(row: dict[str, Any]) -> list[dict[str, Any]]:
    goal, arch, load = f">= {TRAIN_RATIO:.2f}", row["arch"], _load(row)
    direct, whole = row["ratio_direct"], row["ratio"]
    return [
        _goal(
            f"train {arch}: 1 - data-path share of end-to-end time", direct, goal, direct >= TRAIN_RATIO, load
        ),
        _goal(
            f"train {arch}: end-to-end / model-only (whole steps, noisy)",
            whole,
            goal,
            whole >= TRAIN_RATIO,
            load,
        ),
    ]


def _infer_targets(row: dict[str, Any]) -> list[dict[str, Any]]:
    speedup = row["batch1_speedup"]["ort_tuned"]
    target = f"ORT vs eager batch 1 {row['arch']}, {row['ort_threads']} thread(s) each"
    return [_goal(target, speedup, f">= {ORT_SPEEDUP:g}x", speedup >= ORT_SPEEDUP, _load(row))]


def _memory_targets(memory: dict[str, Any]) -> list[dict[str, Any]]:
    goal = f"<= +{MEMORY_GROWTH:.0%}"
    private, file_backed = memory["private_rss_growth"], memory.get("file_rss_growth")
    stores = f"{memory['small']['samples']:,} -> {memory['large']['samples']:,} samples"
    out = [_goal(f"epoch peak private RSS, {stores}", private, goal, private <= MEMORY_GROWTH)]
    if file_backed is not None:
        out.append(
            _goal(f"epoch peak file-backed RSS, {stores}", file_backed, goal, file_backed <= MEMORY_GROWTH)
        )
    rss = memory["rss_growth"]
    out.append(_goal(f"whole-process peak RSS (VmHWM), {stores}", rss, goal, rss <= MEMORY_GROWTH))
    if memory.get("reads"):
        out += _read_targets(memory["reads"])
    return out


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


def _versus(
    section: str, what: str, result: dict[str, Any], name: str, reference: str, reference_rate: float
) -> Row:
    """A rate row compared with a reference rate (blank comparison on the reference's own row)."""
    rate, own = result["images_per_s"], name == reference
    return (
        section,
        what,
        _fmt(rate, " img/s"),
        "" if own else reference,
        "" if own else _fmt(rate / reference_rate, "x"),
        _load(result),
    )


def _read_rows(reads: dict[str, Any], section: str) -> list[Row]:
    """Each reader's rate, shuffled and in order, against the per-image loop."""
    rows: list[Row] = []
    readers = reads["readers"]
    size = f" at {reads['image_size']} px" if reads.get("image_size") else ""
    cache = reads.get("page_cache")
    if cache:  # what moves the rates below, the memory maps' most (see bench.machine.page_cache_folios)
        share = f"{cache['large_folio_share']:.0%} of {cache['pages_sampled']:,} sampled pages"
        rows.append((section, f"store file{size}: page cache in large folios", share, "", "", ""))
    for suffix, batches in (("", "shuffled"), ("_in_order", "in order")):
        if f"per_image_loop{suffix}" not in readers:
            continue
        ref_name = f"per_image_loop{suffix}"
        ref = readers[ref_name]["images_per_s"]
        for name, label in (
            ("per_image_loop", "one preadv per image (before)"),
            ("mmap_gather", "memory-map gather (earlier)"),
            ("bounded_map", "memory-map gather, residency bounded to 64 MiB (tried)"),
            ("coalesced_reads", "one preadv per run (now)"),
        ):
            if name + suffix in readers:  # results written before the bounded map was measured lack it
                text = f"store reads{size}, {batches}: {label}"
                rows.append(_versus(section, text, readers[name + suffix], name + suffix, ref_name, ref))
    return rows


def _data_rows(data: dict[str, Any]) -> list[Row]:
    """Loaders against the baseline (like for like, then uint8), the read path, augmentation, decoders."""
    loaders, workers, size = data["loaders"], data["workers"], data["size"]
    base = loaders["baseline"]["images_per_s"]
    labels = {
        "baseline": "baseline loader (PIL, Normalize, 3x np.load; float)",
        "baseline_workers": f"baseline loader, {workers} workers (float)",
        "affectlab_raw": f"affectlab raw layout, {workers} workers (float)",
        "affectlab_store_float": "affectlab store + normalise on the CPU (float)",
        "affectlab_store_uint8": "affectlab store, uint8 (what training consumes)",
    }
    rows = [
        _versus("data", f"{label}, {size} px", loaders[name], name, "baseline", base)
        for name, label in labels.items()
        if name in loaders
    ]
    if data.get("reads"):
        rows += _read_rows(data["reads"], "data")
    augment = data["augment"]
    rows.append(
        (
            "data",
            "batch augmentation + normalise alone (CPU)",
            _fmt(augment["images_per_s"], " img/s"),
            "",
            "",
            "",
        )
    )
    rates = data["decoders"]["images_per_s"]
    for name, rate in rates.items():
        result = {"images_per_s": rate}
        rows.append(_versus("decode", f"JPEG decode {name} (1 thread)", result, name, "pil", rates["pil"]))
    return rows


def _train_rows(row: dict[str, Any]) -> list[Row]:
    """End-to-end against model-only throughput, and the data path's share, for one architecture."""
    arch, load = row["arch"], _load(row)
    return [
        (
            "train",
            f"{arch} {row['size']} px batch {row['batch_size']} end-to-end",
            _fmt(row["end_to_end_images_per_s"], " img/s"),
            f"model-only {_fmt(row['model_only_images_per_s'], ' img/s')}",
            _fmt(row["ratio"]),
            load,
        ),
        (
            "train",
            f"{arch} data path (gather, uint8->float, augment) share",
            f"{row['data_path_share']:.1%}",
            "of end-to-end time",
            _fmt(row["ratio_direct"]),
            load,
        ),
    ]


def _settings_rows(row: dict[str, Any]) -> list[Row]:
    """The measurements behind two speed defaults: torch's NaN fill, and the thread count."""
    step, load = row["deterministic_step_s"], _load(row)
    same = "loss bit-identical" if row["loss_bit_identical"] else "loss differs"
    rows: list[Row] = [
        (
            "speed",
            f"{row['arch']} {row['size']} px step, deterministic, NaN fill on / off",
            f"{step['fill_on']:.2f} / {step['fill_off']:.2f} s",
            same,
            f"{row['fill_cost']:+.1%}",
            load,
        )
    ]
    by_threads = row["step_s_by_threads"]
    if len(by_threads) > 1:
        text = " / ".join(f"{v:.2f}" for v in by_threads.values())
        one, most = by_threads["1"], by_threads[str(row["physical_cores"])]
        rows.append(
            (
                "speed",
                f"same step at {' / '.join(by_threads)} threads",
                f"{text} s",
                "",
                _fmt(one / most, "x"),
                load,
            )
        )
    return rows


def _infer_rows(row: dict[str, Any]) -> list[Row]:
    """Batch-1 latency and large-batch throughput of ONNX Runtime against eager PyTorch."""
    lat, load = row["batch1_latency_ms"], _load(row)
    key = next(k for k in row if k.endswith("_images_per_s"))
    thr = row[key]
    return [
        (
            "infer",
            f"{row['arch']} {row['size']} px batch 1 ORT tuned (default)",
            f"{_fmt(lat['ort_tuned'], ' ms')} ({_fmt(lat['ort_default'], ' ms')})",
            f"eager {_fmt(lat['eager'], ' ms')}",
            _fmt(row["batch1_speedup"]["ort_tuned"], "x"),
            load,
        ),
        (
            "infer",
            f"{row['arch']} {key.split('_')[0]} ORT tuned",
            _fmt(thr["ort_tuned"], " img/s"),
            f"eager {_fmt(thr['eager'], ' img/s')}",
            _fmt(thr["ort_tuned"] / thr["eager"], "x"),
            load,
        ),
    ]


def _video_row(video: dict[str, Any]) -> Row:
    what = f"predict video ({video['detector']} + ONNX), {video['frames']} frames"
    fps, faces = _fmt(video["frames_per_s"]), _fmt(video["faces_per_s"])
    return ("infer", what, f"{fps} frames/s", f"{faces} faces/s", "", _load(video))


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
                "",
            )
        )
    growth = f"{memory['private_rss_growth']:+.1%} private"
    if memory.get("file_rss_growth") is not None:
        growth += f", {memory['file_rss_growth']:+.1%} file"
    rows.append(("memory", "growth large vs small", f"{memory['rss_growth']:+.1%} RSS", "", growth, ""))
    if memory.get("reads"):
        rows += _read_rows(memory["reads"], "memory")
    return rows


def _rows(results: dict[str, Any]) -> list[Row]:
    """(section, what, value, compared with, ratio, load) rows of the table."""
    rows: list[Row] = []
    if results.get("data"):
        rows += _data_rows(results["data"])
    for row in results.get("train", []):
        rows += _train_rows(row)
    if results.get("speed_settings"):
        rows += _settings_rows(results["speed_settings"])
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


def target_cells(goal: dict[str, Any], yes: str = "yes", no: str = "no") -> tuple[str, ...]:
    """One target as table cells: issue, target, measured (RSS growth as a percentage), goal, met, load."""
    measured = f"{goal['measured']:+.1%}" if "RSS" in goal["target"] else _fmt(goal["measured"])
    issue = f"#{goal['issue']}" if goal.get("issue") else ""
    return issue, goal["target"], measured, goal["goal"], yes if goal["met"] else no, goal.get("load", "")


def render(results: dict[str, Any], console: Console | None = None) -> None:
    """Print machine info, the ratio table and the targets table."""
    console = console or Console()
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    console.print(
        f"[bold]machine[/]: {m['cpu']}, {m['physical_cores']} physical / {m['logical_cores']} logical "
        f"cores, threads pinned to {results.get('threads', m['torch_threads'])} for every measurement, "
        f"load {m.get('load_average')} -> "
        f"{m.get('load_average_end')}; {versions}"
    )
    table = Table(title="affectlab bench", show_lines=False)
    for col in ("section", "measurement", "value", "compared with", "ratio", "load"):
        table.add_column(col, justify="right" if col in ("value", "ratio") else "left")
    for row in _rows(results):
        table.add_row(*row)
    console.print(table)
    goals = targets(results)
    if goals:
        tt = Table(title="targets")
        for col in ("issue", "target", "measured", "goal", "met", "load"):
            tt.add_column(col)
        for g in goals:
            tt.add_row(*target_cells(g, yes="[green]yes[/]", no="[red]no[/]"))
        console.print(tt)


def write_json(results: dict[str, Any], path: str | Path) -> Path:
    """Write the results (with the targets) as indented JSON."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(results, targets=targets(results))
    out.write_text(json.dumps(payload, indent=2, default=float) + "\n", encoding="utf-8")
    return out
