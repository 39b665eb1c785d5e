"""Every command's --help shows real argument names and flags that work exactly as shown."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from affectlab.cli import app

COMMAND = typer.main.get_command(app)
NAMES = sorted(COMMAND.commands)  # type: ignore[attr-defined]


def _help(name: str) -> str:
    result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_is_covered() -> None:
    assert {
        "synth",
        "validate",
        "prepare",
        "train",
        "evaluate",
        "compare",
        "predict",
        "export",
        "serve",
    } <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_help_names_arguments_and_shows_no_bool_values(name: str) -> None:
    text = _help(name)
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    command = COMMAND.commands[name]  # type: ignore[attr-defined]
    for param in command.params:
        if param.param_type_name == "argument":
            shown = (param.metavar or param.name).upper().removesuffix("...")
            assert re.search(rf"\b{shown}\b", usage), (shown, usage)
    assert "<bool>" not in text and "list[" not in text, text


@pytest.mark.parametrize("name", NAMES)
def test_every_flag_parses_as_printed(name: str) -> None:
    """`--strict` and `--no-strict` are accepted bare (no value) and set the value the help implies."""
    command = COMMAND.commands[name]  # type: ignore[attr-defined]
    required = ["x" for p in command.params if p.param_type_name == "argument" and p.required]
    required += [
        a for p in command.params if p.param_type_name == "option" and p.required for a in (p.opts[0], "1")
    ]
    text = _help(name)
    flags = [p for p in command.params if getattr(p, "is_flag", False) and p.name != "help"]
    for param in flags:
        for opt, value in [(o, True) for o in param.opts] + [(o, False) for o in param.secondary_opts]:
            assert opt in text, (opt, text)
            ctx = command.make_context(name, [*required, opt], resilient_parsing=False)
            assert ctx.params[param.name] is value, (opt, ctx.params[param.name])


def test_version() -> None:
    from affectlab import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"affectlab {__version__}"


def test_top_level_help_shows_its_flags_as_typed() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "--version" in result.output and "<bool>" not in result.output, result.output


def test_compare_passes_trains_switches_as_config_values() -> None:
    """compare takes train's --threads, --compile, --gpu-resident, mapped as train maps them (true, false)."""
    from affectlab.cli.train_options import flag_overrides

    sets = flag_overrides(threads=1, compile_model=False, gpu_resident=True, epochs=None)
    assert sets == ["speed.threads=1", "model.compile=false", "data.gpu_resident=true"]
    compare_flags = {p.name for p in COMMAND.commands["compare"].params}  # type: ignore[attr-defined]
    assert {"threads", "compile_model", "gpu_resident"} <= compare_flags
