"""``runplane config show``: the settings in effect and where each one comes from."""

from __future__ import annotations

import json
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar, Union, get_args, get_origin

import typer
from pydantic import AliasChoices, SecretStr, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsError as SourceError
from rich.table import Table
from rich.text import Text

from runplane._client.settings import Settings
from runplane.cli.formatting import stdout_console
from runplane.cli.help_layout import CommandGroup

config_app = CommandGroup(no_args_is_help=True, help="Inspect runplane's settings.")

MASK = "********"
NOT_SET = "(not set)"
# A setting named like this holds a credential even when its type does not say so.
SECRET_WORDS = ("key", "password", "token", "secret")

JsonValue = str | int | float | bool | list[str] | None
SettingsT = TypeVar("SettingsT", bound=BaseSettings)


@dataclass(frozen=True)
class Row:
    variable: str
    value: JsonValue
    source: str


class InvalidSettings(Exception):
    """Settings that do not validate; each line names the variable at fault."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@config_app.command("show")
def show(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON object, for scripts.")
    ] = False,
) -> None:
    """Show the client and server settings in effect, with secrets masked."""
    try:
        rows = effective_rows()
    except InvalidSettings as error:
        # A setting to fix, not a bug: the variable and the reason, without a traceback.
        for line in error.lines:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(code=2) from None
    if as_json:
        document = {row.variable: {"value": row.value, "source": row.source} for row in rows}
        typer.echo(json.dumps(document, indent=2))
        return
    table = Table(box=None)
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("source", no_wrap=True)
    for row in rows:
        # Text, not str: a value must never be read as rich markup.
        table.add_row(Text(row.variable), Text(_display(row.value)), Text(row.source))
    stdout_console().print(table)


def effective_rows() -> list[Row]:
    """The client settings, then the server's; a variable both read is listed once."""
    # Imported here so that ``import runplane`` and the other commands stay light.
    from runplane.server.settings import ServerSettings

    problems: list[str] = []
    client = build_settings(Settings, "client", problems)
    server = build_settings(ServerSettings, "server", problems)
    if client is None or server is None:
        raise InvalidSettings(problems)
    rows = describe(client) + describe(
        server, effective={"database_url": server.resolved_database_url()}
    )
    unique: dict[str, Row] = {}
    for row in rows:
        # Both classes read RUNPLANE_HOME the same way, so the values agree.
        unique.setdefault(row.variable, row)
    return list(unique.values())


def describe(settings: BaseSettings, effective: Mapping[str, object] | None = None) -> list[Row]:
    """One row a field; ``effective`` replaces a field's value by the one actually used."""
    cls = type(settings)
    environ = _environment(cls)
    rows: list[Row] = []
    for name, field in cls.model_fields.items():
        names = variable_names(cls, name)
        found = next((variable for variable in names if variable in environ), None)
        if name in settings.model_fields_set:
            # Every source but the environment is off, so a set field came from there.
            variable, source = found or names[0], "environment"
        else:
            variable, source = names[0], "default"
        value = getattr(settings, name)
        if effective is not None and name in effective:
            value = effective[name]
        rows.append(Row(variable, _public_value(name, field.annotation, value), source))
    return rows


def variable_names(cls: type[BaseSettings], name: str) -> list[str]:
    """The variables pydantic-settings reads for a field, in the order it tries them."""
    config = cls.model_config
    field = cls.model_fields[name]
    alias = field.validation_alias
    aliases: list[str] = []
    if isinstance(alias, str):
        aliases = [alias]
    elif isinstance(alias, AliasChoices):
        aliases = [choice for choice in alias.choices if isinstance(choice, str)]
    names = [a.upper() for a in aliases]
    by_name = config.get("validate_by_name", config.get("populate_by_name", False))
    if not aliases or by_name:
        names.append(f"{config.get('env_prefix', '')}{name}".upper())
    return names


def build_settings(cls: type[SettingsT], kind: str, problems: list[str]) -> SettingsT | None:
    """The settings, or None with what is wrong added to ``problems``."""
    try:
        return cls()
    except ValidationError as error:
        problems.extend(_explain(cls, kind, detail) for detail in error.errors())
    except SourceError as error:
        problems.append(f"{kind} settings: {error}")
    return None


def _explain(cls: type[BaseSettings], kind: str, detail: ErrorDetails) -> str:
    message = str(detail["msg"])
    if detail["type"] == "value_error":
        message = str(detail["ctx"]["error"])
    location = detail["loc"]
    if not location:
        return f"{kind} settings: {message}"
    key = str(location[0])
    # The location is the field's name, or the alias the value was given under.
    name = next(
        (
            field_name
            for field_name, field in cls.model_fields.items()
            if key in (field_name, field.validation_alias)
        ),
        None,
    )
    if name is None:
        return f"{key.upper()}: {message}"
    names = variable_names(cls, name)
    environ = _environment(cls)
    variable = next((variable for variable in names if variable in environ), names[0])
    given = detail["input"]
    if isinstance(given, str) and given:
        # A validator may quote the value it rejects, credentials and all.
        public = _public_value(name, cls.model_fields[name].annotation, given)
        if public != given:
            message = message.replace(given, _display(public))
    return f"{variable}: {message}"


def _environment(cls: type[BaseSettings]) -> set[str]:
    if cls.model_config.get("case_sensitive", False):
        return set(os.environ)
    return {variable.upper() for variable in os.environ}


def _public_value(name: str, annotation: object, value: object) -> JsonValue:
    if isinstance(value, Path):
        return str(value)  # where a key lives, not the key
    if _holds_secret(annotation) or any(word in name.lower() for word in SECRET_WORDS):
        return MASK if value else None
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    text = str(value)
    return _hide_url_password(text) if name.endswith("_url") else text


def _holds_secret(annotation: object) -> bool:
    if annotation is SecretStr:
        return True
    if get_origin(annotation) in (Union, types.UnionType, list, tuple, set, frozenset):
        return any(_holds_secret(argument) for argument in get_args(annotation))
    return False


def _hide_url_password(text: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except ArgumentError:
        # Not a URL (host:port, say); one with credentials in it is hidden whole.
        return MASK if "@" in text else text
    hidden = {key: "***" for key in url.query if any(word in key.lower() for word in SECRET_WORDS)}
    if url.password is None and not hidden:
        return text
    rendered = url.update_query_dict(hidden).render_as_string(hide_password=True)
    # The query is percent-encoded on the way out; show its mask as the password's reads.
    return rendered.replace("%2A%2A%2A", "***")


def _display(value: JsonValue) -> str:
    if value is None:
        return NOT_SET
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)
