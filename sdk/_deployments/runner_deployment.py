"""``RunnerDeployment``: a flow packaged with its schedules and settings, ready to register."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runplane._client.models import (
    DEFAULT_RUNTIME,
    CollisionStrategy,
    CronSchedule,
    Deployment,
    DeploymentSchedule,
    IntervalSchedule,
    RetryPolicy,
    RRuleSchedule,
)
from runplane._deployments.sources import PULL_STEPS
from runplane._retries import retry_delays

if TYPE_CHECKING:
    from runplane._client.client import RunplaneClient
    from runplane._flows import Flow

ScheduleLike = DeploymentSchedule | CronSchedule | IntervalSchedule | RRuleSchedule


def flow_entrypoint(flow: Flow[Any, Any]) -> str:
    """Where a runner imports ``flow`` from.

    A script, or a file under the working directory, gives its absolute path
    (``/abs/path/file.py:func``), so that a runner started in any directory of the same
    machine loads it; a module installed elsewhere gives ``module:func``, which a runner
    loads wherever the same package is installed.
    """
    fn = flow.fn
    attribute = fn.__name__
    source = inspect.getsourcefile(fn)
    module = getattr(fn, "__module__", "__main__")
    if source is None:
        if module == "__main__":
            raise ValueError(f"cannot tell where flow {flow.name!r} is defined; pass entrypoint=")
        return f"{module}:{attribute}"
    path = Path(source).resolve()
    scripted = module == "__main__" or module.startswith("runplane_entry_")
    if scripted or path.is_relative_to(Path.cwd().resolve()):
        return f"{path}:{attribute}"
    return f"{module}:{attribute}"


def flow_retry_policy(flow: Flow[Any, Any]) -> RetryPolicy | None:
    """The flow's retries, for the server to apply to runs that crash on a runner."""
    if not flow.retries:
        return None
    delays = retry_delays(flow.retry_delay_seconds, flow.retries)
    return RetryPolicy(retries=flow.retries, retry_delay_seconds=tuple(delays))


def parameter_schema(flow: Flow[Any, Any]) -> dict[str, Any]:
    """The JSON schema of the flow's parameters, from its signature and annotations."""
    import pydantic

    try:
        hints = typing.get_type_hints(flow.fn)
    except Exception:
        hints = {}
    fields: dict[str, Any] = {}
    any_keyword = False
    for name, param in flow.signature.parameters.items():
        any_keyword = any_keyword or param.kind is param.VAR_KEYWORD
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = ... if param.default is param.empty else param.default
        fields[name] = (hints.get(name, Any), default)
    model = pydantic.create_model(
        "Parameters", __config__=pydantic.ConfigDict(arbitrary_types_allowed=True), **fields
    )
    try:
        schema: dict[str, Any] = model.model_json_schema()
    except pydantic.PydanticUserError:
        # A type with no JSON schema: keep the names so that unknown parameters are caught.
        names = list(fields)
        schema = {"type": "object", "properties": {name: {} for name in names}}
    schema["title"] = "Parameters"
    # The server refuses names the schema does not list, unless the flow takes **kwargs.
    if any_keyword:
        schema["additionalProperties"] = True
    return schema


def build_schedules(
    *,
    cron: str | Iterable[str] | None = None,
    interval: float | timedelta | Iterable[float | timedelta] | None = None,
    rrule: str | Iterable[str] | None = None,
    schedules: Iterable[ScheduleLike] | None = None,
    timezone: str | None = None,
    anchor_time: datetime | None = None,
) -> tuple[DeploymentSchedule, ...]:
    """Deployment schedules from the shorthand arguments of ``serve`` and ``to_deployment``."""
    built: list[DeploymentSchedule] = [_schedule(item) for item in schedules or ()]
    for expression in _many(cron):
        built.append(
            DeploymentSchedule(schedule=CronSchedule(expression=expression, timezone=timezone))
        )
    for every in _many(interval):
        seconds = every if isinstance(every, timedelta) else timedelta(seconds=float(every))
        built.append(
            DeploymentSchedule(
                schedule=IntervalSchedule(
                    interval=seconds, anchor_time=anchor_time, timezone=timezone
                )
            )
        )
    for rule in _many(rrule):
        built.append(DeploymentSchedule(schedule=RRuleSchedule(rrule=rule, timezone=timezone)))
    return tuple(built)


def _many(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | int | float | timedelta):
        return [value]
    return list(value)


def _schedule(item: ScheduleLike) -> DeploymentSchedule:
    if isinstance(item, DeploymentSchedule):
        return item
    return DeploymentSchedule(schedule=item)


