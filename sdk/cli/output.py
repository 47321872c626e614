"""How ``ls`` and ``inspect`` commands write what they read: a table for people, JSON or YAML
for scripts.

Everything printed here came from the server, so text is made terminal-safe before it is
shown. On a terminal a table is drawn by rich and fits the window; elsewhere (a pipe, a file)
it is plain text in aligned columns that are never cut, so ``grep`` and ``awk`` see whole ids
and states. JSON is the typed models' JSON (``model_dump(mode="json")``): one object for
``inspect``, an array for ``ls``; YAML is the same data.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from runplane.cli.formatting import terminal_safe


class OutputFormat(StrEnum):
    """What ``--output`` may ask for."""

    TABLE = "table"
    WIDE = "wide"
    JSON = "json"
    YAML = "yaml"


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        case_sensitive=False,
        help="table, wide (more columns), json or yaml (the models' fields, for scripts).",
    ),
]

Cell = str | Text
"""A table cell: text, or styled text (a state in its colour)."""


@dataclass(frozen=True)
class Column:
    """A table column; ``wide`` columns appear only with ``--output wide``."""

    header: str
    wide: bool = False
    no_wrap: bool = False


def print_data(data: BaseModel | Sequence[BaseModel], output: OutputFormat) -> bool:
    """Prints ``data`` as JSON or YAML when ``output`` asks for one; whether it did."""
    if output not in (OutputFormat.JSON, OutputFormat.YAML):
        return False
    if isinstance(data, BaseModel):
        plain: Any = data.model_dump(mode="json")
    else:
        plain = [item.model_dump(mode="json") for item in data]
    sys.stdout.write(structured_text(plain, output))
    return True


def structured_text(plain: Any, output: OutputFormat) -> str:
    """``plain`` (JSON-compatible data) as JSON or YAML text with every control character
    escaped, ending with a newline."""
    if output is OutputFormat.YAML:
        import yaml  # here, not at the top: every command loads this module, few print YAML

        # allow_unicode=False: YAML escapes non-printable characters as "\e", "\x9b".
        return str(yaml.safe_dump(plain, sort_keys=False, allow_unicode=False))
    # ensure_ascii: JSON escapes C0 controls anyway; this escapes C1 controls as well.
    return json.dumps(plain, indent=2, ensure_ascii=True) + "\n"


def print_table(
    console: Console,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    output: OutputFormat = OutputFormat.TABLE,
    *,
    empty: str = "",
    show_header: bool = True,
) -> None:
    """Prints the rows, ``empty`` when there are none; wide columns only for ``wide``."""
    if not rows and empty:
        console.print(empty, markup=False, highlight=False)
        return
    shown = [
        i for i, column in enumerate(columns) if output is OutputFormat.WIDE or not column.wide
    ]
    headers = [columns[i].header for i in shown]
    cells = [[safe_cell(row[i]) for i in shown] for row in rows]
    if console.is_terminal:
        table = Table(box=None, show_header=show_header)
        for i in shown:
            table.add_column(columns[i].header, no_wrap=columns[i].no_wrap)
        for line in cells:
            table.add_row(*line)
        console.print(table)
        return
    lines = [headers] if show_header else []
    lines += [[cell.plain for cell in line] for line in cells]
    for text in aligned(lines):
        console.print(text, markup=False, highlight=False, soft_wrap=True)


def aligned(lines: Sequence[Sequence[str]]) -> list[str]:
    """Rows of text in columns padded to their widest cell, two spaces apart, never cut."""
    if not lines:
        return []
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]


def safe_cell(cell: Cell) -> Text:
    if isinstance(cell, Text):
        return Text(terminal_safe(cell.plain), style=cell.style)
    return Text(terminal_safe(cell))
