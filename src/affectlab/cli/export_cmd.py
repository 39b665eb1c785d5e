"""`affectlab export`: weights to ONNX or TorchScript, with a parity check."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer


class ExportFormat(str, Enum):
    onnx = "onnx"
    torchscript = "torchscript"


def export(
    weights: Path = typer.Argument(..., help="model.safetensors or a run folder"),
    format: ExportFormat = typer.Option(ExportFormat.onnx, "--format", help="onnx or torchscript"),
    out: Path | None = typer.Option(None, "--out", help="output file (default: beside the weights)"),
    dynamic_batch: bool = typer.Option(True, "--dynamic-batch/--static-batch", help="variable batch size"),
    opset: int = typer.Option(17, "--opset", help="ONNX opset version"),
) -> None:
    """Export a model to ONNX (or TorchScript), check parity with PyTorch, and print the max difference."""
    from affectlab.inference.export import export_onnx, export_torchscript

    if weights.is_dir():
        weights = weights / "model.safetensors"
    suffix = ".onnx" if format is ExportFormat.onnx else ".torchscript.pt"
    target = out or weights.with_suffix(suffix)
    if format is ExportFormat.onnx:
        report = export_onnx(weights, target, opset=opset, dynamic_batch=dynamic_batch)
    else:
        report = export_torchscript(weights, target)
    typer.echo(report.summary())


def register(app: typer.Typer) -> None:
    """Add the export command."""
    app.command("export")(export)
