"""Sending generated requests to every RPC of a running server and tallying the answers.

Case ``n`` of a run with seed ``s`` goes to method ``n mod (number of methods)`` with a request
built by a generator seeded with ``"s:n"``, so that a failure names what reproduces it. A run is
bounded by a number of cases and by time, whichever ends first. The fuzz test and
``bench/fuzz.py`` share this module.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
from fuzz_requests import KnownObjects, RequestGenerator
from google.protobuf import descriptor_pool, duration_pb2, text_format
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from runplane._client.channel import contract_services
from runplane.v1 import (
    artifacts_pb2,
    concurrency_pb2,
    deployments_pb2,
    flow_runs_pb2,
    flows_pb2,
    logs_pb2,
    task_runs_pb2,
    variables_pb2,
    work_pb2,
)

# The codes that mean the server failed rather than answered.
FAILURE_CODES = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
# The server's own limit, so that the client does not refuse a large answer first.
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
]
UNARY_DEADLINE = 30.0
# A stream is opened, read for its first item or error within this long, and cancelled.
STREAM_DEADLINE = 0.5
# Share of cases sent as raw bytes rather than as a generated message.
RAW_SHARE = 0.1
# Real objects are created again this often, since the cases delete and change them.
RESEED_EVERY = 400
SHOWN_REQUEST_CHARS = 300

Answer = TypeVar("Answer", bound=Message)


@dataclass(frozen=True)
class Failure:
    """One answer that was a server failure, with what reproduces it."""

    method: str
    case: int
    code: str
    details: str
    request: str

    def __str__(self) -> str:
        return (
            f"{self.method} case {self.case}: {self.code} {self.details!r}\n"
            f"    request: {self.request}"
        )


@dataclass
class Report:
    """Answers by method and status code, and every failure."""

    seed: int
    codes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[Failure] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return sum(sum(seen.values()) for seen in self.codes.values())

    def describe_failures(self) -> str:
        return "\n".join(str(failure) for failure in self.failures)


def contract_methods() -> list[MethodDescriptor]:
    """Every RPC of the runplane contract, in a stable order."""
    pool = descriptor_pool.Default()
    return [
        method
        for service in contract_services()
        for method in pool.FindServiceByName(service).methods
    ]


def method_path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


async def fuzz(
    address: str, *, seed: int, cases: int, seconds: float, concurrency: int = 4
) -> Report:
    """Sends up to ``cases`` cases within about ``seconds`` and reports the answers."""
    report = Report(seed=seed)
    methods = contract_methods()
    deadline = time.monotonic() + seconds
    async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        for start in range(0, cases, RESEED_EVERY):
            if time.monotonic() >= deadline:
                break
            known = await create_known_objects(channel)
            batch = range(start, min(start + RESEED_EVERY, cases))
            await _send_batch(channel, methods, known, report, batch, deadline, concurrency)
    return report


async def _send_batch(
    channel: grpc.aio.Channel,
    methods: list[MethodDescriptor],
    known: KnownObjects,
    report: Report,
    batch: range,
    deadline: float,
    concurrency: int,
) -> None:
    pending = iter(batch)

    async def worker() -> None:
        for case in pending:
            if time.monotonic() >= deadline:
                return
            await send_case(channel, methods[case % len(methods)], known, report, case)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())


async def send_case(
    channel: grpc.aio.Channel,
    method: MethodDescriptor,
    known: KnownObjects,
    report: Report,
    case: int,
) -> None:
    """Builds case ``case`` for ``method``, sends it and records the answer's code."""
    rng = random.Random(f"{report.seed}:{case}")
    generator = RequestGenerator(rng, known, method.containing_service.name)
    if rng.random() < RAW_SHARE:
        encoded = generator.raw_bytes(method.input_type)
        shown = f"raw bytes {encoded[: SHOWN_REQUEST_CHARS // 4]!r}"
    else:
        request = generator.message(method.input_type)
        encoded = request.SerializeToString()
        shown = text_format.MessageToString(request, as_one_line=True)[:SHOWN_REQUEST_CHARS]
    path = method_path(method)
    code, details = await _call(channel, method, path, encoded)
    report.codes[path][code.name] += 1
    if code in FAILURE_CODES:
        report.failures.append(Failure(path, case, code.name, details, shown))


async def _call(
    channel: grpc.aio.Channel, method: MethodDescriptor, path: str, encoded: bytes
) -> tuple[grpc.StatusCode, str]:
    # No serializers: the request goes as the bytes given and the answer is not decoded, so
    # that every code seen is the server's.
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path)(encoded, timeout=STREAM_DEADLINE)
            async for _ in stream:
                break
            stream.cancel()
        else:
            await channel.unary_unary(path)(encoded, timeout=UNARY_DEADLINE)
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


async def _create(
    channel: grpc.aio.Channel, service: str, method: str, request: Message, answer: type[Answer]
) -> Answer:
    raw = await channel.unary_unary(f"/runplane.v1.{service}/{method}")(
        request.SerializeToString(), timeout=UNARY_DEADLINE
    )
    return answer.FromString(raw)


