"""`affectlab demo`: the main job on the embedded dataset."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("outputs/demo"), "--out", help="folder for data, runs and the report"),
    train: int = typer.Option(6000, "--train", help="generated training images"),
    val: int = typer.Option(800, "--val", help="generated validation images (balanced)"),
    size: int | None = typer.Option(
        None, "--size", help="one input size for all (default: per architecture)"
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="epochs for all (default: the config's)"),
    archs: str = typer.Option("resnet18,mobilenet_v2,efficientnet_b1", "--archs", help="comma-separated"),
    config: str | None = typer.Option(None, "--config", help="training config (default configs/demo.yaml)"),
    seed: int = typer.Option(0, "--seed", help="seed of the data and of the first training run"),
    seeds: int = typer.Option(1, "--seeds", help="training runs per architecture (mean ± sd in the table)"),
    pretrained: str = typer.Option(
        "auto",
        "--pretrained",
        help="EfficientNet-B1 start: auto (ImageNet if available), none, imagenet, PATH",
    ),
) -> None:
    """Generate AffectNet-shaped data, prepare it, train and compare three architectures, write the report."""
    from affectlab.demo import DemoSettings, run_demo
    from affectlab.reports.compare_report import headline_table

    settings = DemoSettings(
        train=train,
        val=val,
        size=size,
        epochs=epochs,
        seed=seed,
        seeds=seeds,
        config=config,
        pretrained=pretrained,
        archs=tuple(a.strip() for a in archs.split(",") if a.strip()),
    )
    result = run_demo(out, settings)
    typer.echo(headline_table(result.comparison))
    typer.echo(f"report: {result.report_html.resolve()}")
    stages = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in result.stages.items())
    typer.echo(f"demo finished in {result.seconds / 60:.1f} min ({stages})")


def register(app: typer.Typer) -> None:
    """Add the demo command."""
    app.command("demo")(demo)
