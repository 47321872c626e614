"""The role each RPC needs: the one table the API key check reads.

``read`` sees everything and changes nothing. ``worker`` is what runners and the SDK's engine
need to run flows: creating and moving runs, reporting tasks, logs, the work stream,
concurrency slots, setting variables and creating artifacts (a flow may do both), running a
deployment (a flow may start one), and registering deployments (``flow.serve`` and
``deploy`` create or update them by name, and their work pools and queues with them).
``admin`` is needed to delete anything, and to change what operators own: deployments' fields,
work pools and queues, and concurrency limits.

Health checks need no key. Reflection needs a key of any role: it shows the contract, which
is public, and nothing of the data, and grpcurl cannot call anything without it.

A method missing from the table needs ``admin``, so that an RPC added to the contract without
an entry fails closed; a test walks the service descriptors so that none is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from runplane.server.api_keys import Role

OPEN_PREFIX = "/grpc.health.v1.Health/"
"""Methods under this prefix need no key: load balancers and orchestrators probe them."""

READ, WORKER, ADMIN = Role.READ, Role.WORKER, Role.ADMIN

_BY_SERVICE: dict[str, dict[str, Role]] = {
    "runplane.v1.FlowService": {
        "CreateFlow": WORKER,
        "GetFlow": READ,
        "ListFlows": READ,
        "DeleteFlow": ADMIN,
    },
    "runplane.v1.FlowRunService": {
        "CreateFlowRun": WORKER,
        "GetFlowRun": READ,
        "ListFlowRuns": READ,
        "DeleteFlowRun": ADMIN,
        # Cancelling is a proposal too (CANCELLING); the engine and runners need it.
        "SetFlowRunState": WORKER,
        "ListFlowRunStates": READ,
        "WatchFlowRuns": READ,
    },
    "runplane.v1.TaskRunService": {
        "CreateTaskRun": WORKER,
        "GetTaskRun": READ,
        "ListTaskRuns": READ,
        "SetTaskRunState": WORKER,
        "ListTaskRunStates": READ,
        "ReportTaskRuns": WORKER,
        # A lookup writes nothing, and the cached states it finds are readable anyway.
        "LookupCachedState": READ,
        # Task workers take background runs and heartbeat them, as runners do flow runs.
        "SubscribeTaskRuns": WORKER,
        "HeartbeatTaskRuns": WORKER,
        "WatchTaskRun": READ,
    },
    "runplane.v1.LogService": {
        "WriteLogs": WORKER,
        "ListLogs": READ,
        "FollowLogs": READ,
    },
    "runplane.v1.ConcurrencyService": {
        "CreateConcurrencyLimit": ADMIN,
        "GetConcurrencyLimit": READ,
        "ListConcurrencyLimits": READ,
        "DeleteConcurrencyLimit": ADMIN,
        "AcquireConcurrencySlots": WORKER,
        "RenewConcurrencyLease": WORKER,
        "ReleaseConcurrencySlots": WORKER,
    },
    "runplane.v1.ArtifactService": {
        "CreateArtifact": WORKER,
        "GetArtifact": READ,
        "ListArtifacts": READ,
        "UpdateArtifact": WORKER,
        "DeleteArtifact": ADMIN,
    },
    "runplane.v1.VariableService": {
        # Flows set variables (`variables.set`), so workers may, overwriting included.
        "SetVariable": WORKER,
        "GetVariable": READ,
        "ListVariables": READ,
        "DeleteVariable": ADMIN,
    },
    "runplane.v1.DeploymentService": {
        # Create-or-update by (flow, name): what `flow.serve` and `deploy` register with.
        "CreateDeployment": WORKER,
        "GetDeployment": READ,
        "ListDeployments": READ,
        # Pausing, schedules, parameters and concurrency are the operator's to change.
        "UpdateDeployment": ADMIN,
        "DeleteDeployment": ADMIN,
        "RunDeployment": WORKER,
    },
    "runplane.v1.WorkService": {
        # Pools and queues a runner needs are created by SubscribeWork and CreateDeployment.
        "CreateWorkPool": ADMIN,
        "GetWorkPool": READ,
        "ListWorkPools": READ,
        "DeleteWorkPool": ADMIN,
        "UpdateWorkPool": ADMIN,
        "CreateWorkQueue": ADMIN,
        "ListWorkQueues": READ,
        "UpdateWorkQueue": ADMIN,
        "SubscribeWork": WORKER,
        "Heartbeat": WORKER,
        "ReleaseAssignment": WORKER,
    },
    "grpc.reflection.v1alpha.ServerReflection": {
        "ServerReflectionInfo": READ,
    },
}

REQUIRED_ROLES: Mapping[str, Role] = MappingProxyType(
    {
        f"/{service}/{method}": role
        for service, methods in _BY_SERVICE.items()
        for method, role in methods.items()
    }
)
"""The role each method needs, by full method name (``/runplane.v1.FlowService/GetFlow``)."""


def required_role(method: str) -> Role | None:
    """The role ``method`` needs; None for methods that need no key at all."""
    if method.startswith(OPEN_PREFIX):
        return None
    return REQUIRED_ROLES.get(method, Role.ADMIN)
