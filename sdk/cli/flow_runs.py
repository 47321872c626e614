"""``runplane flow-run``: list, inspect and read the logs of flow runs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from runplane._client import RunplaneClient
from runplane._errors import NotFound
from runplane._models import (
    FlowRun,
    FlowRunFilter,
    LogFilter,
    LogRecord,
    State,
    StateType,
    every_item,
)
from runplane._settings import Settings
from runplane._sync_client import SyncRunplaneClient
from runplane.cli.formatting import time_text

flow_run_app = typer.Typer(
    no_args_is_help=True, help="Inspect, cancel, resume and retry flow runs."
)
console = Console()

_STATE_STYLES = {
    StateType.COMPLETED: "green",
    StateType.FAILED: "red",
    StateType.CRASHED: "bold red",
    StateType.CANCELLED: "dim",
    StateType.CANCELLING: "dim",
    StateType.RUNNING: "blue",
    StateType.PENDING: "yellow",
    StateType.SCHEDULED: "yellow",
    StateType.PAUSED: "magenta",
}


@flow_run_app.command("ls")
def list_runs(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many runs to show.")] = 20,
    state: Annotated[
        list[StateType] | None,
        typer.Option(case_sensitive=False, help="Only runs in this state type (repeatable)."),
    ] = None,
    flow: Annotated[str | None, typer.Option(help="Only runs of the flow with this name.")] = None,
) -> None:
    """List flow runs, newest first."""
    with SyncRunplaneClient() as client:
        flow_ids: tuple[uuid.UUID, ...] = ()
        if flow is not None:
            try:
                flow_ids = (client.get_flow_by_name(flow).id,)
            except NotFound:
                console.print(f"no flow named {flow!r}")
                raise typer.Exit(1) from None
        run_filter = FlowRunFilter(state_types=tuple(state or ()), flow_ids=flow_ids)
        runs = client.list_flow_runs(run_filter, page_size=limit).items
    table = Table(box=None)
    table.add_column("ID", no_wrap=True, min_width=36)
    for column in ("Name", "Flow", "State", "Start time", "Duration"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            str(run.id),
            run.name,
            run.flow_name,
            _state_text(run.state),
            time_text(run.start_time),
            _duration(run),
        )
    console.print(table if runs else "no flow runs")


@flow_run_app.command("inspect")
def inspect_run(flow_run_id: Annotated[uuid.UUID, typer.Argument(help="The flow run id.")]) -> None:
    """Show a flow run's details and state history."""
    with SyncRunplaneClient() as client:
        run = _get(client, flow_run_id)
        states = client.list_flow_run_states(flow_run_id, page_size=500).items
        errors = _error_lines(client, run)
    details = Table(box=None, show_header=False)
    details.add_column(style="bold")
    details.add_column()
    for label, value in _details(run):
        details.add_row(label, value)
    console.print(details)
    history = Table("Time", "State", "Message", title="State history", box=None)
    for state in states:
        history.add_row(time_text(state.timestamp), _state_text(state), state.message)
    console.print(history)
    if errors:
        console.rule("Errors")
        for record in errors:
            # markup off: a traceback's brackets are text, not styles
            console.print(record.message, markup=False, highlight=False)


def _error_lines(client: SyncRunplaneClient, run: FlowRun) -> list[LogRecord]:
    """A failed or crashed run's ERROR log lines, which hold its tracebacks."""
    if run.state is None or run.state.type not in (StateType.FAILED, StateType.CRASHED):
        return []
    log_filter = LogFilter(flow_run_id=run.id, min_level=logging.ERROR)
    return list(client.list_logs(log_filter, page_size=200).items)


@flow_run_app.command("logs")
def show_logs(
    flow_run_id: Annotated[uuid.UUID, typer.Argument(help="The flow run id.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")
    ] = False,
) -> None:
    """Print a flow run's log lines, oldest first."""
    log_filter = LogFilter(flow_run_id=flow_run_id)
    with SyncRunplaneClient() as client:
        _get(client, flow_run_id)
        if follow:
            settings = client.settings
        else:
            _print_stored(client, log_filter)
            return
    # Followed on the async client: Ctrl-C cancels the stream task and closes the call cleanly.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_follow(settings, log_filter))


async def _follow(settings: Settings, log_filter: LogFilter) -> None:
    async with RunplaneClient(settings) as client:
        async for record in client.follow_logs(log_filter):
            _print_record(record)


def _print_stored(client: SyncRunplaneClient, log_filter: LogFilter) -> None:
    pages = functools.partial(client.list_logs, log_filter, page_size=500)
    for record in every_item(lambda token: pages(page_token=token)):
        _print_record(record)


def _get(client: SyncRunplaneClient, flow_run_id: uuid.UUID) -> FlowRun:
    try:
        return client.get_flow_run(flow_run_id)
    except NotFound:
        console.print(f"no flow run with id {flow_run_id}")
        raise typer.Exit(1) from None


def _details(run: FlowRun) -> list[tuple[str, str]]:
    return [
        ("ID", str(run.id)),
        ("Name", run.name),
        ("Flow", f"{run.flow_name} ({run.flow_id})"),
        (
            "State",
            _state_text(run.state)
            + (f" - {run.state.message}" if run.state and run.state.message else ""),
        ),
        ("Parameters", str(run.parameters)),
        ("Tags", ", ".join(run.tags) or "-"),
        ("Runs", str(run.run_count)),
        ("Created", time_text(run.create_time)),
        ("Started", time_text(run.start_time)),
        ("Ended", time_text(run.end_time)),
        ("Duration", _duration(run)),
        ("Deployment", str(run.deployment_id) if run.deployment_id else "-"),
        ("Runtime", run.runtime),
        ("Parent task run", str(run.parent_task_run_id) if run.parent_task_run_id else "-"),
    ]


def _state_text(state: State | None) -> str:
    if state is None:
        return "-"
    style = _STATE_STYLES.get(state.type, "")
    return f"[{style}]{state.name}[/]" if style else state.name


def _duration(run: FlowRun) -> str:
    """The run time so far for a running run, else the recorded total."""
    spent = run.total_run_time
    if run.state is not None and run.state.is_running() and run.start_time is not None:
        spent = datetime.now(UTC) - run.start_time
    if spent <= timedelta(0) and run.start_time is None:
        return "-"
    return f"{spent.total_seconds():.3f}s"


def _print_record(record: LogRecord) -> None:
    level = logging.getLevelName(record.level)
    console.print(
        f"{time_text(record.timestamp)} | {level:<7} | {record.logger_name} - {record.message}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
