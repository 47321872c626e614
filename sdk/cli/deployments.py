"""``runplane deployment``: list, inspect, run, pause, resume and delete deployments."""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from runplane._client.errors import NotFound, RunplaneError
from runplane._client.models import (
    CronSchedule,
    Deployment,
    DeploymentSchedule,
    IntervalSchedule,
    every_item,
)
from runplane._client.sync_client import SyncRunplaneClient
from runplane._deployments.serve import run_deployment
from runplane.cli.clients import reading_client
from runplane.cli.exit_codes import for_final_states
from runplane.cli.flow_runs import state_markup as state_text
from runplane.cli.formatting import stdout_console, terminal_safe
from runplane.cli.help_layout import CommandGroup
from runplane.cli.output import Cell, Column, OutputFormat, OutputOption, print_data, print_table
from runplane.cli.values import json_object, json_or_text

deployment_app = CommandGroup(no_args_is_help=True, help="Manage deployments.")

NameArgument = Annotated[str, typer.Argument(help='The deployment: "flow-name/deployment-name".')]


def _get(client: SyncRunplaneClient, name: str) -> Deployment:
    try:
        return client.get_deployment_by_name(name)
    except NotFound:
        stdout_console().print(f"no deployment named {name!r}", markup=False)
        raise typer.Exit(1) from None
    except RunplaneError as error:
        stdout_console().print(
            f"cannot read deployment {name!r}: {terminal_safe(str(error))}", markup=False
        )
        raise typer.Exit(1) from None


def describe_schedule(item: DeploymentSchedule) -> str:
    schedule = item.schedule
    if isinstance(schedule, CronSchedule):
        text = f"cron {schedule.expression}"
    elif isinstance(schedule, IntervalSchedule):
        text = f"every {schedule.interval}"
    else:
        text = f"rrule {schedule.rrule}"
    if schedule.timezone:
        text += f" ({schedule.timezone})"
    return text if item.active else f"{text} [inactive]"


@deployment_app.command("ls")
def list_deployments(
    flow: Annotated[str | None, typer.Option(help="Only deployments of this flow.")] = None,
    pool: Annotated[str | None, typer.Option(help="Only deployments on this work pool.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List deployments by flow and name."""
    with reading_client() as client:
        pages = functools.partial(
            client.list_deployments, flow_name=flow or "", work_pool_name=pool or "", page_size=200
        )
        deployments = list(every_item(lambda token: pages(page_token=token)))
    if print_data(deployments, output):
        return
    rows = [
        [
            f"{item.flow_name}/{item.name}",
            f"{item.work_pool_name}/{item.work_queue_name}",
            ", ".join(describe_schedule(s) for s in item.schedules) or "-",
            "yes" if item.paused else "",
            str(item.id),
            ", ".join(item.tags) or "-",
        ]
        for item in deployments
    ]
    print_table(stdout_console(), _COLUMNS, rows, output, empty="no deployments")


_COLUMNS = (
    Column("Name"),
    Column("Work pool"),
    Column("Schedules"),
    Column("Paused"),
    Column("ID", wide=True, no_wrap=True),
    Column("Tags", wide=True),
)
_DETAIL_COLUMNS = (Column("Field", no_wrap=True), Column("Value"))


@deployment_app.command("inspect")
def inspect_deployment(name: NameArgument, output: OutputOption = OutputFormat.TABLE) -> None:
    """Show a deployment's settings."""
    with reading_client() as client:
        deployment = _get(client, name)
    if print_data(deployment, output):
        return
    rows: list[list[Cell]] = [
        [field, str(getattr(deployment, field) or "")]
        for field in (
            "id",
            "entrypoint",
            "version",
            "description",
            "work_pool_name",
            "work_queue_name",
            "runtime",
        )
    ]
    rows.append(["tags", ", ".join(deployment.tags)])
    rows.append(["paused", str(deployment.paused)])
    limit = deployment.concurrency_limit
    if limit is not None:
        rows.append(["concurrency", f"{limit} ({deployment.collision_strategy.value})"])
    rows.append(["parameters", json.dumps(deployment.parameters, ensure_ascii=False)])
    rows.append(["job variables", json.dumps(deployment.job_variables, ensure_ascii=False)])
    rows.extend(["schedule", describe_schedule(item)] for item in deployment.schedules)
    print_table(stdout_console(), _DETAIL_COLUMNS, rows, show_header=False)


def _parameters(values: list[str] | None, as_json: str | None) -> dict[str, Any]:
    try:
        parameters = json_object(as_json, "--params") if as_json else {}
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    for value in values or ():
        key, sep, text = value.partition("=")
        if not sep:
            raise typer.BadParameter(f"{value!r} must look like name=value")
        parameters[key] = json_or_text(text)
    return parameters


@deployment_app.command("run")
def run(
    name: NameArgument,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="name=value; the value may be JSON.")
    ] = None,
    params: Annotated[str | None, typer.Option(help="All parameters as a JSON object.")] = None,
    watch: Annotated[
        bool,
        typer.Option(
            help="Wait for the run's final state; exit 0 only if it completed (3 if it ended "
            "otherwise, 4 if --timeout ran out first)."
        ),
    ] = False,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait with --watch.")] = None,
) -> None:
    """Start a run of a deployment, due now."""
    parameters = _parameters(param, params)
    try:
        flow_run = run_deployment(name, parameters=parameters, timeout=timeout if watch else 0)
    except NotFound:
        stdout_console().print(f"no deployment named {name!r}")
        raise typer.Exit(1) from None
    except RunplaneError as error:
        stdout_console().print(
            f"the run was not created: {terminal_safe(str(error))}", markup=False
        )
        raise typer.Exit(1) from None
    name_text = escape(terminal_safe(flow_run.name))
    stdout_console().print(f"flow run {name_text} ({flow_run.id}): {state_text(flow_run.state)}")
    if watch:
        raise typer.Exit(for_final_states([flow_run.state]))


def _set_paused(name: str, paused: bool) -> None:
    with SyncRunplaneClient() as client:
        deployment = _get(client, name)
        client.update_deployment(deployment.model_copy(update={"paused": paused}), ["paused"])
    stdout_console().print(f"deployment {name} {'paused' if paused else 'resumed'}")


@deployment_app.command("pause")
def pause(name: NameArgument) -> None:
    """Pause a deployment: its schedules create no runs until it is resumed."""
    _set_paused(name, True)


@deployment_app.command("resume")
def resume(name: NameArgument) -> None:
    """Resume a paused deployment."""
    _set_paused(name, False)


@deployment_app.command("delete")
def delete(name: NameArgument) -> None:
    """Delete a deployment and its scheduled runs."""
    with SyncRunplaneClient() as client:
        deployment = _get(client, name)
        assert deployment.id is not None
        client.delete_deployment(deployment.id)
    stdout_console().print(f"deployment {name} deleted")
