"""`affectlab predict`: a thin layer over `affectlab.inference` (Predictor, run_predict, run_webcam)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from affectlab.errors import AffectlabError


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


def predict_command(
    model: Annotated[
        Path, typer.Argument(help="a training run folder, a model.safetensors or an .onnx file")
    ],
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="image files, folders (recursive) and videos (mp4/avi/mov/mkv)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="results file: .jsonl (one object per face) or .csv")
    ] = None,
    annotate: Annotated[
        Path | None, typer.Option("--annotate", help="folder for annotated images/videos and video timelines")
    ] = None,
    no_detect: Annotated[
        bool, typer.Option("--no-detect", help="inputs are already-cropped faces (whole image = one face)")
    ] = False,
    detector: Annotated[str, typer.Option("--detector", help="face detector: retinaface, yunet, none")] = (
        "retinaface"
    ),
    detector_model: Annotated[
        Path | None, typer.Option("--detector-model", help="detector model file (else built-in or cached)")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="detector score threshold (retinaface 0.9, yunet 0.8)")
    ] = None,
    max_side: Annotated[
        int | None,
        typer.Option("--max-side", help="detector input: images larger than this are shrunk (960)"),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="faces per model call")] = 32,
    stride: Annotated[int, typer.Option("--stride", help="use every N-th video frame")] = 1,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda")] = "cpu",
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="model and face-detector threads (default: all cores)"),
    ] = None,
    webcam: Annotated[
        int | None, typer.Option("--webcam", help="live camera index, shown in a window (q quits)")
    ] = None,
    track: Annotated[
        bool,
        typer.Option("--track/--no-track", help="follow faces in videos and webcams with track ids"),
    ] = True,
    detect_every: Annotated[
        int, typer.Option("--detect-every", help="tracking: full-frame detection every N frames (10)")
    ] = 10,
    smooth: Annotated[
        float | None,
        typer.Option(
            "--smooth", help="per-track smoothing, time constant in frames (e.g. 5; lag about N-0.5)"
        ),
    ] = None,
    summary_json: Annotated[
        Path | None, typer.Option("--summary-json", help="also write the run summary as JSON")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Predict expression, valence and arousal for every face in images, folders, videos or a webcam."""
    from affectlab.inference import Predictor, create_detector
    from affectlab.inference.runner import run_predict
    from affectlab.inference.sources import collect_inputs, is_video
    from affectlab.preprocessing.video import video_info

    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise AffectlabError(f"--device must be cpu or cuda, got {device!r}")
    if webcam is None and not inputs:
        raise AffectlabError("give at least one INPUT (image, folder or video) or --webcam N")
    from affectlab.io import ensure_writable

    for target, what in ((out, "results file"), (summary_json, "summary")):
        if target is not None:
            ensure_writable(target.parent, what)
    if annotate is not None:
        ensure_writable(annotate, "annotated images")
    options: dict[str, Any] = {"device": device}
    if detector_model is not None:
        options["model_path"] = detector_model
    if threshold is not None:
        options["score_threshold"] = threshold
    if max_side is not None:
        options["max_side"] = max_side
    if threads is not None:
        options["threads"] = threads  # the detector's ONNX Runtime session too, not only the model
    det = create_detector("none" if no_detect else detector, **options)
    # Crop size, margin and eye alignment come from the model file: they are how it was trained.
    from affectlab.inference.smoothing import check_tau
    from affectlab.inference.tracking import TrackOptions

    tracking = TrackOptions(detect_every=detect_every) if track else None
    smoothing = None if smooth is None else check_tau(smooth)
    predictor = Predictor.load(
        model, device=device, threads=threads, detector=det, batch_size=batch_size, tracking=tracking
    )
    predictor.smoothing = smoothing

    if webcam is not None:
        from affectlab.inference.webcam import run_webcam

        summary = run_webcam(predictor, webcam)
        _print_summary(summary, None, None)
        return

    paths = collect_inputs(inputs or [])
    total = 0
    for p in paths:
        if is_video(p):
            try:
                total += max(1, -(-video_info(p).frames // stride))
            except AffectlabError:
                total += 1
        else:
            total += 1
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

        summary = run_predict(
            predictor,
            paths,
            out=out,
            annotate_dir=annotate,
            detect=not no_detect,
            stride=stride,
            on_result=on_result,
        )
    if summary_json is not None:
        summary_json.write_text(json.dumps(summary.to_dict(), indent=2))
    _print_summary(summary, out, annotate)


def register(app: typer.Typer) -> None:
    """Add `predict` to the app."""
    app.command("predict")(predict_command)
