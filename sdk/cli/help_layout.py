"""How ``--help`` shows parameters: a flag without a value type, an argument by its name.

Typer labels every option with its type, so a flag such as ``--help`` or ``--watch`` reads
``<bool>`` although it takes no value, and it writes a required argument in the usage line
as ``{FLOW_RUN_ID}`` (``{name}`` when it has no metavar). Here a flag shows no type and
arguments follow click's convention: ``NAME`` when required, ``[NAME]`` when optional.
Every runplane command group and command is built with these classes, through
``CommandGroup``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["CommandGroup", "HelpCommand", "HelpGroup"]

CommandFunction = TypeVar("CommandFunction", bound=Callable[..., Any])


def _help_metavars(params: list[Any]) -> list[Any]:
    """The parameters, with the metavars help shows: an empty one for a flag (an option's
    metavar replaces its type, and a flag has no value whose type to show), and an
    argument's name in capitals, as click writes it, where Typer would write ``{name}``."""
    for param in params:
        if param.metavar is not None:
            continue
        if isinstance(param, TyperOption) and (param.is_flag or param.count):
            param.metavar = ""
        elif isinstance(param, TyperArgument) and param.name:
            param.metavar = param.name.upper()
    return params


def _usage_piece(param: Any, ctx: Any) -> list[str]:
    if not isinstance(param, TyperArgument):
        return list(param.get_usage_pieces(ctx))
    name = param.display_name_raw
    piece = name if param.required else f"[{name}]"
    return [piece + ("..." if param.nargs != 1 else "")]


class HelpCommand(TyperCommand):
    """A command whose help shows flags without a type and arguments by their names."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _help_metavars(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            pieces.extend(_usage_piece(param, ctx))
        return pieces


class HelpGroup(TyperGroup):
    """A command group whose help shows flags without a type."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _help_metavars(super().get_params(ctx))


class CommandGroup(typer.Typer):
    """A ``typer.Typer`` whose groups and commands use the help layout above by default."""

    def __init__(self, *, cls: type[TyperGroup] | None = None, **options: Any) -> None:
        super().__init__(cls=cls or HelpGroup, **options)

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **options: Any
    ) -> Callable[[CommandFunction], CommandFunction]:
        decorate: Callable[[CommandFunction], CommandFunction] = super().command(
            name, cls=cls or HelpCommand, **options
        )
        return decorate
