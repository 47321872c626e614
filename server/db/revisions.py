"""Which revisions the migration scripts end at and the database is at, read without Alembic.

Every server start checks whether its database is already at the newest revision. Importing
Alembic and loading its script directory cost more than the rest of a start on SQLite (the
CLI's embedded server starts once per command), so the check reads the scripts'
``revision``/``down_revision`` assignments with ``ast`` and Alembic's version table with one
query; Alembic itself is imported only to migrate. A test compares both answers with
Alembic's own.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

VERSIONS_DIR = Path(__file__).resolve().parent / "migrations" / "versions"
VERSION_TABLE = "alembic_version"
"""Alembic's default version table, which ``migrations/env.py`` keeps."""

_LINKS = ("revision", "down_revision")


# A line that starts an assignment to one of them, at the top level of a script.
_ASSIGNMENT = re.compile(rf"^(?:{'|'.join(_LINKS)})\s*(?::[^=]*)?=")


def _assignments(text: str) -> Iterator[ast.stmt]:
    """The top-level assignments to ``_LINKS`` in ``text``. Each is parsed on its own (from
    its first line to the first that completes it): parsing whole scripts would cost a
    server start on SQLite more than its other checks together."""
    lines = text.splitlines()
    for first, line in enumerate(lines):
        if not _ASSIGNMENT.match(line):
            continue
        for last in range(first + 1, len(lines) + 1):
            try:
                yield from ast.parse("\n".join(lines[first:last])).body
            except SyntaxError:
                continue  # a value that goes on over the next lines
            break


def _links(script: Path) -> dict[str, object]:
    """The script's ``revision`` and ``down_revision`` values (a string, a tuple or None)."""
    found: dict[str, object] = {}
    for node in _assignments(script.read_text(encoding="utf-8")):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in _LINKS:
            found[target.id] = ast.literal_eval(value)
    return found


def _names(value: object) -> Iterable[str]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, tuple | list):
        return tuple(str(item) for item in value)
    raise ValueError(f"a down_revision must be a string, a tuple or None, not {value!r}")


@functools.cache
def head_revisions() -> frozenset[str]:
    """The newest revisions of the migration scripts: those no other script revises."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in sorted(VERSIONS_DIR.glob("*.py")):
        links = _links(script)
        if "revision" not in links:
            continue  # not a migration (the package's __init__)
        revisions.update(_names(links["revision"]))
        revised.update(_names(links.get("down_revision")))
    return frozenset(revisions - revised)


def current_revisions_of(connection: Connection) -> frozenset[str]:
    """The revisions the database is at; empty for a database never migrated."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return frozenset()
    rows = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))
    return frozenset(str(row[0]) for row in rows)
