"""The ``runplane`` command line."""

from __future__ import annotations

import gc

from runplane.cli import flow_run_control  # noqa: F401  # adds cancel and watch
from runplane.cli.artifacts import artifact_app
from runplane.cli.concurrency_limits import concurrency_limit_app
from runplane.cli.config import config_app
from runplane.cli.dashboard import dashboard
from runplane.cli.deployments import deployment_app
from runplane.cli.errors import ApiErrorsGroup
from runplane.cli.flow_runs import flow_run_app
from runplane.cli.flows import flow_app
from runplane.cli.help_layout import CommandGroup
from runplane.cli.runner import runner_app
from runplane.cli.server import server_app
from runplane.cli.task_workers import task_run_app, task_worker_app
from runplane.cli.variables import variable_app
from runplane.cli.work_pools import work_pool_app
from runplane.cli.work_queues import work_queue_app

app = CommandGroup(
    cls=ApiErrorsGroup,
    no_args_is_help=True,
    help="runplane: workflows with a gRPC control plane.",
)
app.add_typer(server_app, name="server")
app.add_typer(flow_app, name="flow")
app.add_typer(flow_run_app, name="flow-run")
app.add_typer(deployment_app, name="deployment")
app.add_typer(work_pool_app, name="work-pool")
app.add_typer(work_queue_app, name="work-queue")
app.add_typer(concurrency_limit_app, name="concurrency-limit")
app.add_typer(variable_app, name="variable")
app.add_typer(artifact_app, name="artifact")
app.add_typer(runner_app, name="runner")
app.add_typer(task_run_app, name="task-run")
app.add_typer(task_worker_app, name="task-worker")
app.add_typer(config_app, name="config")
app.command("dashboard")(dashboard)


def main() -> None:
    try:
        app()
    finally:
        # The process ends here: spare the interpreter's final garbage collection over every
        # object the imports made (SQLAlchemy's and the embedded server's most of all), a
        # noticeable part of a short command's time. atexit handlers still run.
        gc.freeze()


__all__ = ["app", "main"]
