"""`affectlab predict`: a thin layer over `affectlab.inference` (make_predictor, run_predict, run_webcam)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from affectlab.errors import AffectlabError

ModelArg = Annotated[Path, typer.Argument(help="a training run folder, a model.safetensors or an .onnx file")]
InputsArg = Annotated[
    list[Path] | None, typer.Argument(help="image files, folders (recursive) and videos (mp4/avi/mov/mkv)")
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="results file: .jsonl (one object per face) or .csv")
]
AnnotateOpt = Annotated[
    Path | None, typer.Option("--annotate", help="folder for annotated images/videos and video timelines")
]
NoDetectOpt = Annotated[
    bool, typer.Option("--no-detect", help="inputs are already-cropped faces (whole image = one face)")
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
    int | None, typer.Option("--threads", help="model and face-detector threads (default: all cores)")
]
TrackOpt = Annotated[
    bool, typer.Option("--track/--no-track", help="follow faces in videos and webcams with track ids")
]
DetectEveryOpt = Annotated[
    int, typer.Option("--detect-every", help="tracking: full-frame detection every N frames (10)")
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


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        transient=False,
    )


def _print_summary(summary: Any, out: Path | None, annotate: Path | None) -> None:
    data = summary.to_dict()
    rate = f"{data['faces_per_s']} faces/s" if data["faces_per_s"] is not None else "-"
    typer.echo(
        f"files {data['files']} (videos {data['videos']}), frames {data['frames']}, faces {data['faces']}, "
        f"no face {data['no_face']}, errors {len(data['errors'])}, {data['seconds']} s, {rate}"
    )
    for err in data["errors"]:
        typer.secho(f"  error: {err['source']}: {err['error']}", fg=typer.colors.YELLOW, err=True)
    for source, tracks in data.get("tracks", {}).items():
        from affectlab.inference.tracks_report import describe_track

        typer.echo(f"{source}: {len(tracks)} face track(s)")
        for track in tracks:
            typer.echo(f"  {describe_track(track)}")
    if out is not None:
        typer.echo(f"results: {out}")
    if annotate is not None:
        typer.echo(f"annotated: {annotate}")


def _run_with_progress(predictor: Any, paths: list[Path], quiet: bool, stride: int, **run: Any) -> Any:
    """run_predict with a progress bar over the expected frames (frames/s and faces/s as it goes)."""
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
            dt = max(time.perf_counter() - start, 1e-6)
            stats = f"{counts['frames'] / dt:.1f} frames/s {counts['faces'] / dt:.1f} faces/s"
            progress.update(task, advance=1, stats=stats)

        return run_predict(predictor, paths, stride=stride, on_result=on_result, **run)


def predict_command(
    model: ModelArg,
    inputs: InputsArg = None,
    out: OutOpt = None,
    annotate: AnnotateOpt = None,
    no_detect: NoDetectOpt = False,
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
    smooth: SmoothOpt = None,
    webcam: WebcamOpt = None,
    summary_json: SummaryOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Predict expression, valence and arousal for every face in images, folders, videos or a webcam."""
    from affectlab.inference.options import check_device, check_outputs, make_predictor
    from affectlab.inference.sources import collect_inputs

    check_device(device)
    if webcam is None and not inputs:
        raise AffectlabError("give at least one INPUT (image, folder or video) or --webcam N")
    check_outputs(out, summary_json, annotate)
    predictor = make_predictor(
        model,
        device=device,
        threads=threads,
        batch_size=batch_size,
        detector="none" if no_detect else detector,
        detector_model=detector_model,
        threshold=threshold,
        max_side=max_side,
    )
    from affectlab.inference.tracking import configure_video

    configure_video(predictor, track=track, detect_every=detect_every, smooth=smooth)
    if webcam is not None:
        from affectlab.inference.webcam import run_webcam

        _print_summary(run_webcam(predictor, webcam), None, None)
        return
    paths = collect_inputs(inputs or [])
    summary = _run_with_progress(
        predictor, paths, quiet, stride, out=out, annotate_dir=annotate, detect=not no_detect
    )
    if summary_json is not None:
        summary_json.write_text(json.dumps(summary.to_dict(), indent=2))
    _print_summary(summary, out, annotate)


def register(app: typer.Typer) -> None:
    """Add `predict` to the app."""
    app.command("predict")(predict_command)
