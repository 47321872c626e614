"""The asynchronous runplane client."""

from __future__ import annotations

from runplane._client.artifacts_api import ArtifactsAPI
from runplane._client.concurrency_api import ConcurrencyAPI
from runplane._client.deployments_api import DeploymentsAPI
from runplane._client.flows_api import FlowRunsAPI, FlowsAPI
from runplane._client.logs_api import LogsAPI
from runplane._client.tasks_api import TaskRunsAPI
from runplane._client.variables_api import VariablesAPI
from runplane._client.work_api import WorkAPI


class RunplaneClient(
    FlowsAPI,
    FlowRunsAPI,
    TaskRunsAPI,
    DeploymentsAPI,
    WorkAPI,
    LogsAPI,
    ConcurrencyAPI,
    VariablesAPI,
    ArtifactsAPI,
):
    """Talks to the runplane API with the SDK's models; one method per API call.

    Use it as ``async with RunplaneClient(settings) as client:``; the gRPC channel is created
    when the block is entered, inside the running event loop. Each call has a deadline of
    ``settings.request_timeout`` seconds, except the streams (``watch_flow_runs``,
    ``follow_logs``, ``subscribe_work``), which run until the iterator is closed. Errors are
    raised as ``RunplaneError`` subclasses. ``client.stubs`` reaches the generated stubs for
    anything this class does not cover.
    """
