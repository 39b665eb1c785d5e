"""`affectlab evaluate` and `affectlab compare`: thin layers over `affectlab.evaluation`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def evaluate_command(
    ckpt: Annotated[Path, typer.Argument(help="model.safetensors or a run folder")],
    data: Annotated[str, typer.Option("--data", help="prepared store or raw dataset layout")],
    split: Annotated[str, typer.Option("--split", help="split to evaluate")] = "val",
    out: Annotated[
        Path | None, typer.Option("--out", help="output folder (default: <run>/eval-<split>)")
    ] = None,
    tta: Annotated[str | None, typer.Option("--tta", help="test-time augmentation: flip")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="images per forward pass")] = 128,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N")] = "auto",
    n_boot: Annotated[
        int, typer.Option("--bootstrap", help="bootstrap resamples for 95% CIs (0: none)")
    ] = 1000,
    per_video: Annotated[
        bool,
        typer.Option("--per-video", help="video frames (Aff-Wild2): CCC over all frames and per video"),
    ] = False,
    smooth: Annotated[
        float, typer.Option("--smooth", help="with --per-video: smoothing time constant in frames")
    ] = 5.0,
) -> None:
    """Evaluate a model on a split: metrics.json plus report.md and a self-contained report.html."""
    from affectlab.evaluation.evaluate import evaluate

    options: dict[str, Any] = {"tta": tta, "batch_size": batch_size, "device": device, "n_boot": n_boot}
    if per_video:  # Aff-Wild2's protocol, raw and smoothed: affectlab.affwild2_eval
        from affectlab.affwild2_eval import evaluate_videos, format_scores

        result, scores = evaluate_videos(ckpt, data, split, out, tau=smooth, **options)
        for line in format_scores(scores):
            typer.echo(line)
        typer.echo(f"video metrics: {result.out / 'video_metrics.json'}")
    else:
        result = evaluate(ckpt, data, split, out, **options)
    m = result.metrics
    parts = [
        f"{k.split('_', 1)[1] if k.startswith('expression') else k} {m[k]:.4f}"
        for k in ("expression_accuracy", "expression_f1_macro", "valence_ccc", "arousal_ccc")
        if m.get(k) is not None
    ]
    typer.echo("  ".join(parts))
    typer.echo(f"metrics: {result.metrics_path}")
    typer.echo(f"report:  {result.report_html}")


def compare_command(
    data: Annotated[str, typer.Option("--data", help="prepared store or raw dataset layout")],
    archs: Annotated[
        str | None, typer.Option("--archs", help="architectures to train, e.g. resnet18,mobilenet_v2")
    ] = None,
    runs: Annotated[
        str | None, typer.Option("--runs", help="existing run folders or weights, comma-separated")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML recipe for training")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="training config value for every arch (repeatable)")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("runs/compare"),
    split: Annotated[str, typer.Option("--split", help="split every model is evaluated on")] = "val",
    quick: Annotated[bool, typer.Option("--quick", help="1 epoch, fewer bootstrap/timing runs")] = False,
    device: Annotated[str, typer.Option("--device", help="evaluation device: auto, cpu, cuda")] = "auto",
    no_timing: Annotated[bool, typer.Option("--no-timing", help="skip CPU latency/throughput")] = False,
) -> None:
    """Train (or take) several models, evaluate them on one split, write comparison.json and a report."""
    from affectlab.evaluation.compare import compare
    from affectlab.reports.compare_report import headline_table

    path = compare(
        data,
        archs=archs,
        runs=runs,
        config=config,
        out=out,
        overrides=overrides or [],
        quick=quick,
        split=split,
        device=device,
        timing=not no_timing,
    )
    typer.echo(headline_table(path))
    typer.echo(f"comparison: {path}")
    typer.echo(f"report:     {path.parent / 'report' / 'report.html'}")


def register(app: typer.Typer) -> None:
    """Add `evaluate` and `compare` to the app."""
    app.command("evaluate")(evaluate_command)
    app.command("compare")(compare_command)
