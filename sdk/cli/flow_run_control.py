"""``runplane flow-run cancel``, ``resume``, ``retry`` and ``watch``."""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from runplane._client.client import RunplaneClient
from runplane._client.errors import InvalidArgument, NotFound
from runplane._client.models import (
    TERMINAL_STATE_TYPES,
    FlowRun,
    FlowRunChange,
    FlowRunFilter,
    OrchestrationStatus,
    State,
    StateType,
)
from runplane._client.sync_client import SyncRunplaneClient, run_on_shared_loop
from runplane.cli import ids
from runplane.cli.clients import reading_client, reading_settings
from runplane.cli.exit_codes import ExitCode, for_final_states
from runplane.cli.flow_runs import flow_run_app, state_cell
from runplane.cli.flow_runs import state_markup as state_text
from runplane.cli.formatting import stdout_console, terminal_safe, time_text
from runplane.cli.output import Cell, Column, safe_cell


@flow_run_app.command("cancel")
def cancel_run(flow_run_id: ids.FlowRunIdArgument) -> None:
    """Cancel a flow run: a running one is stopped by its runner, others end at once."""
    with SyncRunplaneClient() as client:
        run_id = ids.flow_run_id(client, flow_run_id)
        try:
            result = client.set_flow_run_state(
                run_id, State(type=StateType.CANCELLING, message="cancelled from the CLI")
            )
        except NotFound:
            stdout_console().print(f"no flow run {flow_run_id}")
            raise typer.Exit(1) from None
    if result.state is None or result.state.type not in (
        StateType.CANCELLING,
        StateType.CANCELLED,
    ):
        reason = result.reason or "the run cannot be cancelled"
        stdout_console().print(f"not cancelled: {reason}", markup=False)
        raise typer.Exit(1)
    stdout_console().print(f"flow run {run_id} is {state_text(result.state)}")


@flow_run_app.command("resume")
def resume_run(
    flow_run_id: ids.FlowRunIdArgument,
    run_input: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="The input a run paused with wait_for_input waits for, as JSON: '{\"x\": 1}'.",
        ),
    ] = None,
) -> None:
    """Resume a flow run that paused (pause_flow_run) or suspended (suspend_flow_run) itself."""
    from runplane._engine.errors import RunAborted
    from runplane._engine.pauses import resume_with_input_json

    run_id = ids.as_uuid(flow_run_id)
    if run_id is None:
        with SyncRunplaneClient() as client:
            run_id = ids.flow_run_id(client, flow_run_id)
    try:
        state = resume_with_input_json(run_id, run_input)
    except NotFound:
        stdout_console().print(f"no flow run {flow_run_id}")
        raise typer.Exit(1) from None
    except (RunAborted, InvalidArgument) as error:
        stdout_console().print(f"not resumed: {terminal_safe(str(error))}", markup=False)
        raise typer.Exit(1) from None
    stdout_console().print(f"flow run {run_id} is {state_text(state)}")


@flow_run_app.command("retry")
def retry_run(flow_run_id: ids.FlowRunIdArgument) -> None:
    """Run a finished flow run again, from its start, on a runner of its work pool."""
    with SyncRunplaneClient() as client:
        run_id = ids.flow_run_id(client, flow_run_id)
        try:
            run = client.get_flow_run(run_id)
        except NotFound:
            stdout_console().print(f"no flow run {flow_run_id}")
            raise typer.Exit(1) from None
        if run.work_pool_name is None:
            # A flow called directly has no runner to start it again.
            stdout_console().print(
                "not retried: only a run of a work pool has a runner to run it again"
            )
            raise typer.Exit(1)
        if run.state is None or run.state.type not in TERMINAL_STATE_TYPES:
            stdout_console().print(f"not retried: it is {state_text(run.state)}, not finished")
            raise typer.Exit(1)
        retried = State(
            type=StateType.SCHEDULED, name="AwaitingRetry", message="retried from the CLI"
        )
        result = client.set_flow_run_state(run_id, retried)
    if result.status is not OrchestrationStatus.ACCEPT or result.state is None:
        reason = terminal_safe(result.reason or "the server refused it")
        stdout_console().print(f"not retried: {reason}", markup=False)
        raise typer.Exit(1)
    stdout_console().print(f"flow run {run_id} is {state_text(result.state)}")


