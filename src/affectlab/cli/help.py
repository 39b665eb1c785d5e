"""How every command's --help reads: arguments by their NAME, flags without a value type.

Typer prints a required argument as `{src}` and gives every boolean flag a `<bool>` type, which reads as if
`--strict true` were expected. This command class shows `SRC`, `[INPUTS]...` and a bare `--strict`.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def _list_type(param: Any) -> Any:
    """`<path>` for a many-valued argument whose Typer type reads `<list[Path]>`."""
    plain = type(param).display_type_rich

    def display_type_rich(ctx: Any) -> str | None:
        shown = plain(param, ctx)
        if shown and shown.startswith("<list[") and shown.endswith("]>"):
            return f"<{shown[6:-2].lower()}>"
        return shown

    return display_type_rich


def _tidy(param: Any) -> None:
    """Name an argument in capitals; give a flag no value type (its metavar is what help shows)."""
    if isinstance(param, TyperArgument) and param.metavar is None:
        param.metavar = (param.name or "ARG").upper() + ("..." if param.nargs != 1 else "")
        param.display_type_rich = _list_type(param)  # type: ignore[method-assign]
    elif isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
        param.metavar = ""
    elif isinstance(param, TyperOption) and param.multiple:
        param.display_type_rich = _list_type(param)  # type: ignore[method-assign]


class Command(TyperCommand):
    """A Typer command whose help shows real argument names and flags as they are typed."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:
            _tidy(param)
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                base = (param.metavar or param.name or "arg").upper().removesuffix("...")
                piece = base if param.required else f"[{base}]"
                pieces.append(piece + ("..." if param.nargs != 1 else ""))
        return pieces


class Group(TyperGroup):
    """The top-level `affectlab --help`: its own flags (--version, --help) shown as typed, too."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:
            _tidy(param)
        return params


def use_for_all(app: typer.Typer) -> None:
    """Make every registered command of `app` use `Command`."""
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = Command
