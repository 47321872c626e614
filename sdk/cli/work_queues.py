"""``runplane work-queue``: list and create a work pool's queues, pause and resume them, and
set their priorities and concurrency limits."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from runplane._client.errors import NotFound
from runplane._client.models import WorkQueue
from runplane._client.sync_client import SyncRunplaneClient
from runplane.cli.clients import reading_client
from runplane.cli.formatting import stdout_console
from runplane.cli.help_layout import CommandGroup
from runplane.cli.output import Column, OutputFormat, OutputOption, print_data, print_table

work_queue_app = CommandGroup(no_args_is_help=True, help="Manage the queues of work pools.")

PoolArgument = Annotated[str, typer.Argument(help="The work pool's name.")]
NameArgument = Annotated[str, typer.Argument(help="The queue's name, unique within the pool.")]


def _missing(error: NotFound, pool: str, name: str | None = None) -> typer.Exit:
    """Prints which of the two is missing, the pool or its queue; the exit to raise."""
    if name is None or error.reason == "WORK_POOL_NOT_FOUND":
        stdout_console().print(f"no work pool named {pool!r}", markup=False)
    else:
        stdout_console().print(f"work pool {pool!r} has no queue named {name!r}", markup=False)
    return typer.Exit(1)


_QUEUE_COLUMNS = (Column("Queue"), Column("Priority"), Column("Limit"), Column("Paused"))


def print_queues(queues: list[WorkQueue], output: OutputFormat) -> None:
    """The queues as a table, the first served first."""
    rows = [
        [
            queue.name,
            str(queue.priority),
            "" if queue.concurrency_limit is None else str(queue.concurrency_limit),
            "yes" if queue.paused else "",
        ]
        for queue in queues
    ]
    print_table(stdout_console(), _QUEUE_COLUMNS, rows, output)


@work_queue_app.command("ls")
def list_queues(pool: PoolArgument, output: OutputOption = OutputFormat.TABLE) -> None:
    """List a work pool's queues, the first served first."""
    with reading_client() as client:
        try:
            queues = client.list_work_queues(pool)
        except NotFound as error:
            raise _missing(error, pool) from None
    if not print_data(queues, output):
        print_queues(queues, output)


@work_queue_app.command("create")
def create_queue(
    pool: PoolArgument,
    name: NameArgument,
    priority: Annotated[
        int | None,
        typer.Option(min=1, help="Lower numbers are served first; after the others when unset."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=0, help="Most runs active from the queue at once.")
    ] = None,
) -> None:
    """Create a queue in a work pool (a queue of that name is left as it is)."""
    with SyncRunplaneClient() as client:
        try:
            queue = client.create_work_queue(
                pool, name, priority=priority or 0, concurrency_limit=limit
            )
        except NotFound as error:
            raise _missing(error, pool) from None
    stdout_console().print(f"work queue {pool}/{name} has priority {queue.priority}")


def _update(pool: str, name: str, **fields: Any) -> WorkQueue:
    with SyncRunplaneClient() as client:
        try:
            return client.update_work_queue(pool, name, **fields)
        except NotFound as error:
            raise _missing(error, pool, name) from None


@work_queue_app.command("pause")
def pause_queue(pool: PoolArgument, name: NameArgument) -> None:
    """Pause a queue: its runs go to no runner until it is resumed."""
    _update(pool, name, paused=True)
    stdout_console().print(f"work queue {pool}/{name} paused")


@work_queue_app.command("resume")
def resume_queue(pool: PoolArgument, name: NameArgument) -> None:
    """Resume a paused queue; its due runs go to the pool's runners at once."""
    _update(pool, name, paused=False)
    stdout_console().print(f"work queue {pool}/{name} resumed")


@work_queue_app.command("set-limit")
def set_queue_limit(
    pool: PoolArgument,
    name: NameArgument,
    limit: Annotated[int, typer.Argument(min=0, help="Most runs active from the queue at once.")],
) -> None:
    """Set how many of a queue's runs may be active at once."""
    _update(pool, name, concurrency_limit=limit)
    stdout_console().print(f"work queue {pool}/{name} runs at most {limit} at once")


@work_queue_app.command("clear-limit")
def clear_queue_limit(pool: PoolArgument, name: NameArgument) -> None:
    """Remove a queue's concurrency limit."""
    _update(pool, name, concurrency_limit=None)
    stdout_console().print(f"work queue {pool}/{name} has no concurrency limit")


@work_queue_app.command("set-priority")
def set_queue_priority(
    pool: PoolArgument,
    name: NameArgument,
    priority: Annotated[int, typer.Argument(min=1, help="Lower numbers are served first.")],
) -> None:
    """Set a queue's priority among the pool's queues."""
    _update(pool, name, priority=priority)
    stdout_console().print(f"work queue {pool}/{name} has priority {priority}")
