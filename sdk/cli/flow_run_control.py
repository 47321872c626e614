"""``runplane flow-run cancel``, ``resume``, ``retry`` and ``watch``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from runplane._client import RunplaneClient
from runplane._errors import NotFound
from runplane._models import (
    TERMINAL_STATE_TYPES,
    FlowRun,
    FlowRunChange,
    FlowRunFilter,
    OrchestrationStatus,
    State,
    StateType,
)
from runplane._sync_client import SyncRunplaneClient
from runplane.cli.flow_runs import _state_text as state_text
from runplane.cli.flow_runs import console, flow_run_app


@flow_run_app.command("cancel")
def cancel_run(flow_run_id: Annotated[uuid.UUID, typer.Argument(help="The flow run id.")]) -> None:
    """Cancel a flow run: a running one is stopped by its runner, others end at once."""
    with SyncRunplaneClient() as client:
        try:
            result = client.set_flow_run_state(
                flow_run_id, State(type=StateType.CANCELLING, message="cancelled from the CLI")
            )
        except NotFound:
            console.print(f"no flow run {flow_run_id}")
            raise typer.Exit(1) from None
    if result.state is None or result.state.type not in (
        StateType.CANCELLING,
        StateType.CANCELLED,
    ):
        reason = result.reason or "the run cannot be cancelled"
        console.print(f"not cancelled: {reason}")
        raise typer.Exit(1)
    console.print(f"flow run {flow_run_id} is {state_text(result.state)}")


@flow_run_app.command("resume")
def resume_run(flow_run_id: Annotated[uuid.UUID, typer.Argument(help="The flow run id.")]) -> None:
    """Resume a flow run that paused (pause_flow_run) or suspended (suspend_flow_run) itself."""
    from runplane._engine.errors import RunAborted
    from runplane._engine.pauses import resume_flow_run

    try:
        state = resume_flow_run(flow_run_id)
    except NotFound:
        console.print(f"no flow run {flow_run_id}")
        raise typer.Exit(1) from None
    except RunAborted as error:
        console.print(str(error))
        raise typer.Exit(1) from None
    console.print(f"flow run {flow_run_id} is {state_text(state)}")


@flow_run_app.command("retry")
def retry_run(flow_run_id: Annotated[uuid.UUID, typer.Argument(help="The flow run id.")]) -> None:
    """Run a finished flow run again, from its start, on a runner of its work pool."""
    with SyncRunplaneClient() as client:
        try:
            run = client.get_flow_run(flow_run_id)
        except NotFound:
            console.print(f"no flow run {flow_run_id}")
            raise typer.Exit(1) from None
        if run.work_pool_name is None:
            # A flow called directly has no runner to start it again.
            console.print("not retried: only a run of a work pool has a runner to run it again")
            raise typer.Exit(1)
        if run.state is None or run.state.type not in TERMINAL_STATE_TYPES:
            console.print(f"not retried: it is {state_text(run.state)}, not finished")
            raise typer.Exit(1)
        retried = State(
            type=StateType.SCHEDULED, name="AwaitingRetry", message="retried from the CLI"
        )
        result = client.set_flow_run_state(flow_run_id, retried)
    if result.status is not OrchestrationStatus.ACCEPT or result.state is None:
        console.print(f"not retried: {result.reason or 'the server refused it'}")
        raise typer.Exit(1)
    console.print(f"flow run {flow_run_id} is {state_text(result.state)}")


def changes_table(runs: dict[uuid.UUID, FlowRun]) -> Table:
    """The watched runs, newest change last."""
    table = Table(box=None)
    table.add_column("ID", no_wrap=True, min_width=36)
    for column in ("Name", "Flow", "State", "Message"):
        table.add_column(column)
    for run in runs.values():
        message = run.state.message if run.state else ""
        table.add_row(str(run.id), run.name, run.flow_name, state_text(run.state), message)
    return table


async def _watch(run_filter: FlowRunFilter, until_final: bool) -> dict[uuid.UUID, FlowRun]:
    runs: dict[uuid.UUID, FlowRun] = {}
    async with RunplaneClient() as client:
        changes = client.watch_flow_runs(run_filter, include_current=True)
        async with contextlib.aclosing(changes):
            with Live(changes_table(runs), console=console, auto_refresh=False) as live:
                async for change in changes:
                    _apply(runs, change)
                    live.update(changes_table(runs), refresh=True)
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
        list[uuid.UUID] | None, typer.Argument(help="Runs to watch; all runs when none.")
    ] = None,
    deployment: Annotated[
        uuid.UUID | None, typer.Option(help="Only runs of this deployment id.")
    ] = None,
    pool: Annotated[str | None, typer.Option(help="Only runs on this work pool.")] = None,
) -> None:
    """Show flow runs' states live as they change. With run ids, ends when all are final."""
    ids = tuple(flow_run_ids or ())
    run_filter = FlowRunFilter(
        flow_run_ids=ids,
        deployment_ids=(deployment,) if deployment else (),
        work_pool_name=pool,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_watch(run_filter, until_final=bool(ids)))
