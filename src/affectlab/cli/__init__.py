"""The `affectlab` command: a thin Typer layer over the Python API (one module per command group)."""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import typer

from affectlab.cli.help import Group
from affectlab.errors import AffectlabError

app = typer.Typer(
    name="affectlab",
    cls=Group,
    help="Train, compare and run multi-task facial affect models (expression, valence, arousal).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    from affectlab.cli import (
        bench_cmd,
        calibrate_cmd,
        data_cmd,
        demo_cmd,
        eval_cmd,
        export_cmd,
        help,
        predict_cmd,
        serve_cmd,
        synth_cmd,
        train_cmd,
    )

    groups = [
        synth_cmd,
        data_cmd,
        train_cmd,
        eval_cmd,
        calibrate_cmd,
        predict_cmd,
        export_cmd,
        serve_cmd,
        bench_cmd,
        demo_cmd,
    ]
    for module in groups:
        module.register(app)
    help.use_for_all(app)


def _version(value: bool) -> None:
    if value:
        from affectlab import __version__

        typer.echo(f"affectlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Train, compare and run multi-task facial affect models (expression, valence, arousal)."""


_register_all()


def main() -> None:
    """Run the CLI; library errors become a one-line message and exit status 1."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except AffectlabError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)


def run() -> NoReturn:
    """The `affectlab` program: :func:`main`, then an exit that skips the interpreter's teardown when safe."""
    try:
        main()
        code: str | int | None = 0
    except SystemExit as exc:
        code = exc.code
    from affectlab.cli.leave import leave

    leave(code)
