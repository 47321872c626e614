"""Errors from the API end a command with their message, not a traceback."""

from __future__ import annotations

from typing import Any

import typer

from runplane._client.errors import RunplaneError
from runplane.cli.help_layout import HelpGroup


def _api_error_in(group: BaseExceptionGroup[BaseException]) -> RunplaneError | None:
    """The API error that ended a task group (the runner's, say), when API errors are all
    that it holds; None when anything else failed too, which is a bug to show in full."""
    errors, others = group.split(RunplaneError)
    if errors is None or others is not None:
        return None
    first: BaseException = errors
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first if isinstance(first, RunplaneError) else None


class ApiErrorsGroup(HelpGroup):
    """The root command group: a ``RunplaneError`` from any command exits 1 with its message."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except RunplaneError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        except BaseExceptionGroup as group:
            found = _api_error_in(group)
            if found is None:
                raise
            typer.echo(f"error: {found}", err=True)
            raise typer.Exit(1) from None
