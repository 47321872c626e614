"""``runplane flow-run``: list, inspect and read the logs of flow runs."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from runplane._client.client import RunplaneClient
from runplane._client.errors import NotFound
from runplane._client.models import (
    FlowRun,
    FlowRunFilter,
    LogFilter,
    LogRecord,
    State,
    StateType,
    every_item,
)
from runplane._client.settings import Settings
from runplane._client.sync_client import SyncRunplaneClient, run_on_shared_loop
from runplane.cli import ids
from runplane.cli.clients import reading_client
from runplane.cli.formatting import stdout_console, terminal_safe, time_text
from runplane.cli.help_layout import CommandGroup
from runplane.cli.output import (
    Cell,
    Column,
    OutputFormat,
    OutputOption,
    print_data,
    print_table,
    structured_text,
)

flow_run_app = CommandGroup(
    no_args_is_help=True, help="Inspect, cancel, resume and retry flow runs."
)

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
    deployment: Annotated[
        str | None,
        typer.Option(help='Only runs of this deployment: "flow/name", its id or an id prefix.'),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="Only runs with this tag (repeat: all of them).")
    ] = None,
    work_pool: Annotated[
        str | None, typer.Option(help="Only runs in the work pool with this name.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only runs due to start at or after this: an ISO time, or an age like "
            "30m, 12h or 7d."
        ),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List flow runs, newest first."""
    after = _since(since)
    with reading_client() as client:
        flow_ids: tuple[uuid.UUID, ...] = ()
        if flow is not None:
            try:
                flow_ids = (client.get_flow_by_name(flow).id,)
            except NotFound:
                stdout_console().print(f"no flow named {flow!r}", markup=False)
                raise typer.Exit(1) from None
        deployment_ids = () if deployment is None else (_deployment_id(client, deployment),)
        run_filter = FlowRunFilter(
            state_types=tuple(state or ()),
            flow_ids=flow_ids,
            deployment_ids=deployment_ids,
            tags=tuple(tag or ()),
            work_pool_name=work_pool,
            expected_start_time_after=after,
        )
        runs = client.list_flow_runs(run_filter, page_size=limit).items
    if print_data(runs, output):
        return
    rows: list[list[Cell]] = [
        [
            str(run.id),
            run.name,
            run.flow_name,
            state_cell(run.state),
            time_text(run.start_time),
            _duration(run),
            str(run.deployment_id or "-"),
            run.work_pool_name or "-",
            ", ".join(run.tags) or "-",
            time_text(run.create_time),
        ]
        for run in runs
    ]
    print_table(stdout_console(), RUN_COLUMNS, rows, output, empty="no flow runs")


RUN_COLUMNS = (
    Column("ID", no_wrap=True),
    Column("Name"),
    Column("Flow"),
    Column("State", no_wrap=True),
    Column("Start time", no_wrap=True),
    Column("Duration", no_wrap=True),
    Column("Deployment", wide=True, no_wrap=True),
    Column("Work pool", wide=True),
    Column("Tags", wide=True),
    Column("Created", wide=True, no_wrap=True),
)


def _deployment_id(client: SyncRunplaneClient, text: str) -> uuid.UUID:
    if "/" not in text:
        return ids.deployment_id(client, text)
    try:
        deployment = client.get_deployment_by_name(text)
    except NotFound:
        stdout_console().print(f"no deployment named {text!r}", markup=False)
        raise typer.Exit(1) from None
    assert deployment.id is not None  # a stored deployment has one
    return deployment.id


