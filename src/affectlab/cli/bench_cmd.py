"""`affectlab bench`: measure the data path, training, inference and loader memory side by side."""

from __future__ import annotations

from pathlib import Path

import typer


def bench(
    quick: bool = typer.Option(False, "--quick", help="Small sizes and counts: a few minutes on two cores."),
    size: int | None = typer.Option(
        None, "--size", help="Image side in pixels (default 64 quick, 224 full)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write the results as JSON to this file."),
    markdown: Path | None = typer.Option(
        None, "--markdown", help="Write the two tables as Markdown to this file (for RESULTS.md)."
    ),
    only: str | None = typer.Option(
        None, "--only", help="Comma-separated sections: data,train,infer,video,memory."
    ),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="Keep (and reuse) generated datasets here instead of a temporary folder."
    ),
    threads: int | None = typer.Option(
        None,
        "--threads",
        help="Threads of every measurement: torch, ONNX Runtime, subprocesses (default: physical cores).",
    ),
) -> None:
    """Benchmark the data path, training, inference and loader memory on the synthetic dataset."""
    from affectlab.bench.report import render, write_json
    from affectlab.bench.run import run_bench

    results = run_bench(quick=quick, size=size, only=only, workdir=workdir, threads=threads)
    render(results)
    if out is not None:
        typer.echo(f"wrote {write_json(results, out)}")
    if markdown is not None:
        from affectlab.bench.markdown import write_markdown

        typer.echo(f"wrote {write_markdown(results, markdown)}")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the app."""
    app.command("bench")(bench)
