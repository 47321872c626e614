"""Conversion between the SDK's models and the ``runplane.v1`` protobuf messages, both ways.

This is the only package that knows both sides, with one module for each part of the contract
(``proto/runplane/v1/*.proto``) and ``common`` for the scalars they share. Empty strings on the
wire are ``None`` in the models, unset timestamps are ``None``, and JSON values travel as JSON
text, so that they keep their Python types.
"""

from runplane._client.convert.artifacts import (
    artifact_from_pb,
    artifact_to_pb,
    artifact_type_to_pb,
)
from runplane._client.convert.common import (
    duration_to_pb,
    id_to_pb,
    json_from_pb,
    json_object_from_pb,
    json_object_to_pb,
    json_to_pb,
    timestamp_from_pb,
    timestamp_to_pb,
)
from runplane._client.convert.concurrency import (
    concurrency_lease_from_pb,
    concurrency_lease_to_pb,
    concurrency_limit_from_pb,
    concurrency_limit_to_pb,
)
from runplane._client.convert.deployments import (
    deployment_from_pb,
    deployment_mask_paths,
    deployment_schedule_from_pb,
    deployment_schedule_to_pb,
    deployment_to_pb,
)
from runplane._client.convert.flow_runs import (
    flow_run_change_from_pb,
    flow_run_change_to_pb,
    flow_run_filter_from_pb,
    flow_run_filter_to_pb,
    flow_run_from_pb,
    flow_run_to_pb,
)
from runplane._client.convert.flows import flow_from_pb, flow_to_pb
from runplane._client.convert.logs import (
    log_filter_from_pb,
    log_filter_to_pb,
    log_record_from_pb,
    log_record_to_pb,
)
from runplane._client.convert.states import (
    orchestration_result_from_pb,
    orchestration_result_to_pb,
    result_ref_from_pb,
    result_ref_to_pb,
    retry_policy_from_pb,
    retry_policy_to_pb,
    state_details_from_pb,
    state_details_to_pb,
    state_from_pb,
    state_to_pb,
    state_type_from_pb,
    state_type_to_pb,
)
from runplane._client.convert.task_runs import (
    cached_state_from_pb,
    cached_state_to_pb,
    task_heartbeat_from_pb,
    task_run_filter_from_pb,
    task_run_filter_to_pb,
    task_run_from_pb,
    task_run_spec_from_pb,
    task_run_spec_to_pb,
    task_run_to_pb,
    task_run_update_from_pb,
    task_run_update_to_pb,
    task_worker_item_from_pb,
)
from runplane._client.convert.variables import variable_from_pb, variable_to_pb
from runplane._client.convert.work import (
    heartbeat_result_from_pb,
    heartbeat_result_to_pb,
    work_item_from_pb,
    work_item_to_pb,
    work_pool_from_pb,
    work_pool_to_pb,
    work_queue_from_pb,
    work_queue_to_pb,
)

__all__ = [
    "artifact_from_pb",
    "artifact_to_pb",
    "artifact_type_to_pb",
    "cached_state_from_pb",
    "cached_state_to_pb",
    "concurrency_lease_from_pb",
    "concurrency_lease_to_pb",
    "concurrency_limit_from_pb",
    "concurrency_limit_to_pb",
    "deployment_from_pb",
    "deployment_mask_paths",
    "deployment_schedule_from_pb",
    "deployment_schedule_to_pb",
    "deployment_to_pb",
    "duration_to_pb",
    "flow_from_pb",
    "flow_run_change_from_pb",
    "flow_run_change_to_pb",
    "flow_run_filter_from_pb",
    "flow_run_filter_to_pb",
    "flow_run_from_pb",
    "flow_run_to_pb",
    "flow_to_pb",
    "heartbeat_result_from_pb",
    "heartbeat_result_to_pb",
    "id_to_pb",
    "json_from_pb",
    "json_object_from_pb",
    "json_object_to_pb",
    "json_to_pb",
    "log_filter_from_pb",
    "log_filter_to_pb",
    "log_record_from_pb",
    "log_record_to_pb",
    "orchestration_result_from_pb",
    "orchestration_result_to_pb",
    "result_ref_from_pb",
    "result_ref_to_pb",
    "retry_policy_from_pb",
    "retry_policy_to_pb",
    "state_details_from_pb",
    "state_details_to_pb",
    "state_from_pb",
    "state_to_pb",
    "state_type_from_pb",
    "state_type_to_pb",
    "task_heartbeat_from_pb",
    "task_run_filter_from_pb",
    "task_run_filter_to_pb",
    "task_run_from_pb",
    "task_run_spec_from_pb",
    "task_run_spec_to_pb",
    "task_run_to_pb",
    "task_run_update_from_pb",
    "task_run_update_to_pb",
    "task_worker_item_from_pb",
    "timestamp_from_pb",
    "timestamp_to_pb",
    "variable_from_pb",
    "variable_to_pb",
    "work_item_from_pb",
    "work_item_to_pb",
    "work_pool_from_pb",
    "work_pool_to_pb",
    "work_queue_from_pb",
    "work_queue_to_pb",
]
