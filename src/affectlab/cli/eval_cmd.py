"""`affectlab evaluate` and `affectlab compare`: thin layers over `affectlab.evaluation`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from affectlab.cli import train_options as T


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
) -> None:
    """Evaluate a model on a split: metrics.json plus report.md and a self-contained report.html."""
    from affectlab.evaluation.evaluate import evaluate

    result = evaluate(ckpt, data, split, out, tta=tta, batch_size=batch_size, device=device, n_boot=n_boot)
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
    split: Annotated[str, typer.Option("--split", help="split every model is evaluated on")] = "val",
    quick: Annotated[bool, typer.Option("--quick", help="1 epoch, fewer bootstrap/timing runs")] = False,
    device: Annotated[str, typer.Option("--device", help="evaluation device: auto, cpu, cuda")] = "auto",
    no_timing: Annotated[bool, typer.Option("--no-timing", help="skip CPU latency/throughput")] = False,
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
    n_boot: Annotated[
        int | None, typer.Option("--bootstrap", help="bootstrap resamples (default 1000; --quick 200)")
    ] = None,
) -> None:
    """Train (or take) several models, evaluate them on one split, write comparison.json and a report.

    Every architecture, config, data path and starting-weights source is checked before anything trains;
    runs already in --out are reused (or resumed) when their recipe is the one asked for.
    """
    from affectlab.evaluation.compare import compare
    from affectlab.reports.compare_report import headline_table

    flags = T.flag_overrides(
        epochs=epochs,
        batch_size=batch_size,
        size=size,
        pretrained=pretrained,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        precision=precision,
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
        timing=not no_timing,
        seeds=seeds,
        seed=seed,
        n_boot=n_boot,
    )
    typer.echo(headline_table(path))
    typer.echo(f"comparison: {path}")
    typer.echo(f"report:     {path.parent / 'report' / 'report.html'}")


def register(app: typer.Typer) -> None:
    """Add `evaluate` and `compare` to the app."""
    app.command("evaluate")(evaluate_command)
    app.command("compare")(compare_command)