@dataclass(frozen=True)
class RunnerDeployment:
    """A deployment of a flow: what ``flow.to_deployment`` returns and ``serve`` registers."""

    name: str
    flow: Flow[Any, Any]
    entrypoint: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    schedules: Sequence[DeploymentSchedule] = ()
    paused: bool = False
    tags: Sequence[str] = ()
    version: str | None = None
    description: str = ""
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    concurrency_limit: int | None = None
    collision_strategy: CollisionStrategy = CollisionStrategy.ENQUEUE
    enforce_parameter_schema: bool = True
    job_variables: Mapping[str, Any] = field(default_factory=dict)
    retry_policy: RetryPolicy | None = None

    @property
    def full_name(self) -> str:
        """``flow-name/deployment-name``, as ``run_deployment`` takes it."""
        return f"{self.flow.name}/{self.name}"

    def to_model(self, work_pool_name: str | None = None) -> Deployment:
        """The deployment as the API stores it, on ``work_pool_name`` unless it has a pool."""
        return Deployment(
            name=self.name,
            flow_name=self.flow.name,
            entrypoint=self.entrypoint,
            description=self.description,
            version=self.version,
            tags=tuple(self.tags),
            parameters=dict(self.parameters),
            parameter_schema=parameter_schema(self.flow),
            enforce_parameter_schema=self.enforce_parameter_schema,
            schedules=tuple(self.schedules),
            paused=self.paused,
            concurrency_limit=self.concurrency_limit,
            collision_strategy=self.collision_strategy,
            work_pool_name=self.work_pool_name or work_pool_name,
            work_queue_name=self.work_queue_name,
            job_variables=dict(self.job_variables),
            retry_policy=self.retry_policy,
            # A Python flow: only runners of the python runtime are handed its runs.
            runtime=DEFAULT_RUNTIME,
        )

    async def apply(self, client: RunplaneClient, work_pool_name: str | None = None) -> Deployment:
        """Creates the deployment, or updates the one with the same flow and name."""
        return await client.create_deployment(self.to_model(work_pool_name))


def to_deployment(
    flow: Flow[Any, Any],
    name: str,
    *,
    entrypoint: str | None = None,
    cron: str | Iterable[str] | None = None,
    interval: float | timedelta | Iterable[float | timedelta] | None = None,
    rrule: str | Iterable[str] | None = None,
    schedules: Iterable[ScheduleLike] | None = None,
    timezone: str | None = None,
    anchor_time: datetime | None = None,
    parameters: Mapping[str, Any] | None = None,
    paused: bool = False,
    tags: Iterable[str] = (),
    version: str | None = None,
    description: str | None = None,
    work_pool_name: str | None = None,
    work_queue_name: str | None = None,
    concurrency_limit: int | None = None,
    collision_strategy: CollisionStrategy | str = CollisionStrategy.ENQUEUE,
    enforce_parameter_schema: bool = True,
    job_variables: Mapping[str, Any] | None = None,
) -> RunnerDeployment:
    """A deployment of ``flow``; see ``Flow.to_deployment``."""
    if not name or "/" in name:
        raise ValueError(f"deployment name {name!r} must be non-empty and contain no '/'")
    if concurrency_limit is not None and concurrency_limit < 1:
        raise ValueError("concurrency_limit must be at least 1")
    job_variables = dict(job_variables or {})
    source = flow.code_source
    if entrypoint is None and source is not None:
        # A flow from Flow.from_source: runners find it where its source is, not in this
        # process's copy (a repository's clone under this home).
        entrypoint = source.deployment_entrypoint()
        steps = source.pull_steps()
        if steps is not None:
            job_variables.setdefault(PULL_STEPS, steps)
    return RunnerDeployment(
        name=name,
        flow=flow,
        entrypoint=entrypoint or flow_entrypoint(flow),
        parameters=dict(parameters or {}),
        schedules=build_schedules(
            cron=cron,
            interval=interval,
            rrule=rrule,
            schedules=schedules,
            timezone=timezone,
            anchor_time=anchor_time,
        ),
        paused=paused,
        tags=tuple(tags),
        version=version or flow.version,
        description=description if description is not None else (flow.description or ""),
        work_pool_name=work_pool_name,
        work_queue_name=work_queue_name,
        concurrency_limit=concurrency_limit,
        collision_strategy=CollisionStrategy(collision_strategy),
        enforce_parameter_schema=enforce_parameter_schema,
        job_variables=job_variables,
        retry_policy=flow_retry_policy(flow),
    )