async def create_known_objects(channel: grpc.aio.Channel) -> KnownObjects:
    """Creates one object of each kind, with raw calls, and names them for the generator."""
    known = KnownObjects()
    tag = uuid.uuid4().hex[:8]
    flow = await _create(
        channel,
        "FlowService",
        "CreateFlow",
        flows_pb2.CreateFlowRequest(name=f"fuzz-{tag}"),
        flows_pb2.CreateFlowResponse,
    )
    known.add("FlowService", flow.flow.id, "flow_id")
    known.add("FlowService", flow.flow.name, "flow_name")
    pool = work_pb2.WorkPool(name=f"fuzz-pool-{tag}")
    request = work_pb2.CreateWorkPoolRequest(work_pool=pool)
    await _create(
        channel, "WorkService", "CreateWorkPool", request, work_pb2.CreateWorkPoolResponse
    )
    known.add("WorkService", pool.name, "work_pool_name")
    queue = work_pb2.WorkQueue(name=f"fuzz-queue-{tag}", work_pool_name=pool.name)
    await _create(
        channel,
        "WorkService",
        "CreateWorkQueue",
        work_pb2.CreateWorkQueueRequest(work_queue=queue),
        work_pb2.CreateWorkQueueResponse,
    )
    known.add("WorkService", queue.name, "work_queue_name")
    deployment = deployments_pb2.Deployment(
        name=f"fuzz-{tag}",
        flow_id=flow.flow.id,
        work_pool_name=pool.name,
        entrypoint="flows.py:fuzz",
    )
    created = await _create(
        channel,
        "DeploymentService",
        "CreateDeployment",
        deployments_pb2.CreateDeploymentRequest(deployment=deployment),
        deployments_pb2.CreateDeploymentResponse,
    )
    known.add("DeploymentService", created.deployment.id, "deployment_id")
    await _create_runs(channel, known, flow.flow.id)
    await _create_limit(channel, known, tag)
    await _create_variable_and_artifact(channel, known, tag)
    return known


async def _create_runs(channel: grpc.aio.Channel, known: KnownObjects, flow_id: str) -> None:
    run = await _create(
        channel,
        "FlowRunService",
        "CreateFlowRun",
        flow_runs_pb2.CreateFlowRunRequest(flow_id=flow_id, parameters_json='{"x": 1}'),
        flow_runs_pb2.CreateFlowRunResponse,
    )
    for name in ("flow_run_id", "child_flow_run_id", "cancel_flow_run_id"):
        known.add("FlowRunService", run.flow_run.id, name)
    spec = task_runs_pb2.TaskRunSpec(flow_run_id=run.flow_run.id, task_key="fuzz", dynamic_key="0")
    task_run = await _create(
        channel,
        "TaskRunService",
        "CreateTaskRun",
        task_runs_pb2.CreateTaskRunRequest(spec=spec),
        task_runs_pb2.CreateTaskRunResponse,
    )
    for name in ("task_run_id", "parent_task_run_id", "upstream_task_run_id"):
        known.add("TaskRunService", task_run.task_run.id, name)
    record = logs_pb2.LogRecord(flow_run_id=run.flow_run.id, level=20, message="fuzz")
    await _create(
        channel,
        "LogService",
        "WriteLogs",
        logs_pb2.WriteLogsRequest(records=[record], batch_id=str(uuid.uuid4())),
        logs_pb2.WriteLogsResponse,
    )


async def _create_limit(channel: grpc.aio.Channel, known: KnownObjects, tag: str) -> None:
    name = f"fuzz-limit-{tag}"
    await _create(
        channel,
        "ConcurrencyService",
        "CreateConcurrencyLimit",
        concurrency_pb2.CreateConcurrencyLimitRequest(name=name, limit=2),
        concurrency_pb2.CreateConcurrencyLimitResponse,
    )
    known.add("ConcurrencyService", name)
    acquire = concurrency_pb2.AcquireConcurrencySlotsRequest(
        names=[name],
        holder_id=f"fuzz-{tag}",
        lease_duration=duration_pb2.Duration(seconds=60),
        request_id=str(uuid.uuid4()),
    )
    lease = await _create(
        channel,
        "ConcurrencyService",
        "AcquireConcurrencySlots",
        acquire,
        concurrency_pb2.AcquireConcurrencySlotsResponse,
    )
    if lease.lease_id:
        known.add("ConcurrencyService", lease.lease_id, "lease_id", "held_lease_id")


async def _create_variable_and_artifact(
    channel: grpc.aio.Channel, known: KnownObjects, tag: str
) -> None:
    name = f"fuzz_{tag}"
    await _create(
        channel,
        "VariableService",
        "SetVariable",
        variables_pb2.SetVariableRequest(name=name, value_json='{"a": [1, 2.5]}'),
        variables_pb2.SetVariableResponse,
    )
    known.add("VariableService", name)
    run_ids = known.by_field["flow_run_id"]
    artifact = await _create(
        channel,
        "ArtifactService",
        "CreateArtifact",
        artifacts_pb2.CreateArtifactRequest(
            key=f"fuzz-{tag}",
            type=artifacts_pb2.ARTIFACT_TYPE_MARKDOWN,
            data="# fuzz",
            flow_run_id=run_ids[-1],
        ),
        artifacts_pb2.CreateArtifactResponse,
    )
    known.add("ArtifactService", artifact.artifact.id, "artifact_id")
    known.add("ArtifactService", artifact.artifact.key)
