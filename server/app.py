"""Builds the gRPC server: every service, health checking, reflection, and orderly shutdown."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self

import grpc
from google.protobuf.descriptor import FileDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from runplane.server.api.artifacts import ArtifactServicer
from runplane.server.api.auth import ApiKeyInterceptor
from runplane.server.api.concurrency import ConcurrencyServicer
from runplane.server.api.deployments import DeploymentServicer
from runplane.server.api.errors import ErrorInterceptor
from runplane.server.api.flow_runs import FlowRunServicer
from runplane.server.api.flows import FlowServicer
from runplane.server.api.logs import LogHub, LogServicer
from runplane.server.api.task_runs import TaskRunServicer
from runplane.server.api.variables import VariableServicer
from runplane.server.api.work import WorkServicer
from runplane.server.api_keys import ApiKey, Role, accepted_api_keys
from runplane.server.background import Background
from runplane.server.clock import Clock, SystemClock
from runplane.server.db.engine import Database
from runplane.server.db.migrate import upgrade
from runplane.server.delivery.subscriptions import SubscriptionRegistry
from runplane.server.delivery.work_items import WorkItem
from runplane.server.hub import Hub
from runplane.server.listen import bind, listen_options
from runplane.server.reflection import enable_documented_reflection
from runplane.server.registration import generic_only
from runplane.server.settings import ServerSettings
from runplane.server.tls import server_credentials
from runplane.server.transitions.events import FlowRunEvent
from runplane.v1 import (
    artifacts_pb2,
    artifacts_pb2_grpc,
    concurrency_pb2,
    concurrency_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    flow_runs_pb2,
    flow_runs_pb2_grpc,
    flows_pb2,
    flows_pb2_grpc,
    logs_pb2,
    logs_pb2_grpc,
    task_runs_pb2,
    task_runs_pb2_grpc,
    variables_pb2,
    variables_pb2_grpc,
    work_pb2,
    work_pb2_grpc,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerContext:
    """What every servicer may need."""

    settings: ServerSettings
    database: Database
    clock: Clock
    background: Background
    """The work dispatcher (``background.dispatcher.notify_work``) and the server loops."""
    log_records: LogHub = field(default_factory=Hub)
    flow_run_events: Hub[FlowRunEvent] = field(default_factory=Hub)
    work_subscriptions: SubscriptionRegistry[WorkItem] = field(default_factory=SubscriptionRegistry)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Awaited on stop, after the last call ended and before the pool closes."""


@dataclass(frozen=True)
class _Service:
    """How one runplane service is served: its servicer, built from the server's context; the
    generated function that adds that servicer to a server; and the service's full name, for
    health checks and reflection."""

    servicer: Callable[[ServerContext], object]
    add: Callable[[Any, grpc.aio.Server], None]
    full_name: str

    def register(self, server: grpc.aio.Server, context: ServerContext) -> None:
        self.add(self.servicer(context), server)


def _name(file: FileDescriptor, service: str) -> str:
    return file.services_by_name[service].full_name


# Every runplane service, one row each; health and reflection are added around them.
_SERVICES: tuple[_Service, ...] = (
    _Service(
        lambda c: FlowServicer(c.database, c.clock),
        flows_pb2_grpc.add_FlowServiceServicer_to_server,
        _name(flows_pb2.DESCRIPTOR, "FlowService"),
    ),
    _Service(
        lambda c: FlowRunServicer(
            c.database, c.clock, c.flow_run_events, c.closers, c.background.dispatcher
        ),
        flow_runs_pb2_grpc.add_FlowRunServiceServicer_to_server,
        _name(flow_runs_pb2.DESCRIPTOR, "FlowRunService"),
    ),
    _Service(
        lambda c: TaskRunServicer(c.database, c.clock, c.settings, c.background.task_workers),
        task_runs_pb2_grpc.add_TaskRunServiceServicer_to_server,
        _name(task_runs_pb2.DESCRIPTOR, "TaskRunService"),
    ),
    _Service(
        lambda c: LogServicer(c.database, c.clock, c.log_records),
        logs_pb2_grpc.add_LogServiceServicer_to_server,
        _name(logs_pb2.DESCRIPTOR, "LogService"),
    ),
    _Service(
        lambda c: ConcurrencyServicer(c.database, c.clock),
        concurrency_pb2_grpc.add_ConcurrencyServiceServicer_to_server,
        _name(concurrency_pb2.DESCRIPTOR, "ConcurrencyService"),
    ),
    _Service(
        lambda c: ArtifactServicer(c.database, c.clock),
        artifacts_pb2_grpc.add_ArtifactServiceServicer_to_server,
        _name(artifacts_pb2.DESCRIPTOR, "ArtifactService"),
    ),
    _Service(
        lambda c: VariableServicer(c.database, c.clock),
        variables_pb2_grpc.add_VariableServiceServicer_to_server,
        _name(variables_pb2.DESCRIPTOR, "VariableService"),
    ),
    _Service(
        lambda c: DeploymentServicer(c.database, c.clock, c.settings, c.background.dispatcher),
        deployments_pb2_grpc.add_DeploymentServiceServicer_to_server,
        _name(deployments_pb2.DESCRIPTOR, "DeploymentService"),
    ),
    _Service(
        lambda c: WorkServicer(
            c.database, c.clock, c.work_subscriptions, c.settings, c.background.dispatcher
        ),
        work_pb2_grpc.add_WorkServiceServicer_to_server,
        _name(work_pb2.DESCRIPTOR, "WorkService"),
    ),
)