_WATCH_COLUMNS = (
    Column("ID", no_wrap=True),
    Column("Name"),
    Column("Flow"),
    Column("State", no_wrap=True),
    Column("Message"),
)


def changes_table(runs: dict[uuid.UUID, FlowRun]) -> Table:
    """The watched runs, newest change last."""
    table = Table(box=None)
    for column in _WATCH_COLUMNS:
        table.add_column(column.header, no_wrap=column.no_wrap)
    for run in runs.values():
        message = run.state.message if run.state else ""
        cells: list[Cell] = [str(run.id), run.name, run.flow_name, state_cell(run.state), message]
        table.add_row(*(safe_cell(cell) for cell in cells))
    return table


def change_line(change: FlowRunChange) -> str:
    """One change as a line of text: its time, the run's id, name and flow, the new state
    and its message; tab-separated so that scripts can split it."""
    run = change.flow_run
    fields = [
        time_text(change.state.timestamp),
        str(run.id),
        run.name,
        run.flow_name,
        change.state.name,
        " ".join(change.state.message.split()),
    ]
    return terminal_safe("\t".join(fields))


async def _watch(run_filter: FlowRunFilter, until_final: bool) -> dict[uuid.UUID, FlowRun]:
    runs: dict[uuid.UUID, FlowRun] = {}
    async with RunplaneClient(reading_settings()) as client:
        changes = client.watch_flow_runs(run_filter, include_current=True)
        async with contextlib.aclosing(changes):
            if stdout_console().is_terminal:
                with Live(
                    changes_table(runs), console=stdout_console(), auto_refresh=False
                ) as live:
                    async for change in changes:
                        _apply(runs, change)
                        live.update(changes_table(runs), refresh=True)
                        if until_final and _all_final(runs):
                            break
                return runs
            # Not a terminal: a line a change, written at once, so a pipe or a log file sees
            # each change as it happens.
            async for change in changes:
                _apply(runs, change)
                print(change_line(change), flush=True)
                if until_final and _all_final(runs):
                    break
    return runs


def _apply(runs: dict[uuid.UUID, FlowRun], change: FlowRunChange) -> None:
    runs.pop(change.flow_run.id, None)
    runs[change.flow_run.id] = change.flow_run.model_copy(update={"state": change.state})


def _all_final(runs: dict[uuid.UUID, FlowRun]) -> bool:
    return bool(runs) and all(
        run.state is not None and run.state.type in TERMINAL_STATE_TYPES for run in runs.values()
    )


@flow_run_app.command("watch")
def watch_runs(
    flow_run_ids: Annotated[
        list[str] | None,
        typer.Argument(help="Runs to watch (ids or unique prefixes); all runs when none."),
    ] = None,
    deployment: Annotated[
        str | None, typer.Option(help="Only runs of this deployment (its id or an id prefix).")
    ] = None,
    pool: Annotated[str | None, typer.Option(help="Only runs on this work pool.")] = None,
) -> None:
    """Show flow runs' states live as they change; not on a terminal, one line a change.

    With run ids it ends when all are final, and exits 0 only if all completed (3 if one did
    not; 130 on Ctrl-C).
    """
    with reading_client() as client:
        run_ids = tuple(ids.flow_run_id(client, text) for text in flow_run_ids or ())
        deployment_id = None if deployment is None else ids.deployment_id(client, deployment)
    run_filter = FlowRunFilter(
        flow_run_ids=run_ids,
        deployment_ids=(deployment_id,) if deployment_id else (),
        work_pool_name=pool,
    )
    try:
        runs = run_on_shared_loop(_watch(run_filter, until_final=bool(run_ids)))
    except KeyboardInterrupt:
        raise typer.Exit(ExitCode.INTERRUPTED if run_ids else ExitCode.OK) from None
    if run_ids:
        raise typer.Exit(for_final_states([runs[i].state if i in runs else None for i in run_ids]))
