"""CLI commands `affectlab validate` and `affectlab prepare` (thin wrappers over affectlab.data)."""

from __future__ import annotations

from pathlib import Path

import typer

from affectlab.preprocessing.spec import DEFAULT_MARGIN

LABEL_MAP_HELP = "YAML taxonomy saying what a manifest's or class folders' codes mean (docs/data.md)."
LABEL_MODE_HELP = "FER+ votes -> label: majority, plurality or probability (docs/data.md)."


def validate(
    src: Path = typer.Argument(..., help="Dataset root (any supported layout) or a manifest CSV."),
    strict: bool = typer.Option(
        False, "--strict/--no-strict", help="Stop at the first problem instead of skipping it."
    ),
    num_classes: int = typer.Option(8, "--num-classes", help="8 (AffectNet) or 7 (without contempt)."),
    report: Path | None = typer.Option(None, "--report", help="Also write the report as JSON to this file."),
    workers: int | None = typer.Option(None, "--workers", help="Decoding processes (default: CPUs, max 8)."),
    label_map: Path | None = typer.Option(None, "--label-map", help=LABEL_MAP_HELP),
    label_mode: str = typer.Option("majority", "--label-mode", help=LABEL_MODE_HELP),
) -> None:
    """Check every label and image of a dataset and print what it holds and what was skipped."""
    from affectlab.data import validate_dataset

    result = validate_dataset(
        src,
        strict=strict,
        num_classes=num_classes,
        workers=workers,
        progress=True,
        report_path=report,
        label_map=label_map,
        label_mode=label_mode,
    )
    result.print()
    if report is not None:
        typer.echo(f"report written to {report}")


def prepare(
    src: Path = typer.Argument(..., help="Dataset root (any supported layout) or a manifest CSV."),
    out: Path = typer.Argument(..., help="Store folder to create (or to rebuild)."),
    size: int = typer.Option(..., "--size", help="Output image side in pixels."),
    margin: float = typer.Option(
        DEFAULT_MARGIN,
        "--margin",
        help="Face-box margin on every side, a fraction of the box's larger side (0..1).",
    ),
    align: bool = typer.Option(
        False,
        "--align/--no-align",
        help="Rotate faces so the eyes are level (needs landmarks; recorded in the model).",
    ),
    strict: bool = typer.Option(
        False, "--strict/--no-strict", help="Stop at the first problem instead of skipping it."
    ),
    num_classes: int = typer.Option(8, "--num-classes", help="8 (AffectNet) or 7 (without contempt)."),
    workers: int | None = typer.Option(None, "--workers", help="Decoding processes (default: CPUs, max 8)."),
    label_map: Path | None = typer.Option(None, "--label-map", help=LABEL_MAP_HELP),
    label_mode: str = typer.Option("majority", "--label-mode", help=LABEL_MODE_HELP),
) -> None:
    """Validate, crop, resize and pack a dataset into a memory-mapped store for fast training."""
    from affectlab.data import open_store
    from affectlab.data import prepare as run_prepare

    path = run_prepare(
        src,
        out,
        size,
        margin=margin,
        align=align,
        strict=strict,
        num_classes=num_classes,
        workers=workers,
        progress=True,
        label_map=label_map,
        label_mode=label_mode,
    )
    store = open_store(path)
    store.report().print()
    seconds = store.manifest["settings"]["seconds"]
    total = sum(s["count"] for s in store.manifest["splits"].values())
    typer.echo(
        f"store written to {path}: {total} images at {size}px in {seconds:.1f}s "
        f"({total / max(seconds, 1e-9):.0f} img/s)"
    )


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    app.command("validate")(validate)
    app.command("prepare")(prepare)
