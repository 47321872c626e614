"""Client methods for deployments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from google.protobuf import field_mask_pb2

from runplane._client import convert
from runplane._client.models import Deployment, FlowRun, Page
from runplane._client.transport import Transport
from runplane.v1 import deployments_pb2


class DeploymentsAPI(Transport):
    """Deployments: create-or-update, reads, field-mask updates and runs."""

    async def create_deployment(self, deployment: Deployment) -> Deployment:
        """Stores a deployment, replacing the one with the same flow and name.

        ``flow_name`` (or ``flow_id``), ``name`` and ``entrypoint`` are required.
        """
        request = deployments_pb2.CreateDeploymentRequest(
            deployment=convert.deployment_to_pb(deployment)
        )
        response = await self._unary(self.stubs.deployments.CreateDeployment, request)
        return convert.deployment_from_pb(response.deployment)

    async def get_deployment(self, deployment_id: UUID) -> Deployment:
        request = deployments_pb2.GetDeploymentRequest(deployment_id=str(deployment_id))
        response = await self._unary(self.stubs.deployments.GetDeployment, request)
        return convert.deployment_from_pb(response.deployment)

    async def get_deployment_by_name(self, name: str) -> Deployment:
        """The deployment named ``"flow-name/deployment-name"``."""
        request = deployments_pb2.GetDeploymentRequest(name=name)
        response = await self._unary(self.stubs.deployments.GetDeployment, request)
        return convert.deployment_from_pb(response.deployment)

    async def list_deployments(
        self,
        *,
        flow_name: str = "",
        work_pool_name: str = "",
        page_size: int = 0,
        page_token: str | None = None,
    ) -> Page[Deployment]:
        """Deployments ordered by flow and name, optionally of one flow or work pool."""
        request = deployments_pb2.ListDeploymentsRequest(
            flow_name=flow_name,
            work_pool_name=work_pool_name,
            page_size=page_size,
            page_token=page_token or "",
        )
        response = await self._unary(self.stubs.deployments.ListDeployments, request)
        items = [convert.deployment_from_pb(item) for item in response.deployments]
        return Page(items, response.next_page_token or None)

    async def update_deployment(self, deployment: Deployment, fields: Iterable[str]) -> Deployment:
        """Sets the named ``fields`` of the stored deployment ``deployment.id`` to their values
        in ``deployment``, e.g. ``update_deployment(d.model_copy(update={"paused": True}),
        ["paused"])``. The server accepts paused, schedules, parameters, concurrency_limit,
        collision_strategy, description, tags, job_variables, work_queue_name, version and
        retry_policy."""
        paths = list(fields)
        unknown = sorted(set(paths) - set(Deployment.model_fields))
        if unknown:
            raise ValueError(f"not deployment fields: {', '.join(unknown)}")
        if deployment.id is None:
            raise ValueError("update_deployment needs a deployment with an id")
        request = deployments_pb2.UpdateDeploymentRequest(
            deployment=convert.deployment_to_pb(deployment),
            update_mask=field_mask_pb2.FieldMask(paths=convert.deployment_mask_paths(paths)),
        )
        response = await self._unary(self.stubs.deployments.UpdateDeployment, request)
        return convert.deployment_from_pb(response.deployment)

    async def delete_deployment(self, deployment_id: UUID) -> None:
        """Deletes a deployment and its scheduled runs."""
        request = deployments_pb2.DeleteDeploymentRequest(deployment_id=str(deployment_id))
        await self._unary(self.stubs.deployments.DeleteDeployment, request)

    async def run_deployment(
        self,
        deployment_id: UUID,
        *,
        parameters: Mapping[str, Any] | None = None,
        scheduled_start_time: datetime | None = None,
        idempotency_key: str | None = None,
        tags: Iterable[str] = (),
        job_variables: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> FlowRun:
        """Schedules a run of a deployment, due now unless ``scheduled_start_time`` is given.

        Parameters, tags and job variables are laid over the deployment's own.
        """
        request = deployments_pb2.RunDeploymentRequest(
            deployment_id=str(deployment_id),
            parameters_json=convert.json_object_to_pb(parameters, "parameters_json"),
            scheduled_start_time=convert.timestamp_to_pb(scheduled_start_time),
            idempotency_key=idempotency_key or "",
            tags=tags,
            job_variables_json=convert.json_object_to_pb(job_variables, "job_variables_json"),
            name=name or "",
        )
        response = await self._unary(self.stubs.deployments.RunDeployment, request)
        return convert.flow_run_from_pb(response.flow_run)
