"""`affectlab predict`: a thin layer over `affectlab.inference` (make_predictor, run_predict, run_webcam)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from affectlab.errors import AffectlabError
from affectlab.inference.results import error_text

ModelArg = Annotated[Path, typer.Argument(help="a training run folder, a model.safetensors or an .onnx file")]
InputsArg = Annotated[
    list[Path] | None, typer.Argument(help="image files, folders (recursive) and videos (mp4/avi/mov/mkv)")
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="results file: .jsonl (one object per face) or .csv; - writes JSON Lines to stdout "
        "(default: a table of the faces on the terminal)",
    ),
]
AnnotateOpt = Annotated[
    Path | None, typer.Option("--annotate", help="folder for annotated images/videos and video timelines")
]
DetectOpt = Annotated[
    bool,
    typer.Option(
        "--detect/--no-detect", help="find faces (default), or treat each image as one already-cropped face"
    ),
]
DetectorOpt = Annotated[str, typer.Option("--detector", help="face detector: retinaface, yunet, none")]
DetectorModelOpt = Annotated[
    Path | None, typer.Option("--detector-model", help="detector model file (else built-in or cached)")
]
ThresholdOpt = Annotated[
    float | None, typer.Option("--threshold", help="detector score threshold (retinaface 0.9, yunet 0.8)")
]
MaxSideOpt = Annotated[
    int | None, typer.Option("--max-side", help="detector input: images larger than this are shrunk (960)")
]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="faces per model call")]
StrideOpt = Annotated[int, typer.Option("--stride", help="use every N-th video frame")]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu or cuda")]
ThreadsOpt = Annotated[
    int | None,
    typer.Option("--threads", help="CPU threads of the model and the detector (default: physical cores)"),
]
TrackOpt = Annotated[
    bool, typer.Option("--track/--no-track", help="follow faces in videos and webcams with track ids")
]
DetectEveryOpt = Annotated[
    int, typer.Option("--detect-every", help="tracking: full-frame detection every N frames (10)")
]
FollowEveryOpt = Annotated[
    int,
    typer.Option(
        "--follow-every",
        help="tracking: re-detect each face in its window every N frames, carried between (2)",
    ),
]
SmoothOpt = Annotated[
    float | None,
    typer.Option("--smooth", help="per-track smoothing, time constant in frames (e.g. 5; lag about N-0.5)"),
]
WebcamOpt = Annotated[
    int | None, typer.Option("--webcam", help="live camera index, shown in a window (q quits)")
]
SummaryOpt = Annotated[Path | None, typer.Option("--summary-json", help="also write the run summary as JSON")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")]
ExplainOpt = Annotated[
    Path | None, typer.Option("--explain", help="folder for Grad-CAM panels per face (PyTorch models)")
]
UncertainOpt = Annotated[
    float | None,
    typer.Option("--uncertain-below", help="expression 'uncertain' below this top probability (0: never)"),
]
CalibratedOpt = Annotated[
    bool, typer.Option("--calibration/--no-calibration", help="apply the model's temperature scaling")
]
LogitsOpt = Annotated[bool, typer.Option("--logits", help="also write the raw logits (logit_<class>)")]


#: Faces shown in the terminal table; past that the table says how many more and how to get them all.
TABLE_ROWS = 40


def _progress() -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def _faces_table(faces: list[Any], total: int) -> Any:
    """A rich table with one row per face: where, which face, expression (probability), valence, arousal."""
    from rich import box as boxes
    from rich.table import Table

    sources = [str(f.source) for f in faces]
    root = os.path.commonpath([os.path.dirname(s) for s in sources]) if len(set(sources)) > 1 else ""
    videos = any(f.time_s is not None for f in faces)
    table = Table(
        title=f"{total} face{'s' if total != 1 else ''}",
        title_justify="left",
        box=boxes.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    rows = []
    for f in faces:
        name = os.path.relpath(f.source, root) if root else os.path.basename(f.source)
        p = max(f.probabilities.values(), default=float("nan"))  # top one ("uncertain" has none)
        time_cell = [] if not videos else ["-" if f.time_s is None else f"{f.time_s:.2f}"]
        box_cell = ",".join(f"{v:.0f}" for v in f.box)
        values = [str(f.face), box_cell, f.expression, f"{p:.2f}", f"{f.valence:+.2f}", f"{f.arousal:+.2f}"]
        rows.append([name, *time_cell, *values])
    headers = ["source", *(["t (s)"] if videos else []), "face", "box x,y,w,h", "expression", "p"]
    headers += ["valence", "arousal"]
    for k, header in enumerate(headers):
        # every column but the source keeps its full width; a long source path folds instead
        width = max([len(header)] + [len(r[k]) for r in rows])
        justify: Literal["left", "right"] = "left" if header in ("source", "expression") else "right"
        if k == 0:
            table.add_column(header, justify=justify, overflow="fold", min_width=min(width, 14))
        else:
            table.add_column(header, justify=justify, no_wrap=True, width=width)
    for row in rows:
        table.add_row(*row)
    if total > len(faces):
        table.caption = f"... and {total - len(faces)} more faces: write them all with --out FILE.jsonl|.csv"
    return table


def _print_summary(
    summary: Any, out: Path | None, annotate: Path | None, err: bool, explain: Path | None = None
) -> None:
    data = summary.to_dict()
    rate = f"{data['faces_per_s']} faces/s" if data["faces_per_s"] is not None else "-"
    typer.echo(
        f"files {data['files']} (videos {data['videos']}), frames {data['frames']}, faces {data['faces']}, "
        f"no face {data['no_face']}, errors {len(data['errors'])}, {data['seconds']} s, {rate}",
        err=err,
    )
    for item in data["errors"]:
        typer.secho(f"  error: {error_text(item['source'], item['error'])}", fg=typer.colors.YELLOW, err=True)
    _print_skipped_and_notes(data, err)
    if out is not None and str(out) != "-":
        typer.echo(f"results: {out}", err=err)
    for source, tracks in data.get("tracks", {}).items():
        from affectlab.inference.tracks_report import describe_track

        typer.echo(f"{source}: {len(tracks)} face track(s)", err=err)
        for track in tracks:
            typer.echo(f"  {describe_track(track)}", err=err)
    if annotate is not None:
        typer.echo(f"annotated: {annotate}", err=err)
    if explain is not None:
        typer.echo(f"explanations: {explain}", err=err)


def _print_skipped_and_notes(data: dict[str, Any], err: bool = False) -> None:
    """Files of the folders that were not read, and inputs used with an adjustment (only when there are)."""
    if data["skipped"]:
        typer.echo(
            f"skipped {len(data['skipped'])} file(s) of the folders that are not images or videos", err=err
        )
        for item in data["skipped"][:10]:
            typer.secho(f"  skipped: {item['source']}: {item['reason']}", fg=typer.colors.YELLOW, err=True)
        if len(data["skipped"]) > 10:
            typer.secho(f"  ... and {len(data['skipped']) - 10} more", fg=typer.colors.YELLOW, err=True)
    by_note: dict[str, list[str]] = {}
    for item in data["notes"]:
        by_note.setdefault(item["note"], []).append(item["source"])
    for note, sources in sorted(by_note.items()):
        more = f" and {len(sources) - 1} more" if len(sources) > 1 else ""
        typer.secho(f"  note: {note}: {sources[0]}{more}", err=True)


def _run_with_progress(
    predictor: Any, paths: list[Path], quiet: bool, stride: int, faces: list[Any], **run: Any
) -> tuple[Any, int]:
    """run_predict with a progress bar on stderr; keeps the first TABLE_ROWS faces for the terminal table."""
    from affectlab.inference.runner import run_predict
    from affectlab.inference.sources import count_frames

    total = count_frames(paths, stride)
    counts = {"frames": 0, "faces": 0}
    with _progress() as progress:
        task = progress.add_task("predict", total=total or None, stats="", visible=not quiet)
        start = time.perf_counter()

        def on_result(result: Any) -> None:
            counts["frames"] += 1
            counts["faces"] += len(result.faces)
            faces.extend(result.faces[: max(0, TABLE_ROWS - len(faces))])
            dt = max(time.perf_counter() - start, 1e-6)
            stats = f"{counts['frames'] / dt:.1f} frames/s {counts['faces'] / dt:.1f} faces/s"
            progress.update(task, advance=1, stats=stats)

        summary = run_predict(predictor, paths, stride=stride, on_result=on_result, **run)
    return summary, counts["faces"]


def _report(
    summary: Any,
    faces: list[Any],
    total: int,
    out: Path | None,
    annotate: Path | None,
    explain: Path | None,
) -> None:
    """The per-face table (no --out), the summary (on stderr when stdout carries the results)."""
    to_stdout = out is not None and str(out) == "-"
    if out is None and total:
        from rich.console import Console

        Console(soft_wrap=False).print(_faces_table(faces, total))
    elif out is None and summary.frames:
        typer.echo(f"no face found in {summary.frames} image(s)/frame(s); try --no-detect for cropped faces")
    _print_summary(summary, out, annotate, err=to_stdout, explain=explain)
    if summary.frames == 0 and summary.errors:
        n = len(summary.errors)
        raise AffectlabError(f"no input could be read ({n} error{'s' if n != 1 else ''}, listed above)")


def predict_command(
    model: ModelArg,
    inputs: InputsArg = None,
    out: OutOpt = None,
    annotate: AnnotateOpt = None,
    detect: DetectOpt = True,
    detector: DetectorOpt = "retinaface",
    detector_model: DetectorModelOpt = None,
    threshold: ThresholdOpt = None,
    max_side: MaxSideOpt = None,
    batch_size: BatchOpt = 32,
    stride: StrideOpt = 1,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    track: TrackOpt = True,
    detect_every: DetectEveryOpt = 10,
    follow_every: FollowEveryOpt = 2,
    smooth: SmoothOpt = None,
    webcam: WebcamOpt = None,
    summary_json: SummaryOpt = None,
    quiet: QuietOpt = False,
    explain: ExplainOpt = None,
    uncertain_below: UncertainOpt = None,
    calibration: CalibratedOpt = True,
    logits: LogitsOpt = False,
) -> None:
    """Predict expression, valence and arousal for every face in images, folders, videos or a webcam."""
    from affectlab.inference.options import check_device, check_outputs, make_predictor
    from affectlab.inference.sources import scan_inputs

    check_device(device)
    if webcam is None and not inputs:
        raise AffectlabError("give at least one INPUT (image, folder or video) or --webcam N")
    check_outputs(out, summary_json, annotate)
    predictor = make_predictor(
        model,
        device=device,
        threads=threads,
        batch_size=batch_size,
        detector=detector if detect else "none",
        detector_model=detector_model,
        threshold=threshold,
        max_side=max_side,
        calibrated=calibration,
        uncertain_below=uncertain_below,
        keep_logits=logits,
    )
    from affectlab.inference.tracking import configure_video

    configure_video(
        predictor, track=track, detect_every=detect_every, follow_every=follow_every, smooth=smooth
    )
    if webcam is not None:
        from affectlab.inference.webcam import run_webcam

        _print_summary(run_webcam(predictor, webcam), None, None, err=False)
        return
    scan = scan_inputs(inputs or [])
    faces: list[Any] = []
    summary, total = _run_with_progress(
        predictor,
        scan.files,
        quiet,
        stride,
        faces,
        out=out,
        annotate_dir=annotate,
        detect=detect,
        skipped=scan.skipped,
        explain_dir=explain,
    )
    if summary_json is not None:
        summary_json.write_text(json.dumps(summary.to_dict(), indent=2))
    _report(summary, faces, total, out, annotate, explain)


def register(app: typer.Typer) -> None:
    """Add `predict` to the app."""
    app.command("predict")(predict_command)
