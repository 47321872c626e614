"""DeploymentService: deployments by flow and name, and the runs they start."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc

from runplane.server.api import deployment_messages as messages
from runplane.server.api.deployment_requests import (
    idempotency_key,
    parse_create,
    parse_object,
    parse_timestamp,
    parse_update,
    run_parameters,
)
from runplane.server.api.errors import invalid_argument, not_found
from runplane.server.api.flow_run_messages import flow_run_message
from runplane.server.api.pagination import cut_page, decode_token, filter_fingerprint
from runplane.server.api.validation import (
    MAX_NAME_LENGTH,
    check_label,
    check_tags,
    optional_name,
    page_size,
    parse_uuid,
    require_name,
)
from runplane.server.clock import Clock
from runplane.server.db import deployments, flow_runs, scheduled_runs, work_pools
from runplane.server.db.deployments import DeploymentRecord
from runplane.server.db.engine import Database
from runplane.server.delivery.dispatcher import WorkDispatcher
from runplane.server.loops.scheduler import reschedule_deployment
from runplane.server.orchestration import deployments as rules
from runplane.server.settings import ServerSettings
from runplane.server.transitions.stored_states import scheduled_details
from runplane.v1 import deployments_pb2, deployments_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class DeploymentServicer(deployments_pb2_grpc.DeploymentServiceServicer):
    def __init__(
        self,
        database: Database,
        clock: Clock,
        settings: ServerSettings,
        dispatcher: WorkDispatcher,
    ) -> None:
        self._db = database
        self._clock = clock
        self._settings = settings
        self._dispatcher = dispatcher

    async def CreateDeployment(
        self, request: deployments_pb2.CreateDeploymentRequest, context: Context
    ) -> deployments_pb2.CreateDeploymentResponse:
        if not request.HasField("deployment"):
            raise invalid_argument("deployment", "is required")
        given = parse_create(request.deployment)
        now = self._clock.now()
        async with self._db.write() as conn:
            flow = await deployments.resolve_flow(conn, given.flow_id, given.flow_name, now)
            if flow is None:
                raise not_found("flow", given.flow_id)
            if given.flow_name is not None and given.flow_name != flow.name:
                raise invalid_argument(
                    "deployment.flow_name", f"flow {flow.id} is named {flow.name!r}"
                )
            values = given.values
            await work_pools.ensure_queue(conn, values.work_pool_name, values.work_queue_name, now)
            deployment_id, created = await deployments.upsert(
                conn, flow.id, given.name, values, given.schedules, now
            )
            record = await reschedule_deployment(conn, deployment_id, now, self._settings)
        assert record is not None  # written in this transaction
        self._dispatcher.notify_work(record.work_pool_name)
        return deployments_pb2.CreateDeploymentResponse(
            deployment=messages.deployment(record), created=created
        )

    async def GetDeployment(
        self, request: deployments_pb2.GetDeploymentRequest, context: Context
    ) -> deployments_pb2.GetDeploymentResponse:
        if bool(request.deployment_id) == bool(request.name):
            raise invalid_argument("deployment_id", "give exactly one of deployment_id and name")
        async with self._db.read() as conn:
            if request.deployment_id:
                record = await deployments.get(
                    conn, parse_uuid("deployment_id", request.deployment_id)
                )
            else:
                full_name = require_name("name", request.name, 2 * MAX_NAME_LENGTH + 1)
                flow_name, _, name = full_name.rpartition("/")
                if not flow_name or not name:
                    raise invalid_argument("name", 'must look like "flow-name/deployment-name"')
                record = await deployments.get_by_name(conn, flow_name, name)
        if record is None:
            raise not_found("deployment", request.deployment_id or request.name)
        return deployments_pb2.GetDeploymentResponse(deployment=messages.deployment(record))

    async def ListDeployments(
        self, request: deployments_pb2.ListDeploymentsRequest, context: Context
    ) -> deployments_pb2.ListDeploymentsResponse:
        limit = page_size("page_size", request.page_size)
        flow_name = check_label("flow_name", request.flow_name, MAX_NAME_LENGTH)
        work_pool_name = check_label("work_pool_name", request.work_pool_name, MAX_NAME_LENGTH)
        fingerprint = filter_fingerprint(flow_name, work_pool_name)
        key = decode_token("page_token", request.page_token, fingerprint)
        after = None
        if key is not None:
            if len(key) != 2 or not all(isinstance(part, str) for part in key):
                raise invalid_argument("page_token", "is not a token returned by this server")
            after = (str(key[0]), str(key[1]))
        async with self._db.read() as conn:
            records = await deployments.list_page(
                conn,
                flow_name=flow_name,
                work_pool_name=work_pool_name,
                after=after,
                limit=limit + 1,
            )
        records, next_token = cut_page(
            records, limit, fingerprint, lambda last: [last.flow_name, last.name]
        )
        return deployments_pb2.ListDeploymentsResponse(
            deployments=[messages.deployment(r) for r in records], next_page_token=next_token
        )

    async def UpdateDeployment(
        self, request: deployments_pb2.UpdateDeploymentRequest, context: Context
    ) -> deployments_pb2.UpdateDeploymentResponse:
        if not request.HasField("deployment"):
            raise invalid_argument("deployment", "is required")
        update = parse_update(request.deployment, request.update_mask)
        now = self._clock.now()
        async with self._db.write() as conn:
            # The row update comes first: it locks the deployment for the rest of the change.
            if not await deployments.update_fields(conn, update.deployment_id, update.changes, now):
                raise not_found("deployment", update.deployment_id)
            if update.schedules is not None:
                await deployments.replace_schedules(conn, update.deployment_id, update.schedules)
            record = await deployments.get(conn, update.deployment_id)
            assert record is not None  # updated above
            if "work_queue_name" in update.changes:
                await work_pools.ensure_queue(
                    conn, record.work_pool_name, record.work_queue_name, now
                )
            await reschedule_deployment(conn, update.deployment_id, now, self._settings)
        self._dispatcher.notify_work(record.work_pool_name)
        return deployments_pb2.UpdateDeploymentResponse(deployment=messages.deployment(record))

    async def DeleteDeployment(
        self, request: deployments_pb2.DeleteDeploymentRequest, context: Context
    ) -> deployments_pb2.DeleteDeploymentResponse:
        deployment_id = parse_uuid("deployment_id", request.deployment_id)
        async with self._db.write() as conn:
            await scheduled_runs.delete_scheduled(conn, deployment_id)
            if not await deployments.delete(conn, deployment_id):
                raise not_found("deployment", deployment_id)
        return deployments_pb2.DeleteDeploymentResponse()

    async def RunDeployment(
        self, request: deployments_pb2.RunDeploymentRequest, context: Context
    ) -> deployments_pb2.RunDeploymentResponse:
        deployment_id = parse_uuid("deployment_id", request.deployment_id)
        parameters = parse_object("parameters_json", request.parameters_json)
        job_variables = parse_object("job_variables_json", request.job_variables_json)
        tags = check_tags("tags", request.tags)
        key = idempotency_key("idempotency_key", request.idempotency_key)
        name = optional_name("name", request.name)
        scheduled_time = None
        if request.HasField("scheduled_start_time"):
            scheduled_time = parse_timestamp("scheduled_start_time", request.scheduled_start_time)
        async with self._db.write() as conn:
            deployment = await deployments.get(conn, deployment_id, hold=True)
            if deployment is None:
                raise not_found("deployment", deployment_id)
            existing = None
            if key is not None:
                existing = await flow_runs.get_by_idempotency_key(conn, deployment.flow_id, key)
            if existing is None:
                now = self._clock.now()
                given = _RunRequest(parameters, job_variables, tags, key, name)
                run = _new_run(deployment, given, scheduled_time or now)
                details = scheduled_details(run.scheduled_time)
                if await scheduled_runs.insert(conn, run, details, now):
                    existing = await flow_runs.get(conn, run.id)
                else:  # a concurrent call with the same key won
                    assert key is not None
                    existing = await flow_runs.get_by_idempotency_key(conn, deployment.flow_id, key)
        assert existing is not None
        if existing.work_pool_name:
            self._dispatcher.notify_work(existing.work_pool_name)
        return deployments_pb2.RunDeploymentResponse(flow_run=flow_run_message(existing))


@dataclass(frozen=True, slots=True)
class _RunRequest:
    """What RunDeployment adds to the deployment's defaults, validated."""

    parameters: dict[str, Any]
    job_variables: dict[str, Any]
    tags: list[str]
    idempotency_key: str | None
    name: str | None


def _new_run(
    deployment: DeploymentRecord, given: _RunRequest, scheduled_time: datetime
) -> scheduled_runs.NewScheduledRun:
    """A run of the deployment: its settings merged with the request's."""
    parameters = run_parameters(deployment, given.parameters)
    run_id = uuid.uuid4()
    return scheduled_runs.NewScheduledRun(
        id=run_id,
        flow_id=deployment.flow_id,
        name=given.name or rules.run_name(deployment.name, run_id.hex),
        deployment_id=deployment.id,
        parameters=parameters,
        tags=rules.union_tags(deployment.tags, given.tags),
        idempotency_key=given.idempotency_key,
        job_variables=rules.merge_job_variables(deployment.job_variables, given.job_variables),
        work_pool_name=deployment.work_pool_name,
        work_queue_name=deployment.work_queue_name,
        flow_version=deployment.version or None,
        retries=deployment.retries,
        retry_delays=list(deployment.retry_delays),
        scheduled_time=scheduled_time,
        runtime=deployment.runtime,
    )
