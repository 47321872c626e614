"""Fixtures shared by every test tier.

Integration tests run against a real gRPC server on a free loopback port, once on
SQLite and once on PostgreSQL. Every database a test gets is already migrated: the session
migrates one template per kind and copies it (see ``template_support``), so a server
started on it skips the upgrade. Each test session creates its own PostgreSQL database and
drops it at the end; tests share it, so they scope what they assert by the ids and unique
names they create. Without a reachable PostgreSQL those tests skip, except in CI
(``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from template_support import (
    PostgresDatabases,
    copy_sqlite_file,
    migrated_sqlite_file,
    sqlite_url,
)

from runplane.server import RunplaneServer, ServerSettings, create_server

# Servers that tests start as processes serve only the API, so that they need no second port
# (and several can run at once); the dashboard's tests turn it on where they test it.
os.environ.setdefault("RUNPLANE_SERVER_DASHBOARD_ENABLED", "false")

# The tests started and not finished, so that a run interrupted at a time limit says which.
_unfinished: dict[str, None] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    _unfinished[item.nodeid] = None
    result = yield
    del _unfinished[item.nodeid]  # not reached when the run is interrupted
    return result


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    if exitstatus == pytest.ExitCode.INTERRUPTED and _unfinished:
        terminalreporter.section("interrupted while running")
        for nodeid in _unfinished:
            terminalreporter.line(nodeid)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """Creates this session's PostgreSQL databases; drops its template at the end."""
    databases = PostgresDatabases.connect()
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test's database is copied from."""
    return migrated_sqlite_file(tmp_path_factory.mktemp("template") / "runplane.db")


@pytest.fixture(scope="session")
def postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """A migrated database of this test session's own, dropped at the end."""
    url = postgres_databases.create_migrated()
    try:
        yield url
    finally:
        postgres_databases.drop(url)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database: the test's own SQLite file, or the session's PostgreSQL one."""
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_database_url")
    else:
        url = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def sqlite_database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite file of the test's own: for tests the database kind does not concern."""
    return copy_sqlite_file(sqlite_template, tmp_path / "runplane.db")


@pytest.fixture
def private_database_url(request: pytest.FixtureRequest, database_url: str) -> Iterator[str]:
    """A migrated database no other test writes to: for a test whose server acts on every row."""
    if not database_url.startswith("postgresql"):
        yield database_url  # the SQLite file is the test's own already
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = databases.create_migrated()
    try:
        yield url
    finally:
        databases.drop(url)


@pytest.fixture(params=["sqlite", "postgres"])
def unmigrated_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database no migration has touched: for tests of the migrations themselves."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "runplane.db")
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = databases.create_empty()
    try:
        yield url
    finally:
        databases.drop(url)


@pytest.fixture
def server_settings(database_url: str, tmp_path: Path) -> ServerSettings:
    return ServerSettings(home=tmp_path, database_url=database_url, host="127.0.0.1", port=0)


@pytest.fixture
async def server(server_settings: ServerSettings) -> AsyncIterator[RunplaneServer]:
    """A started server on a free loopback port."""
    async with await create_server(server_settings) as running:
        yield running
