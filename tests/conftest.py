"""Fixtures shared by every test tier.

Integration tests run against a real gRPC server on a free loopback port, once on
SQLite and once on PostgreSQL. Each test session creates its own PostgreSQL database
and drops it at the end; tests share it, so they scope what they assert by the ids
and unique names they create. Without a reachable PostgreSQL those tests skip, except
in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from runplane.server import RunplaneServer, ServerSettings, create_server

ADMIN_URL_ENV = "RUNPLANE_TEST_POSTGRES_URL"
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def _libpq_url(sqlalchemy_url: str) -> str:
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test session's own, dropped at the end."""
    admin_url = os.environ.get(ADMIN_URL_ENV, DEFAULT_ADMIN_URL)
    try:
        admin = psycopg.connect(_libpq_url(admin_url), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        message = f"PostgreSQL is not reachable at {admin_url} (set {ADMIN_URL_ENV}): {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    name = f"runplane_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'runplane.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def private_database_url(database_url: str) -> Iterator[str]:
    """A database no other test writes to: for a test whose server acts on every row."""
    if not database_url.startswith("postgresql"):
        yield database_url  # the SQLite file is the test's own already
        return
    name = f"runplane_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq_url(database_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def server_settings(database_url: str, tmp_path: Path) -> ServerSettings:
    return ServerSettings(home=tmp_path, database_url=database_url, host="127.0.0.1", port=0)


@pytest.fixture
async def server(server_settings: ServerSettings) -> AsyncIterator[RunplaneServer]:
    """A started server on a free loopback port."""
    async with await create_server(server_settings) as running:
        yield running
