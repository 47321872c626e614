"""``runplane task-worker start``: serve background tasks; ``runplane task-run ls``: list
task runs, of flows and of their own."""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from runplane._client.errors import NotFound
from runplane._client.models import LogFilter, TaskRunFilter, every_item
from runplane.cli.clients import reading_client
from runplane.cli.formatting import stdout_console, time_text
from runplane.cli.help_layout import CommandGroup
from runplane.cli.output import Column, OutputFormat, OutputOption, print_data, print_table

task_worker_app = CommandGroup(no_args_is_help=True, help="Execute background task runs.")
task_run_app = CommandGroup(no_args_is_help=True, help="List task runs.")


def load_task(reference: str) -> Any:
    """The task named ``module:name`` (or ``path/to/file.py:name``), imported as the code that
    calls ``delay`` imports it, so that both agree on the task's key."""
    from runplane._tasks import Task

    module_name, _, attribute = reference.rpartition(":")
    if not module_name or not attribute:
        raise typer.BadParameter(f"{reference!r} is not module:task", param_hint="TASKS")
    if module_name.endswith(".py") or "/" in module_name:
        path = Path(module_name).resolve()
        sys.path.insert(0, str(path.parent))
        module_name = path.stem
    elif "" not in sys.path:
        sys.path.insert(0, "")  # the current directory, as `python -m` would
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise typer.BadParameter(f"cannot import {module_name}: {error}") from None
    found = getattr(module, attribute, None)
    if not isinstance(found, Task):
        raise typer.BadParameter(f"{reference} is not a @task", param_hint="TASKS")
    return found


@task_worker_app.command("start")
def start(
    tasks: Annotated[list[str], typer.Argument(help="The tasks to serve, as module:task.")],
    limit: Annotated[int, typer.Option(min=1, help="Most task runs in flight at once.")] = 10,
    name: Annotated[
        str | None, typer.Option(help="The worker's name, unique per process; host-pid-random.")
    ] = None,
) -> None:
    """Serve background task runs: each ``task.delay(...)`` is pushed to a worker at once."""
    import asyncio

    from runplane._task_workers.worker import TaskWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    worker = TaskWorker([load_task(reference) for reference in tasks], limit=limit, name=name)

    async def serve() -> None:
        running = asyncio.create_task(worker.run())
        waiter = asyncio.create_task(worker.subscribed.wait())
        await asyncio.wait({running, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if worker.subscribed.is_set():
            stdout_console().print(
                f"task worker {worker.name} subscribed for {', '.join(worker.tasks)}"
            )
        waiter.cancel()
        await running

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


_COLUMNS = (
    Column("Name"),
    Column("ID", no_wrap=True),
    Column("State", no_wrap=True),
    Column("Flow run", no_wrap=True),
    Column("Created", no_wrap=True),
    Column("Task key", wide=True),
)


@task_run_app.command("ls")
def list_task_runs(
    task_key: Annotated[str, typer.Option(help="Only runs of this task key.")] = "",
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List task runs, oldest first; a run of its own shows no flow run."""
    query = TaskRunFilter(task_key=task_key or None)
    with reading_client() as client:
        runs = list(
            every_item(lambda token: client.list_task_runs(query, page_size=200, page_token=token))
        )
    if print_data(runs, output):
        return
    rows = [
        [
            run.name,
            str(run.id),
            run.state.name if run.state else "-",
            str(run.flow_run_id) if run.flow_run_id else "-",
            time_text(run.create_time),
            run.task_key,
        ]
        for run in runs
    ]
    print_table(stdout_console(), _COLUMNS, rows, output, empty="no task runs")


@task_run_app.command("logs")
def show_logs(
    task_run_id: Annotated[str, typer.Argument(help="The task run's id.")],
) -> None:
    """Print a task run's log lines, oldest first."""
    import uuid

    from runplane.cli.flow_runs import _print_stored

    try:
        run_id = uuid.UUID(task_run_id)
    except ValueError:
        raise typer.BadParameter(f"{task_run_id!r} is not a task run id") from None
    with reading_client() as client:
        try:
            client.get_task_run(run_id)
        except NotFound:
            stdout_console().print(f"no task run with id {run_id}", markup=False)
            raise typer.Exit(1) from None
        _print_stored(client, LogFilter(task_run_id=run_id))
