"""Errors from the API end a command with their message, not a traceback."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from runplane._errors import RunplaneError


class ApiErrorsGroup(TyperGroup):
    """The root command group: a ``RunplaneError`` from any command exits 1 with its message."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except RunplaneError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
