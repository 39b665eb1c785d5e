"""`affectlab export`: weights to a single-file ONNX (or TorchScript) model, with a parity check."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from affectlab.errors import AffectlabError


class ExportFormat(StrEnum):
    """Export targets."""

    onnx = "onnx"
    torchscript = "torchscript"


def export_command(
    weights: Annotated[Path, typer.Argument(help="model.safetensors or a training run folder")],
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="onnx or torchscript")] = (
        ExportFormat.onnx
    ),
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="output file (default: beside the weights, .onnx/.pt)")
    ] = None,
    dynamic_batch: Annotated[
        bool, typer.Option("--dynamic-batch/--static-batch", help="variable batch size (ONNX) or batch 1")
    ] = True,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version")] = 17,
    check: Annotated[bool, typer.Option("--check/--no-check", help="compare with PyTorch afterwards")] = True,
    tolerance: Annotated[float, typer.Option("--tolerance", help="largest accepted max |difference|")] = 1e-4,
) -> None:
    """Export a model, check parity with PyTorch on random and real inputs, and print the max differences."""
    from affectlab.inference.export import export_onnx, export_torchscript
    from affectlab.models.artifacts import resolve_model_file

    source, _ = resolve_model_file(weights)
    if format is ExportFormat.onnx:
        target = out or source.with_suffix(".onnx")
        report = export_onnx(
            source, target, opset=opset, dynamic_batch=dynamic_batch, check=check, tolerance=tolerance
        )
    else:
        target = out or source.with_suffix(".pt")
        report = export_torchscript(source, target, check=check, tolerance=tolerance)
    typer.echo(report.summary())
    if check and not report.passed:
        raise AffectlabError(
            f"parity check failed: max abs difference {report.max_abs_diff:.2e} >= {tolerance:.0e}; "
            f"{target} was written but should not be trusted (try another --opset, or report the issue)"
        )


def register(app: typer.Typer) -> None:
    """Add the `export` command."""
    app.command("export")(export_command)
