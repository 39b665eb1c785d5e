"""Video predict with tracking vs detection on every frame: frames/s, face recall and the time per stage.

Both runs go through the real ``predict`` path (:func:`affectlab.inference.runner.run_predict`: decode,
detect, track, crop, model, write a JSON Lines file) on the same clips, in turn, with the same ONNX model
and detector threads. Recall is measured two ways: against the clips' ground-truth boxes, and against what
per-frame detection found (a face counts when a row's box overlaps it with IoU >= 0.5).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: The speed-up asked of tracking over per-frame detection, at equal recall.
TRACKING_SPEEDUP = 3.0
#: Clip size: the shape of the recordings the issue measured (HD, two people).
CLIP_SIZE = (1280, 720)


def make_clips(folder: Path, frames: int, size: tuple[int, int] = CLIP_SIZE) -> dict[str, Any]:
    """An interview-like clip (two people, small movements) and a crossing (one hides the other)."""
    from affectlab.bench.clips import crossing, interview, write_clip

    w, h = size
    return {
        "interview": write_clip(folder / "interview.avi", interview(w, h), frames, size, fps=25.0),
        "crossing": write_clip(folder / "crossing.avi", crossing(w, h), frames, size, fps=25.0, scale=1.5),
    }


def _rows(path: Path) -> dict[int, list[dict[str, Any]]]:
    by_frame: dict[int, list[dict[str, Any]]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        by_frame.setdefault(int(row["frame"]), []).append(row)
    return by_frame


def _box(row: dict[str, Any]) -> tuple[float, float, float, float]:
    return (row["box_x"], row["box_y"], row["box_w"], row["box_h"])


def _matched(reference: list[tuple], rows: list[dict[str, Any]]) -> int:
    from affectlab.inference.tracking import iou

    return sum(any(iou(_box(r), ref) >= 0.5 for r in rows) for ref in reference)


def _run(onnx_path: Path, clip: Any, out: Path, tracked: bool, threads: int | None) -> dict[str, Any]:
    from affectlab.inference import Predictor, create_detector
    from affectlab.inference.runner import run_predict
    from affectlab.inference.tracking import TrackOptions

    detector = create_detector("retinaface", threads=threads)
    predictor = Predictor.from_onnx(
        onnx_path, detector=detector, threads=threads, tracking=TrackOptions() if tracked else None
    )
    predictor.predict_image(_first_frame(clip.path))  # warm-up: both ONNX Runtime sessions
    summary = run_predict(predictor, [clip.path], out=out)
    return {
        "seconds": summary.seconds,
        "frames": summary.frames,
        "faces": summary.faces,
        "stages": summary.stages,
    }


def _first_frame(path: Path) -> Any:
    from affectlab.preprocessing.video import iter_video

    return next(iter_video(path))[2]


def bench_clip(
    onnx_path: Path, clip: Any, folder: Path, *, repeats: int, threads: int | None
) -> dict[str, Any]:
    """Per-frame detection and tracking on one clip, alternated `repeats` times; the best run of each mode
    (its frames/s and time per stage) and the recall of the last."""
    runs: dict[str, list[dict[str, Any]]] = {"per_frame": [], "tracked": []}
    for _ in range(repeats):
        for mode in runs:
            out = folder / f"{clip.path.stem}-{mode}.jsonl"
            runs[mode].append(_run(onnx_path, clip, out, mode == "tracked", threads) | {"out": out})
    result: dict[str, Any] = {"clip": clip.path.name, "size": list(clip.size), "frames": len(clip.boxes)}
    truth = [list(b.values()) for b in clip.boxes]
    total = sum(len(t) for t in truth)
    reference = _rows(runs["per_frame"][-1]["out"])
    ref_boxes = [[_box(r) for r in reference.get(i, [])] for i in range(len(truth))]
    for mode, items in runs.items():
        best = min(items, key=lambda r: r["seconds"])
        rows = _rows(items[-1]["out"])
        frames = best["frames"]
        seconds = best["seconds"]  # best of the repeats: on shared cores the other jobs only ever add time
        found = sum(_matched(t, rows.get(i, [])) for i, t in enumerate(truth))
        agree = sum(_matched(r, rows.get(i, [])) for i, r in enumerate(ref_boxes))
        result[mode] = {
            "frames_per_s": frames / seconds,
            "faces": best["faces"],
            "recall_vs_truth": found / max(total, 1),
            "recall_vs_per_frame": agree / max(sum(len(r) for r in ref_boxes), 1),
            "ms_per_frame": {k: round(v * 1000 / frames, 2) for k, v in best["stages"].items()},
            "tracks": len({r["track"] for rs in rows.values() for r in rs if r.get("track") is not None}),
        }
    result["speedup"] = result["tracked"]["frames_per_s"] / result["per_frame"]["frames_per_s"]
    return result


def bench_tracking(
    onnx_path: Path, folder: Path, *, frames: int = 48, repeats: int = 3, threads: int | None = None
) -> dict[str, Any]:
    """The tracking benchmark on both clips (see the module docstring)."""
    from affectlab.bench.machine import load_1min

    folder.mkdir(parents=True, exist_ok=True)
    clips = make_clips(folder, frames)
    measured = []
    for clip in clips.values():
        load = [load_1min()]  # the machine's load beside every ratio (shared cores)
        measured.append(bench_clip(onnx_path, clip, folder, repeats=repeats, threads=threads))
        measured[-1]["load"] = [*load, load_1min()]
    return {"model": onnx_path.name, "threads": threads, "clips": measured}


def tracking_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue #14's target: tracking at least 3x per-frame detection's frames/s, at equal recall."""
    out = []
    for clip in results.get("video", {}).get("clips", []):
        equal = clip["tracked"]["recall_vs_truth"] >= clip["per_frame"]["recall_vs_truth"]
        out.append(
            {
                "target": f"video predict, tracking vs per-frame detection ({clip['clip']}), equal recall",
                "measured": clip["speedup"],
                "goal": f">= {TRACKING_SPEEDUP:g}x",
                "met": clip["speedup"] >= TRACKING_SPEEDUP and equal,
                "load": "-".join(f"{v:.1f}" for v in clip.get("load") or [] if v is not None),
                "issue": 14,
            }
        )
    return out


def tracking_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """Rows of the bench table: frames/s, recall and where the time goes, per clip and mode."""
    rows = []
    for clip in results.get("video", {}).get("clips", []):
        w, h = clip["size"]
        for mode in ("per_frame", "tracked"):
            r = clip[mode]
            split = ", ".join(f"{k} {v:.1f}" for k, v in r["ms_per_frame"].items())
            rows.append(
                (
                    "video",
                    f"{clip['clip']} {w}x{h} {mode.replace('_', '-')}: recall {r['recall_vs_truth']:.3f}",
                    f"{r['frames_per_s']:.1f} frames/s",
                    f"ms/frame: {split}",
                    f"{clip['speedup']:.2f}x" if mode == "tracked" else "",
                    "-".join(f"{v:.1f}" for v in clip.get("load") or [] if v is not None),
                )
            )
    return rows
