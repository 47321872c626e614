"""``deploy``: register deployments for the runners of a work pool to execute.

``serve`` registers deployments and executes them in the same process; ``deploy`` only
registers them, for ``runplane runner start --pool NAME`` processes anywhere to execute.
Registering is create-or-update by flow and deployment name, so deploying again after a
change updates the deployment (and reschedules its future runs) instead of adding one.
"""

from __future__ import annotations

from runplane._client.client import RunplaneClient
from runplane._client.models import Deployment
from runplane._client.settings import Settings
from runplane._deployments.announce import deployed
from runplane._deployments.runner_deployment import RunnerDeployment


def _check(deployments: tuple[RunnerDeployment, ...], work_pool_name: str | None) -> None:
    """Each deployment has a pool; all are checked before any is registered."""
    if not deployments:
        raise ValueError("deploy needs at least one deployment")
    for deployment in deployments:
        if deployment.work_pool_name is None and work_pool_name is None:
            raise ValueError(
                f"deployment {deployment.full_name!r} has no work pool: pass work_pool_name, "
                "the pool whose runners (runplane runner start --pool NAME) execute its runs"
            )


async def _register(
    client: RunplaneClient, deployments: tuple[RunnerDeployment, ...], work_pool_name: str | None
) -> list[Deployment]:
    stored = [await deployment.apply(client, work_pool_name) for deployment in deployments]
    deployed(client.settings, stored)
    return stored


async def adeploy(
    *deployments: RunnerDeployment,
    work_pool_name: str | None = None,
    settings: Settings | None = None,
) -> list[Deployment]:
    """Async ``deploy``."""
    _check(deployments, work_pool_name)
    async with RunplaneClient(settings) as client:
        return await _register(client, deployments, work_pool_name)


def deploy(
    *deployments: RunnerDeployment,
    work_pool_name: str | None = None,
    settings: Settings | None = None,
) -> list[Deployment]:
    """Registers the deployments (``flow.to_deployment(...)``) on the control plane, on their
    own work pool or else on ``work_pool_name``, and returns them as stored (with their ids).
    Their runs are executed by the runners of that pool: ``runplane runner start --pool NAME``.
    """
    from runplane._client.sync_client import SyncRunplaneClient

    _check(deployments, work_pool_name)
    with SyncRunplaneClient(settings) as client:
        return client._run(lambda aclient: _register(aclient, deployments, work_pool_name))
