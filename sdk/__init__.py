"""runplane: Python workflows recorded and orchestrated by a gRPC control plane.

Flows and tasks are plain functions with a decorator::

    from runplane import flow, task

    @task(retries=2)
    def double(x: int) -> int:
        return 2 * x

    @flow(log_prints=True)
    def pipeline(n: int = 3) -> list[int]:
        return [f.result() for f in double.map(range(n))]

    pipeline()

The client talks to the API with plain models; protobuf stays behind it::

    import runplane

    async with runplane.get_client() as client:
        page = await client.list_flow_runs(runplane.FlowRunFilter(tags=("nightly",)))
        for run in page:
            print(run.name, run.state.type if run.state else None)

Settings come from ``RUNPLANE_*`` environment variables (see ``Settings``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# First, so that the command line's choice of gRPC log level precedes gRPC's import.
import runplane._grpc_logging  # noqa: F401  # isort: split
from runplane._lazy_exports import lazy_exports

# The public names are imported on first use (see _lazy_exports), so that importing one
# part of the package (the server's state rules, the command line) does not load the
# whole SDK. Type checkers and editors read them from this block.
if TYPE_CHECKING:
    from runplane._client.client import RunplaneClient
    from runplane._client.errors import (
        Aborted,
        AlreadyExists,
        DeadlineExceeded,
        FailedPrecondition,
        FieldViolation,
        InvalidArgument,
        MessageTooLarge,
        NotFound,
        PermissionDenied,
        PreconditionViolation,
        RunplaneError,
        ServerError,
        Unauthenticated,
        Unavailable,
    )
    from runplane._client.models import (
        Artifact,
        ArtifactType,
        CachedState,
        CancelRun,
        CatchupPolicy,
        CollisionStrategy,
        ConcurrencyLease,
        ConcurrencyLimit,
        CronSchedule,
        Deployment,
        DeploymentSchedule,
        FlowRun,
        FlowRunChange,
        FlowRunFilter,
        HeartbeatResult,
        IntervalSchedule,
        LogFilter,
        LogRecord,
        OrchestrationResult,
        OrchestrationStatus,
        Page,
        Ping,
        Reconnect,
        ResultRef,
        RetryPolicy,
        RRuleSchedule,
        RunAssignment,
        State,
        StateDetails,
        StateType,
        SubscriptionStarted,
        TaskRun,
        TaskRunFilter,
        TaskRunSpec,
        TaskRunUpdate,
        Variable,
        WorkItem,
        WorkPool,
        WorkQueue,
    )
    from runplane._client.models import Flow as FlowRecord
    from runplane._client.settings import Settings, get_settings
    from runplane._client.sync_client import SyncRunplaneClient, get_client
    from runplane._client.transport import Stubs
    from runplane._dask import DaskTaskRunner
    from runplane._deployments.deploy import adeploy, deploy
    from runplane._deployments.runner_deployment import RunnerDeployment
    from runplane._deployments.serve import (
        RunDeploymentTimeout,
        arun_deployment,
        run_deployment,
        serve,
    )
    from runplane._deployments.sources import GitRepository
    from runplane._engine.errors import (
        ParameterValidationError,
        PauseTimeout,
        RunAborted,
        TerminationSignal,
        TimedOut,
        UpstreamFailed,
    )
    from runplane._engine.parameters import allow_failure, unmapped
    from runplane._engine.pauses import apause_flow_run, pause_flow_run, resume_flow_run
    from runplane._engine.suspensions import asuspend_flow_run, suspend_flow_run
    from runplane._flows import Flow, flow
    from runplane._futures import RunplaneFuture, RunplaneFutureList, as_completed, wait
    from runplane._retries import exponential_backoff
    from runplane._runtime.artifacts import (
        create_image_artifact,
        create_link_artifact,
        create_markdown_artifact,
        create_progress_artifact,
        create_table_artifact,
        update_progress_artifact,
    )
    from runplane._runtime.cache import (
        DEFAULT,
        FLOW_PARAMETERS,
        INPUTS,
        NO_CACHE,
        RUN_ID,
        TASK_SOURCE,
        CachePolicy,
        task_input_hash,
    )
    from runplane._runtime.concurrency import (
        ConcurrencySlots,
        arate_limit,
        concurrency,
        rate_limit,
    )
    from runplane._runtime.context import tags
    from runplane._runtime.run_context import RunContext, get_run_context
    from runplane._runtime.run_logs import get_run_logger
    from runplane._states import (
        Cancelled,
        Completed,
        Crashed,
        Failed,
        Pending,
        Running,
        Scheduled,
    )
    from runplane._task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner
    from runplane._task_workers.futures import BackgroundTaskFuture
    from runplane._task_workers.worker import TaskWorker, serve_tasks
    from runplane._tasks import Task, task

# Where each public name lives: the module, and the names it exports.
_EXPORTED_FROM: dict[str, tuple[str, ...]] = {
    "runplane._runtime.artifacts": (
        "create_image_artifact",
        "create_link_artifact",
        "create_markdown_artifact",
        "create_progress_artifact",
        "create_table_artifact",
        "update_progress_artifact",
    ),
    "runplane._runtime.cache": (
        "DEFAULT",
        "FLOW_PARAMETERS",
        "INPUTS",
        "NO_CACHE",
        "RUN_ID",
        "TASK_SOURCE",
        "CachePolicy",
        "task_input_hash",
    ),
    "runplane._client.client": ("RunplaneClient",),
    "runplane._runtime.concurrency": (
        "ConcurrencySlots",
        "arate_limit",
        "concurrency",
        "rate_limit",
    ),
    "runplane._runtime.context": ("tags",),
    "runplane._dask": ("DaskTaskRunner",),
    "runplane._deployments.deploy": ("adeploy", "deploy"),
    "runplane._deployments.runner_deployment": ("RunnerDeployment",),
    "runplane._deployments.sources": ("GitRepository",),
    "runplane._engine.errors": (
        "ParameterValidationError",
        "PauseTimeout",
        "RunAborted",
        "TerminationSignal",
        "TimedOut",
        "UpstreamFailed",
    ),
    "runplane._engine.parameters": ("allow_failure", "unmapped"),
    "runplane._engine.pauses": ("apause_flow_run", "pause_flow_run", "resume_flow_run"),
    "runplane._engine.suspensions": ("asuspend_flow_run", "suspend_flow_run"),
    "runplane._client.errors": (
        "Aborted",
        "AlreadyExists",
        "DeadlineExceeded",
        "FailedPrecondition",
        "FieldViolation",
        "InvalidArgument",
        "MessageTooLarge",
        "NotFound",
        "PermissionDenied",
        "PreconditionViolation",
        "RunplaneError",
        "ServerError",
        "Unauthenticated",
        "Unavailable",
    ),
    "runplane._flows": ("Flow", "flow"),
    "runplane._futures": ("RunplaneFuture", "RunplaneFutureList", "as_completed", "wait"),
    "runplane._task_workers.futures": ("BackgroundTaskFuture",),
    "runplane._task_workers.worker": ("TaskWorker", "serve_tasks"),
    "runplane._runtime.run_logs": ("get_run_logger",),
    "runplane._client.models": (
        "Artifact",
        "ArtifactType",
        "CachedState",
        "CancelRun",
        "CatchupPolicy",
        "CollisionStrategy",
        "ConcurrencyLease",
        "ConcurrencyLimit",
        "CronSchedule",
        "Deployment",
        "DeploymentSchedule",
        "FlowRun",
        "FlowRunChange",
        "FlowRunFilter",
        "HeartbeatResult",
        "IntervalSchedule",
        "LogFilter",
        "LogRecord",
        "OrchestrationResult",
        "OrchestrationStatus",
        "Page",
        "Ping",
        "Reconnect",
        "ResultRef",
        "RetryPolicy",
        "RRuleSchedule",
        "RunAssignment",
        "State",
        "StateDetails",
        "StateType",
        "SubscriptionStarted",
        "TaskRun",
        "TaskRunFilter",
        "TaskRunSpec",
        "TaskRunUpdate",
        "Variable",
        "WorkItem",
        "WorkPool",
        "WorkQueue",
    ),
    "runplane._retries": ("exponential_backoff",),
    "runplane._runtime.run_context": ("RunContext", "get_run_context"),
    "runplane._deployments.serve": (
        "RunDeploymentTimeout",
        "arun_deployment",
        "run_deployment",
        "serve",
    ),
    "runplane._client.settings": ("Settings", "get_settings"),
    "runplane._client.sync_client": ("SyncRunplaneClient", "get_client"),
    "runplane._states": (
        "Cancelled",
        "Completed",
        "Crashed",
        "Failed",
        "Pending",
        "Running",
        "Scheduled",
    ),
    "runplane._task_runners": ("ProcessPoolTaskRunner", "TaskRunner", "ThreadPoolTaskRunner"),
    "runplane._tasks": ("Task", "task"),
    "runplane._client.transport": ("Stubs",),
}
# Names exported under another name than their module's.
_RENAMED: dict[str, tuple[str, str]] = {
    "FlowRecord": ("runplane._client.models", "Flow"),
}
if not TYPE_CHECKING:  # a module __getattr__ would let type checkers accept any name
    __getattr__, __dir__ = lazy_exports(
        __name__, globals(), _EXPORTED_FROM, _RENAMED, submodules=("runtime",)
    )

__all__ = [
    "DEFAULT",
    "FLOW_PARAMETERS",
    "INPUTS",
    "NO_CACHE",
    "RUN_ID",
    "TASK_SOURCE",
    "Aborted",
    "AlreadyExists",
    "Artifact",
    "ArtifactType",
    "BackgroundTaskFuture",
    "CachePolicy",
    "CachedState",
    "CancelRun",
    "Cancelled",
    "CatchupPolicy",
    "CollisionStrategy",
    "Completed",
    "ConcurrencyLease",
    "ConcurrencyLimit",
    "ConcurrencySlots",
    "Crashed",
    "CronSchedule",
    "DaskTaskRunner",
    "DeadlineExceeded",
    "Deployment",
    "DeploymentSchedule",
    "Failed",
    "FailedPrecondition",
    "FieldViolation",
    "Flow",
    "FlowRecord",
    "FlowRun",
    "FlowRunChange",
    "FlowRunFilter",
    "GitRepository",
    "HeartbeatResult",
    "IntervalSchedule",
    "InvalidArgument",
    "LogFilter",
    "LogRecord",
    "MessageTooLarge",
    "NotFound",
    "OrchestrationResult",
    "OrchestrationStatus",
    "Page",
    "ParameterValidationError",
    "PauseTimeout",
    "Pending",
    "PermissionDenied",
    "Ping",
    "PreconditionViolation",
    "ProcessPoolTaskRunner",
    "RRuleSchedule",
    "Reconnect",
    "ResultRef",
    "RetryPolicy",
    "RunAborted",
    "RunAssignment",
    "RunContext",
    "RunDeploymentTimeout",
    "RunnerDeployment",
    "Running",
    "RunplaneClient",
    "RunplaneError",
    "RunplaneFuture",
    "RunplaneFutureList",
    "Scheduled",
    "ServerError",
    "Settings",
    "State",
    "StateDetails",
    "StateType",
    "Stubs",
    "SubscriptionStarted",
    "SyncRunplaneClient",
    "Task",
    "TaskRun",
    "TaskRunFilter",
    "TaskRunSpec",
    "TaskRunUpdate",
    "TaskRunner",
    "TaskWorker",
    "TerminationSignal",
    "ThreadPoolTaskRunner",
    "TimedOut",
    "Unauthenticated",
    "Unavailable",
    "UpstreamFailed",
    "Variable",
    "WorkItem",
    "WorkPool",
    "WorkQueue",
    "adeploy",
    "allow_failure",
    "apause_flow_run",
    "arate_limit",
    "arun_deployment",
    "as_completed",
    "asuspend_flow_run",
    "concurrency",
    "create_image_artifact",
    "create_link_artifact",
    "create_markdown_artifact",
    "create_progress_artifact",
    "create_table_artifact",
    "deploy",
    "exponential_backoff",
    "flow",
    "get_client",
    "get_run_context",
    "get_run_logger",
    "get_settings",
    "pause_flow_run",
    "rate_limit",
    "resume_flow_run",
    "run_deployment",
    "serve",
    "serve_tasks",
    "suspend_flow_run",
    "tags",
    "task",
    "task_input_hash",
    "unmapped",
    "update_progress_artifact",
    "wait",
]
