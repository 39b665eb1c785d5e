"""`affectlab calibrate`: a thin layer over `affectlab.evaluation.calibrate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from affectlab.errors import AffectlabError


def _cell(part: dict[str, Any], key: str) -> str:
    value = part[key]
    ci = (part.get("ci") or {}).get(key) or {}
    if ci.get("low") is None:
        return f"{value:.4f}"
    return f"{value:.4f} [{ci['low']:.4f}, {ci['high']:.4f}]"


def _print_record(record: dict[str, Any]) -> None:
    """Before/after lines for the fit split and the reported split."""
    keys = ("ece", "classwise_ece", "nll", "brier", "accuracy")
    rows = [("fit", record["fit"])]
    report = record["report"]
    if "skipped" in report:
        typer.echo(f"reported split {report['split']!r}: not scored ({report['skipped']})")
    else:
        rows.append(("report", report))
    for role, part in rows:
        typer.echo(f"{role} split {part['split']!r} (n={part['n']}):")
        for key in keys:
            before, after = _cell(part["before"], key), _cell(part["after"], key)
            typer.echo(f"  {key:<14} {before:>28} -> {after}")
    abstention = report.get("abstention")
    if abstention:
        acc = abstention["accuracy_answered"]
        typer.echo(
            f"uncertain below {abstention['threshold']:.3f}: answers {abstention['coverage']:.1%} of "
            f"{report['split']!r}, accuracy {'-' if acc is None else f'{acc:.4f}'} on those "
            f"(all faces: {abstention['accuracy_all']:.4f})"
        )


def calibrate_command(
    model: Annotated[Path, typer.Argument(help="a training run folder or its model.safetensors")],
    data: Annotated[str | None, typer.Option("--data", help="prepared store or raw dataset layout")] = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split", help="split to fit on: held-out data, not the one you report (e.g. selection)"
        ),
    ] = None,
    report_split: Annotated[
        str, typer.Option("--report-split", help="the split you report; refused as --split without --force")
    ] = "val",
    report_data: Annotated[
        str | None,
        typer.Option("--report-data", help="the dataset holding the reported split (default: --data)"),
    ] = None,
    method: Annotated[
        str,
        typer.Option("--method", help="temperature (one T, keeps the argmax) or vector (one T per class)"),
    ] = "temperature",
    uncertain_below: Annotated[
        float | None,
        typer.Option(
            "--uncertain-below", help="store this abstention threshold (top probability) in the model"
        ),
    ] = None,
    coverage: Annotated[
        float | None,
        typer.Option("--coverage", help="store the threshold that answers this share of the fit split (0-1)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="allow fitting on the reported split (warns)")
    ] = False,
    undo: Annotated[bool, typer.Option("--undo", help="restore the uncalibrated model file")] = False,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", help="images per forward pass")] = 128,
    n_boot: Annotated[
        int,
        typer.Option("--bootstrap", help="bootstrap resamples for 95% CIs on the reported split (0: none)"),
    ] = 1000,
) -> None:
    """Fit temperature scaling on a held-out split and store it in the model (evaluate/predict/serve)."""
    from affectlab.evaluation.calibrate import calibrate, uncalibrate

    if undo:
        typer.echo(f"restored uncalibrated weights: {uncalibrate(model)}")
        return
    if data is None or split is None:
        raise AffectlabError("give --data and --split (the held-out split to fit the temperature on)")
    result = calibrate(
        model,
        data,
        split,
        method=method,
        report_split=report_split,
        report_data=report_data,
        force=force,
        uncertain_below=uncertain_below,
        coverage=coverage,
        device=device,
        batch_size=batch_size,
        n_boot=n_boot,
    )
    for line in result.record["warnings"]:
        typer.secho(f"WARNING: {line}", fg=typer.colors.RED, bold=True, err=True)
    typer.echo(f"calibrated {result.record['model']['arch']}: {result.calibration.describe()}")
    _print_record(result.record)
    typer.echo(f"wrote {result.weights} (uncalibrated copy: {result.backup})")
    typer.echo(f"record: {result.record_path}")


def register(app: typer.Typer) -> None:
    """Add `calibrate` to the app."""
    app.command("calibrate")(calibrate_command)
