"""`affectlab evaluate` and `affectlab compare`: thin layers over `affectlab.evaluation`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from affectlab.cli import train_options as T

UNSHARED_HELP = "classes only the model or only the data has: drop (score the shared ones) or column"


def evaluate_command(
    ckpt: Annotated[Path, typer.Argument(metavar="MODEL", help="a run folder, model.safetensors or .onnx")],
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
    unshared: Annotated[str, typer.Option("--unshared", help=UNSHARED_HELP)] = "drop",
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads for the model (default: physical cores)")
    ] = None,
    calibration: Annotated[
        bool, typer.Option("--calibration/--no-calibration", help="apply the model's temperature scaling")
    ] = True,
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
    options.update(unshared=unshared, threads=threads, calibrated=calibration)
    if per_video:  # Aff-Wild2's protocol, raw and smoothed: affectlab.evaluation.video
        from affectlab.evaluation.video import evaluate_videos, format_scores

        result, scores = evaluate_videos(ckpt, data, split, out, tau=smooth, **options)
        for line in format_scores(scores):
            typer.echo(line)
        typer.echo(f"video metrics: {result.out / 'video_metrics.json'}")
    else:
        result = evaluate(ckpt, data, split, out, **options)
    lm = result.label_map
    if lm.get("model_only") or lm.get("data_only") or lm.get("classes") != lm.get("model_classes"):
        typer.echo("\n".join(result.label_map["lines"]))
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
    data: Annotated[
        list[str],
        typer.Option("--data", help="prepared store or raw layout; repeat for one store per input size"),
    ],
    archs: Annotated[
        str | None, typer.Option("--archs", help="architectures to train, e.g. resnet18,mobilenet_v2")
    ] = None,
    runs: Annotated[
        str | None, typer.Option("--runs", help="existing run folders or weights, comma-separated")
    ] = None,
    config: T.ConfigOpt = None,
    overrides: T.SetOpt = None,
    out: Annotated[
        Path, typer.Option("--out", help="output folder (a partly finished one continues)")
    ] = Path("runs/compare"),
    split: Annotated[
        str | None,
        typer.Option("--split", help="split to evaluate on (default: val; several datasets: each one's own)"),
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="1 epoch, fewer bootstrap/timing runs")] = False,
    device: Annotated[str, typer.Option("--device", help="evaluation device: auto, cpu, cuda")] = "auto",
    timing: Annotated[
        bool, typer.Option("--timing/--no-timing", help="measure CPU latency and throughput")
    ] = True,
    unshared: Annotated[str, typer.Option("--unshared", help=UNSHARED_HELP)] = "drop",
    epochs: T.EpochsOpt = None,
    batch_size: T.BatchOpt = None,
    size: T.SizeOpt = None,
    pretrained: T.PretrainedOpt = None,
    accelerator: T.AcceleratorOpt = None,
    devices: T.DevicesOpt = None,
    strategy: T.StrategyOpt = None,
    precision: T.PrecisionOpt = None,
    seed: T.SeedOpt = None,
    seeds: T.SeedsOpt = 1,
    threads: T.ThreadsOpt = None,
    compile_model: T.CompileOpt = None,
    gpu_resident: T.ResidentOpt = None,
    n_boot: Annotated[
        int | None, typer.Option("--bootstrap", help="bootstrap resamples (default 1000; --quick 200)")
    ] = None,
) -> None:
    """Train (or take) several models, evaluate them on one split, write comparison.json and a report.

    Every architecture, config, data path and starting-weights source is checked before anything trains;
    runs already in --out are reused (or resumed) when their recipe is the one asked for. With several
    datasets (``--data A,B@test,C``) and one model (``--runs R``), put that model's results on each dataset
    side by side instead (a dataset x metric table, each with its label map).
    """
    from affectlab.evaluation.compare import compare
    from affectlab.reports.compare_report import headline_table

    if len(data) == 1 and "," in data[0]:
        _compare_datasets(data[0], runs, archs, split, out, device, quick, unshared)
        return
    split = split or "val"
    flags = T.flag_overrides(
        epochs=epochs,
        batch_size=batch_size,
        size=size,
        pretrained=pretrained,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        precision=precision,
        threads=threads,
        compile_model=compile_model,
        gpu_resident=gpu_resident,
    )
    path = compare(
        data if len(data) > 1 else data[0],
        archs=archs,
        runs=runs,
        config=config,
        out=out,
        overrides=flags + list(overrides or []),
        quick=quick,
        split=split,
        device=device,
        timing=timing,
        seeds=seeds,
        seed=seed,
        n_boot=n_boot,
    )
    typer.echo(headline_table(path))
    typer.echo(f"comparison: {path}")
    typer.echo(f"report:     {path.parent / 'report' / 'report.html'}")


def _compare_datasets(
    data: str, runs: str | None, archs: str | None, split: str | None, out: Path, device: str, quick: bool,
    unshared: str,
) -> None:  # fmt: skip
    from affectlab.errors import AffectlabError
    from affectlab.evaluation.cross_dataset import compare_datasets
    from affectlab.reports.cross_dataset_report import datasets_text

    models = [r for r in (runs or "").split(",") if r.strip()]
    if archs or len(models) != 1:
        raise AffectlabError(
            "several datasets in --data compare ONE model: give exactly one --runs (no --archs)"
        )
    specs = [d.strip() for d in data.split(",") if d.strip()]
    if split:
        specs = [s if "@" in s else f"{s}@{split}" for s in specs]
    path = compare_datasets(
        models[0], specs, out, unshared=unshared, device=device, n_boot=200 if quick else 1000
    )
    typer.echo(datasets_text(path))
    typer.echo(f"comparison: {path}")
    typer.echo(f"report:     {path.parent / 'report' / 'report.html'}")


def register(app: typer.Typer) -> None:
    """Add `evaluate` and `compare` to the app."""
    app.command("evaluate")(evaluate_command)
    app.command("compare")(compare_command)