class RunplaneServer:
    """A running (or ready to run) control plane. Use ``async with`` or start/stop."""

    def __init__(
        self,
        server: grpc.aio.Server,
        context: ServerContext,
        health_servicer: health.aio.HealthServicer,
        port: int,
        on_stop: list[Callable[[], Any]],
    ) -> None:
        self._server = server
        self.context = context
        self._health = health_servicer
        self.port = port
        self._on_stop = on_stop

    @property
    def address(self) -> str:
        return f"{self.context.settings.host}:{self.port}"

    async def start(self) -> None:
        await self._server.start()
        self.context.background.start()
        logger.info("serving on %s", self.address)

    async def stop(self, grace: float | None = None) -> None:
        """Reports NOT_SERVING, ends open streams, lets in-flight calls finish, closes the pool."""
        await self._health.enter_graceful_shutdown()
        for callback in self._on_stop:
            callback()
        await self.context.background.stop()
        if grace is None:
            grace = self.context.settings.shutdown_grace
        await self._server.stop(grace)
        for close in self.context.closers:
            await close()
        await self.context.database.dispose()

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _server_options(settings: ServerSettings, share_port: bool) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        *listen_options(share_port),
    ]


def _interceptors(api_keys: list[ApiKey]) -> list[grpc.aio.ServerInterceptor]:
    """API keys first, so that an unauthenticated or unentitled call runs nothing at all."""
    if not api_keys:
        return [ErrorInterceptor()]
    roles = Counter(key.role for key in api_keys)
    by_role = ", ".join(f"{roles[role]} {role.label}" for role in Role if roles[role])
    logger.info(
        "every call but health checks needs one of %d API keys (%s)", len(api_keys), by_role
    )
    return [ApiKeyInterceptor(api_keys), ErrorInterceptor()]


async def create_server(
    settings: ServerSettings | None = None, *, clock: Clock | None = None, share_port: bool = False
) -> RunplaneServer:
    """Migrates the database and builds the server; ``start()`` or ``async with`` serves it.

    ``share_port`` lets other processes listen on the same port: the workers of one server.
    """
    settings = settings or ServerSettings()
    # Read first, so that a key file or TLS mistake stops the server before it touches the
    # database.
    api_keys = accepted_api_keys(settings)
    credentials = server_credentials(settings)
    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        settings.home.mkdir(parents=True, exist_ok=True)
    database = Database(url, pool=settings.database_pool())
    await upgrade(database)
    clock = clock or SystemClock()
    subscriptions: SubscriptionRegistry[WorkItem] = SubscriptionRegistry()
    events: Hub[FlowRunEvent] = Hub()
    log_records: LogHub = Hub()
    context = ServerContext(
        settings=settings,
        database=database,
        clock=clock,
        background=Background(database, clock, settings, subscriptions, events, log_records),
        log_records=log_records,
        work_subscriptions=subscriptions,
        flow_run_events=events,
    )

    server = grpc.aio.server(
        interceptors=_interceptors(api_keys), options=_server_options(settings, share_port)
    )
    for service in _SERVICES:
        service.register(generic_only(server), context)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, generic_only(server))
    for name in ["", *(s.full_name for s in _SERVICES)]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    enable_documented_reflection(
        [
            *(s.full_name for s in _SERVICES),
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    try:
        port = bind(server, settings.host, settings.port, credentials)
    except OSError:
        await database.dispose()
        raise
    on_stop: list[Callable[[], Any]] = [
        context.log_records.close,
        context.flow_run_events.close,
        context.work_subscriptions.close_all,
        context.background.task_workers.subscriptions.close_all,
        context.background.task_workers.changes.close,
    ]
    return RunplaneServer(server, context, health_servicer, port, on_stop=on_stop)
