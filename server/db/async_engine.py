"""SQLAlchemy's engine driven from asyncio, as its asyncio extension drives it, without it.

``sqlalchemy.ext.asyncio`` imports the ORM for its sessions, which the server does not use:
a tenth of a SQLite server's start-up, paid by the first flow of every process on the
embedded default. Its engine and connection are thin: each call runs the sync engine's
method in a greenlet (``greenlet_spawn``), where the async driver's awaits are bridged
back to the event loop. These are the same, for the calls the server makes.

Results come back buffered, as from ``AsyncConnection.execute``: the async drivers read
every row while executing, and the driver's cursor is closed before the result returns,
since closing it later, outside a greenlet, could not await.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    ParamSpec,
    Self,
    TypeVar,
    TypeVarTuple,
    overload,
)

from sqlalchemy import create_engine
from sqlalchemy.util import greenlet_spawn

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, CursorResult, Dialect, Engine, Transaction
    from sqlalchemy.engine.interfaces import IsolationLevel
    from sqlalchemy.sql.base import Executable
    from sqlalchemy.sql.selectable import TypedReturnsRows

__all__ = ["AsyncConnection", "AsyncEngine", "create_async_engine"]

P = ParamSpec("P")
T = TypeVar("T")
Ts = TypeVarTuple("Ts")
R = TypeVar("R", bound="CursorResult[*tuple[Any, ...]]")
_Parameters = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


def create_async_engine(url: str, **options: Any) -> AsyncEngine:
    """An engine on the async flavour of the URL's driver (``postgresql+psycopg`` ->
    psycopg's async dialect), as ``sqlalchemy.ext.asyncio.create_async_engine`` makes one."""
    # ``_is_async`` is how SQLAlchemy's own create_async_engine asks for that flavour.
    engine = create_engine(url, _is_async=True, **options)
    if not engine.dialect.is_async:
        raise ValueError(f"the driver {engine.dialect.driver!r} is not an async driver")
    return AsyncEngine(engine)


class AsyncEngine:
    """Hands out `AsyncConnection`s on the pool of ``sync_engine``."""

    def __init__(self, sync_engine: Engine) -> None:
        self.sync_engine = sync_engine
        """The engine itself: for events (``event.listens_for(engine.sync_engine, ...)``)."""

    @property
    def dialect(self) -> Dialect:
        return self.sync_engine.dialect

    def connect(self) -> AsyncConnection:
        """A connection, taken from the pool on ``async with`` or ``await``."""
        return AsyncConnection(self)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed when the block exits without an error."""
        async with self.connect() as conn, conn.begin():
            yield conn

    async def dispose(self) -> None:
        """Closes the pool's connections."""
        await greenlet_spawn(self.sync_engine.dispose)


class AsyncConnection:
    """One pooled connection; its methods are those of SQLAlchemy's ``Connection``, awaited."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sync: Connection | None = None

    async def start(self) -> Self:
        """Takes the connection from the pool; ``async with`` or ``await`` calls this."""
        if self._sync is not None:
            raise RuntimeError("the connection is already started")
        self._sync = await greenlet_spawn(self.engine.sync_engine.connect)
        return self

    def __await__(self) -> Generator[Any, None, Self]:
        return self.start().__await__()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await _to_completion(self.close())

    @property
    def sync_connection(self) -> Connection:
        if self._sync is None:
            raise RuntimeError("the connection is not started: use `async with` or `await`")
        return self._sync

    @property
    def dialect(self) -> Dialect:
        return self.engine.dialect

    @property
    def default_isolation_level(self) -> IsolationLevel | None:
        return self.sync_connection.default_isolation_level

    def begin(self) -> AsyncTransaction:
        """A transaction, for ``async with``: committed on success, rolled back on error."""
        return AsyncTransaction(self)

    async def execution_options(self, **options: Any) -> Self:
        """Sets options on this connection (``isolation_level`` and the like); returns it."""
        await greenlet_spawn(self.sync_connection.execution_options, **options)
        return self

    @overload
    async def execute(
        self, statement: TypedReturnsRows[*Ts], parameters: _Parameters = None
    ) -> CursorResult[*Ts]: ...

    @overload
    async def execute(
        self, statement: Executable, parameters: _Parameters = None
    ) -> CursorResult[*tuple[Any, ...]]: ...

    async def execute(
        self, statement: Executable, parameters: _Parameters = None
    ) -> CursorResult[*tuple[Any, ...]]:
        result = await greenlet_spawn(
            self.sync_connection.execute, statement, parameters, _require_await=True
        )
        return await _buffered(result)

    async def exec_driver_sql(self, statement: str) -> CursorResult[*tuple[Any, ...]]:
        result = await greenlet_spawn(
            self.sync_connection.exec_driver_sql, statement, _require_await=True
        )
        return await _buffered(result)

    async def run_sync(
        self, function: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Calls ``function(sync_connection, ...)``, whose database calls may then block."""
        call = functools.partial(function, self.sync_connection, *args, **kwargs)
        return await greenlet_spawn(call)

    async def commit(self) -> None:
        await greenlet_spawn(self.sync_connection.commit)

    async def rollback(self) -> None:
        await greenlet_spawn(self.sync_connection.rollback)

    async def close(self) -> None:
        """Gives the connection back to the pool (rolling back what is open)."""
        if self._sync is not None:
            await greenlet_spawn(self._sync.close)


class AsyncTransaction:
    """The transaction of ``AsyncConnection.begin()``, as an async context manager."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._sync: Transaction | None = None

    async def __aenter__(self) -> Self:
        self._sync = await greenlet_spawn(self._connection.sync_connection.begin)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._sync is not None
        # The sync transaction's own exit: commit, or roll back on an error.
        await greenlet_spawn(self._sync.__exit__, *exc_info)


async def _buffered(result: R) -> R:
    # The rows are read; the driver's cursor closes now, while it can await.
    cursor = result.cursor
    soft_close = getattr(cursor, "_async_soft_close", None)  # SQLAlchemy 2.0.44 and later
    if soft_close is not None:
        await soft_close()
    return result


async def _to_completion(cleanup: Coroutine[Any, Any, None]) -> None:
    """Runs ``cleanup`` to its end even when the caller is cancelled meanwhile, and re-raises
    that cancellation afterwards: a connection abandoned halfway through its close could go
    back to a pool that was disposed of in the meantime."""
    task = asyncio.create_task(cleanup)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as error:
            if task.done():
                raise
            cancelled = error
        else:
            break
    if cancelled is not None:
        raise cancelled
