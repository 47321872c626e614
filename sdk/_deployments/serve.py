"""``serve`` and ``run_deployment``: run deployments here, or start one and wait for it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import aclosing
from typing import Any
from uuid import UUID

import anyio

from runplane._client.client import RunplaneClient
from runplane._client.models import TERMINAL_STATE_TYPES, Deployment, FlowRun, FlowRunFilter
from runplane._client.settings import Settings
from runplane._deployments.announce import listening, registered
from runplane._deployments.runner_deployment import RunnerDeployment

logger = logging.getLogger("runplane.runner")

SERVE_POOL = "serve"


class RunDeploymentTimeout(TimeoutError):
    """``run_deployment``'s ``timeout`` ran out before the run reached a final state.

    ``flow_run`` is the run as it was then; it goes on (or waits for a runner) regardless.
    """

    def __init__(self, flow_run: FlowRun, timeout: float) -> None:
        state = flow_run.state.name if flow_run.state is not None else "without a state"
        super().__init__(
            f"flow run {flow_run.id} is still {state} after {timeout:g} seconds: "
            "no runner of its work pool may be running (runplane runner start --pool NAME)"
        )
        self.flow_run = flow_run


def serve_queue(deployment: RunnerDeployment) -> str:
    """Each served deployment gets a queue of its own in the serve pool, so that a process
    serving some deployments is never handed the runs of others."""
    return f"{deployment.flow.name}-{deployment.name}".replace("/", "-")


async def aserve(
    *deployments: RunnerDeployment,
    limit: int | None = None,
    settings: Settings | None = None,
    work_pool_name: str = SERVE_POOL,
) -> None:
    """Registers the deployments and executes their runs in this process until SIGTERM."""
    from runplane.runner import Runner

    if not deployments:
        raise ValueError("serve needs at least one deployment")
    queues: list[str] = []
    stored: list[Deployment] = []
    async with RunplaneClient(settings) as client:
        for deployment in deployments:
            pool = deployment.work_pool_name or work_pool_name
            queue = deployment.work_queue_name or serve_queue(deployment)
            if pool != work_pool_name:
                raise ValueError(
                    f"deployment {deployment.full_name!r} is on pool {pool!r}; "
                    f"serve executes pool {work_pool_name!r} only"
                )
            model = deployment.to_model(work_pool_name).model_copy(
                update={"work_queue_name": queue}
            )
            stored.append(await client.create_deployment(model))
            queues.append(queue)
            logger.info("serving deployment %s", deployment.full_name)
        registered(client.settings, stored)
        listening(client.settings, stored)
    runner = Runner(work_pool_name, queues, limit=limit or 10, settings=settings)
    await runner.run()


def serve(
    *deployments: RunnerDeployment,
    limit: int | None = None,
    settings: Settings | None = None,
    work_pool_name: str = SERVE_POOL,
) -> None:
    """Registers the deployments (``flow.to_deployment(...)``) and executes their runs in
    child processes of this one, at most ``limit`` at a time (10 by default), until SIGTERM
    or Ctrl-C."""
    anyio.run(
        lambda: aserve(*deployments, limit=limit, settings=settings, work_pool_name=work_pool_name)
    )


async def arun_deployment(
    name: str | UUID,
    *,
    parameters: Mapping[str, Any] | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - the same signature as run_deployment
    tags: tuple[str, ...] = (),
    idempotency_key: str | None = None,
    settings: Settings | None = None,
) -> FlowRun:
    """Async ``run_deployment``."""
    async with RunplaneClient(settings) as client:
        return await _run_and_wait(client, name, parameters, timeout, tags, idempotency_key)


async def _until_final(client: RunplaneClient, run: FlowRun) -> FlowRun:
    # include_current yields the present state first, so a run that finished before the
    # watch opened is not waited for in vain.
    changes = client.watch_flow_runs(FlowRunFilter(flow_run_ids=(run.id,)), include_current=True)
    async with aclosing(changes):
        async for change in changes:
            if change.state.type in TERMINAL_STATE_TYPES:
                return change.flow_run.model_copy(update={"state": change.state})
    return await client.get_flow_run(run.id)


def run_deployment(
    name: str | UUID,
    *,
    parameters: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    tags: tuple[str, ...] = (),
    idempotency_key: str | None = None,
    settings: Settings | None = None,
) -> FlowRun:
    """Creates a run of the deployment ``"flow-name/deployment-name"`` (or its id), due now,
    and waits for its final state on the watch stream; returns the run.

    ``timeout`` bounds the wait in seconds: ``0`` returns the new run at once; when a
    positive timeout runs out first, ``RunDeploymentTimeout`` is raised, holding the run as
    it is then in ``flow_run``. ``None`` waits as long as it takes.
    """
    from runplane._client.sync_client import SyncRunplaneClient

    with SyncRunplaneClient(settings) as client:
        return client._run(
            lambda aclient: _run_and_wait(aclient, name, parameters, timeout, tags, idempotency_key)
        )


async def _run_and_wait(
    client: RunplaneClient,
    name: str | UUID,
    parameters: Mapping[str, Any] | None,
    wait_seconds: float | None,
    tags: tuple[str, ...],
    idempotency_key: str | None,
) -> FlowRun:
    if isinstance(name, UUID):
        deployment = await client.get_deployment(name)
    else:
        deployment = await client.get_deployment_by_name(name)
    assert deployment.id is not None
    run = await client.run_deployment(
        deployment.id, parameters=parameters, tags=tags, idempotency_key=idempotency_key
    )
    if wait_seconds is not None and wait_seconds <= 0:
        return run
    with anyio.move_on_after(wait_seconds):
        return await _until_final(client, run)
    assert wait_seconds is not None  # only a deadline ends the wait early
    raise RunDeploymentTimeout(await client.get_flow_run(run.id), wait_seconds)
