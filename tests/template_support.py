"""Migrated databases in a fraction of a migration's time: a test session migrates one
template per database kind, and each test gets a copy.

A SQLite copy is a file copy. A PostgreSQL copy is ``CREATE DATABASE ... TEMPLATE``, which
PostgreSQL makes block by block without replaying anything. Both are made the way the server
migrates at start (``runplane.server.db.migrate.upgrade``), so that a copy is what a server
would have built, and a server started on one finds it at head and skips the upgrade.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from runplane.server.db.engine import Database
from runplane.server.db.migrate import upgrade

ADMIN_URL_ENV = "RUNPLANE_TEST_POSTGRES_URL"
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def migrate(url: str) -> None:
    """Brings the database at ``url`` to head, as a server does when it starts."""

    async def _upgrade() -> None:
        database = Database(url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    asyncio.run(_upgrade())


def migrated_sqlite_file(path: Path) -> Path:
    """Migrates a new SQLite file at ``path``, whole in its main file, to copy from."""
    migrate(sqlite_url(path))
    # The server's connections use WAL. Move every page into the main file and let the
    # last connection remove the log, so that copying the main file alone copies it all.
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    leftovers = [p.name for p in path.parent.glob(f"{path.name}-*")]
    assert leftovers == [], f"the template left {leftovers} beside it; a copy would lack them"
    return path


def copy_sqlite_file(template: Path, target: Path) -> str:
    """A copy of the template at ``target``; its URL."""
    shutil.copyfile(template, target)
    return sqlite_url(target)


def libpq_url(sqlalchemy_url: str) -> str:
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


def unique_database_name(kind: str) -> str:
    return f"runplane_{kind}_{uuid.uuid4().hex[:12]}"


class PostgresDatabases:
    """Creates and drops this session's PostgreSQL databases through one admin connection."""

    def __init__(self, admin_url: str, admin: psycopg.Connection) -> None:
        self._admin_url = admin_url
        self._admin = admin
        self._template: str | None = None

    @classmethod
    def connect(cls) -> PostgresDatabases:
        """Connects as admin; skips the test when PostgreSQL is unreachable, except in CI."""
        admin_url = os.environ.get(ADMIN_URL_ENV, DEFAULT_ADMIN_URL)
        try:
            admin = psycopg.connect(libpq_url(admin_url), autocommit=True, connect_timeout=3)
        except psycopg.OperationalError as error:
            message = f"PostgreSQL is not reachable at {admin_url} (set {ADMIN_URL_ENV}): {error}"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        return cls(admin_url, admin)

    def url(self, name: str) -> str:
        return make_url(self._admin_url).set(database=name).render_as_string(hide_password=False)

    def create_empty(self) -> str:
        """A new database with no schema; its URL."""
        name = unique_database_name("test")
        self._admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_migrated(self) -> str:
        """A new database at head, copied from this session's template; its URL."""
        if self._template is None:
            template_url = self.create_empty()
            try:
                migrate(template_url)  # disposes its engine: a template must have no connections
            except BaseException:
                self.drop(template_url)
                raise
            self._template = make_url(template_url).database
        name = unique_database_name("test")
        self._admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        return self.url(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        try:
            if self._template is not None:
                self.drop(self.url(self._template))
        finally:
            self._admin.close()
