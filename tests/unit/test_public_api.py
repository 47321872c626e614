"""The public names of ``runplane`` are deliberate, and importing it stays light."""

from __future__ import annotations

import runplane

EXPECTED = [
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
    "DEFAULT",
    "DaskTaskRunner",
    "DeadlineExceeded",
    "Deployment",
    "DeploymentSchedule",
    "FLOW_PARAMETERS",
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
    "INPUTS",
    "IntervalSchedule",
    "InvalidArgument",
    "LogFilter",
    "LogRecord",
    "MessageTooLarge",
    "NO_CACHE",
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
    "RUN_ID",
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
    "TASK_SOURCE",
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


def test_all_is_pinned() -> None:
    assert sorted(runplane.__all__) == EXPECTED


def test_every_public_name_exists() -> None:
    missing = [name for name in runplane.__all__ if not hasattr(runplane, name)]
    assert missing == []


def test_no_protobuf_module_is_public() -> None:
    public = [getattr(runplane, name) for name in runplane.__all__]
    assert not any(getattr(obj, "__module__", "").startswith("runplane.v1") for obj in public)


def test_import_does_not_load_the_server_stack(
    modules_loaded_by: dict[str, frozenset[str]],
) -> None:
    server_stack = ("sqlalchemy", "alembic", "runplane.server", "psycopg", "aiosqlite")
    assert [m for m in server_stack if m in modules_loaded_by["runplane"]] == []


def test_import_does_not_load_dask(modules_loaded_by: dict[str, frozenset[str]]) -> None:
    dask = [m for m in modules_loaded_by["runplane"] if m.split(".")[0] in ("dask", "distributed")]
    assert dask == []


def test_sync_client_has_every_call_of_the_async_client() -> None:
    def calls(cls: type) -> set[str]:
        return {name for name in dir(cls) if not name.startswith("_")} - {
            "open",
            "close",
            "settings",
            "stubs",
        }

    assert calls(runplane.RunplaneClient) == calls(runplane.SyncRunplaneClient)
    assert len(calls(runplane.RunplaneClient)) == 60


def test_get_client_returns_the_requested_kind() -> None:
    assert isinstance(runplane.get_client(), runplane.RunplaneClient)
    assert isinstance(runplane.get_client(sync_client=True), runplane.SyncRunplaneClient)