_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _since(text: str | None) -> datetime | None:
    """The moment ``--since`` names: an age before now, or an ISO time (local if naive)."""
    if text is None:
        return None
    age = _AGE.fullmatch(text.strip())
    if age is not None:
        return datetime.now(UTC) - timedelta(**{_AGE_UNITS[age[2]]: float(age[1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither an ISO time nor an age like 30m, 12h or 7d",
            param_hint="--since",
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


@flow_run_app.command("inspect")
def inspect_run(
    flow_run_id: ids.FlowRunIdArgument, output: OutputOption = OutputFormat.TABLE
) -> None:
    """Show a flow run's details and state history."""
    with reading_client() as client:
        run = _get(client, ids.flow_run_id(client, flow_run_id))
        states = client.list_flow_run_states(run.id, page_size=500).items
        errors = _error_lines(client, run)
    if output in (OutputFormat.JSON, OutputFormat.YAML):
        plain = run.model_dump(mode="json")
        plain["state_history"] = [state.model_dump(mode="json") for state in states]
        plain["errors"] = [record.model_dump(mode="json") for record in errors]
        sys.stdout.write(structured_text(plain, output))
        return
    print_table(stdout_console(), _DETAIL_COLUMNS, _details(run), show_header=False)
    stdout_console().print("State history", style="italic")
    history: list[list[Cell]] = [[time_text(s.timestamp), state_cell(s), s.message] for s in states]
    print_table(stdout_console(), _HISTORY_COLUMNS, history)
    if errors:
        stdout_console().rule("Errors")
        for record in errors:
            # markup off: a traceback's brackets are text, not styles
            stdout_console().print(terminal_safe(record.message), markup=False, highlight=False)


_DETAIL_COLUMNS = (Column("Field", no_wrap=True), Column("Value"))
_HISTORY_COLUMNS = (Column("Time", no_wrap=True), Column("State", no_wrap=True), Column("Message"))


def _error_lines(client: SyncRunplaneClient, run: FlowRun) -> list[LogRecord]:
    """A failed or crashed run's ERROR log lines, which hold its tracebacks."""
    if run.state is None or run.state.type not in (StateType.FAILED, StateType.CRASHED):
        return []
    log_filter = LogFilter(flow_run_id=run.id, min_level=logging.ERROR)
    return list(client.list_logs(log_filter, page_size=200).items)


@flow_run_app.command("logs")
def show_logs(
    flow_run_id: ids.FlowRunIdArgument,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")
    ] = False,
) -> None:
    """Print a flow run's log lines, oldest first."""
    with reading_client() as client:
        run = _get(client, ids.flow_run_id(client, flow_run_id))
        log_filter = LogFilter(flow_run_id=run.id)
        if follow:
            settings = client.settings
        else:
            _print_stored(client, log_filter)
            return
    # Followed on the async client: Ctrl-C cancels the stream task and closes the call cleanly.
    with contextlib.suppress(KeyboardInterrupt):
        run_on_shared_loop(_follow(settings, log_filter))


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
        stdout_console().print(f"no flow run with id {flow_run_id}", markup=False)
        raise typer.Exit(1) from None


def _details(run: FlowRun) -> list[list[Cell]]:
    state = state_cell(run.state)
    if run.state and run.state.message:
        state = Text.assemble(state, f" - {run.state.message}")
    return [
        ["ID", str(run.id)],
        ["Name", run.name],
        ["Flow", f"{run.flow_name} ({run.flow_id})"],
        ["State", state],
        ["Parameters", json.dumps(run.parameters, ensure_ascii=False)],
        ["Tags", ", ".join(run.tags) or "-"],
        ["Runs", str(run.run_count)],
        ["Created", time_text(run.create_time)],
        ["Started", time_text(run.start_time)],
        ["Ended", time_text(run.end_time)],
        ["Duration", _duration(run)],
        ["Deployment", str(run.deployment_id) if run.deployment_id else "-"],
        ["Work pool", run.work_pool_name or "-"],
        ["Runtime", run.runtime],
        ["Parent task run", str(run.parent_task_run_id) if run.parent_task_run_id else "-"],
        *_awaited_input(run),
    ]


def _awaited_input(run: FlowRun) -> list[list[Cell]]:
    """The JSON Schema of the input a run paused for input waits for, as a row."""
    state = run.state
    if state is None or state.type is not StateType.PAUSED:
        return []
    schema = state.details.pause_input_schema_json
    return [["Waits for input", schema]] if schema else []


def state_cell(state: State | None) -> Text:
    """The state's name in its colour."""
    if state is None:
        return Text("-")
    return Text(state.name, style=_STATE_STYLES.get(state.type, ""))


def state_markup(state: State | None) -> str:
    """The state's name in its colour, as rich markup (the name made terminal-safe)."""
    if state is None:
        return "-"
    name = escape(terminal_safe(state.name))
    style = _STATE_STYLES.get(state.type, "")
    return f"[{style}]{name}[/]" if style else name


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
    line = f"{time_text(record.timestamp)} | {level:<7} | {record.logger_name} - {record.message}"
    stdout_console().print(
        terminal_safe(line),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
