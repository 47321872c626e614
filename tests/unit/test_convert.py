"""Every SDK model goes to protobuf and comes back equal, full and empty."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from google.protobuf.message import Message
from pydantic import BaseModel

from runplane import (
    CachedState,
    CancelRun,
    CatchupPolicy,
    CollisionStrategy,
    ConcurrencyLease,
    ConcurrencyLimit,
    CronSchedule,
    Deployment,
    DeploymentSchedule,
    FlowRecord,
    FlowRun,
    FlowRunChange,
    FlowRunFilter,
    HeartbeatResult,
    IntervalSchedule,
    LogFilter,
    LogRecord,
    OrchestrationResult,
    OrchestrationStatus,
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
    WorkPool,
    WorkQueue,
)
from runplane._client import convert
from runplane.v1 import deployments_pb2, flow_runs_pb2, states_pb2, work_pb2

NOW = datetime(2031, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
PARAMETERS: dict[str, Any] = {
    "count": 3,
    "ratio": 0.25,
    "name": "nightly",
    "flag": True,
    "missing": None,
    "nested": {"list": [1, "two", {"three": [3.5, None, False]}], "empty": {}},
    "items": [],
}


def full_state() -> State:
    return State(
        id=uuid4(),
        type=StateType.COMPLETED,
        name="Cached",
        timestamp=NOW,
        message="done",
        result=ResultRef(storage="local-file:/tmp/results", key="abc", serializer="cloudpickle"),
        details=StateDetails(
            scheduled_time=NOW,
            cache_key="key-1",
            cache_expiration=NOW + timedelta(days=1),
            retriable=True,
            transition_id=uuid4(),
            lease_id=uuid4(),
            pause_deadline=NOW + timedelta(hours=1),
            child_flow_run_id=uuid4(),
            upstream_task_run_id=uuid4(),
        ),
    )


def full_flow_run() -> FlowRun:
    return FlowRun(
        id=uuid4(),
        name="brave-otter",
        flow_id=uuid4(),
        flow_name="etl",
        deployment_id=uuid4(),
        state=full_state(),
        parameters=PARAMETERS,
        tags=("a", "b"),
        run_count=2,
        start_time=NOW,
        end_time=NOW + timedelta(minutes=5),
        total_run_time=timedelta(minutes=4, microseconds=17),
        expected_start_time=NOW,
        next_scheduled_start_time=NOW,
        idempotency_key="once",
        parent_task_run_id=uuid4(),
        retry_policy=RetryPolicy(retries=3, retry_delay_seconds=(1.0, 2.5)),
        job_variables={"env": {"A": "1"}},
        work_pool_name="pool",
        work_queue_name="queue",
        flow_version="v1",
        attempt=2,
        heartbeat_time=NOW,
        create_time=NOW,
        update_time=NOW,
    )


def full_deployment() -> Deployment:
    return Deployment(
        id=uuid4(),
        name="nightly",
        entrypoint="flows.py:etl",
        flow_name="etl",
        flow_id=uuid4(),
        description="every night",
        version="1.2",
        tags=("prod",),
        parameters=PARAMETERS,
        parameter_schema={"type": "object", "properties": {"count": {"type": "integer"}}},
        enforce_parameter_schema=True,
        schedules=(
            DeploymentSchedule(
                schedule=CronSchedule(expression="0 9 * * MON-FRI", timezone="Europe/Paris"),
                id=uuid4(),
                parameters={"count": 1},
                catchup=CatchupPolicy.LATEST_ONLY,
            ),
            DeploymentSchedule(
                schedule=IntervalSchedule(interval=timedelta(minutes=15), anchor_time=NOW),
                active=False,
                catchup=CatchupPolicy.SKIP_MISSED,
            ),
            DeploymentSchedule(schedule=RRuleSchedule(rrule="FREQ=WEEKLY;BYDAY=MO")),
        ),
        paused=True,
        concurrency_limit=0,
        collision_strategy=CollisionStrategy.CANCEL_NEW,
        work_pool_name="pool",
        work_queue_name="queue",
        job_variables={"image": "python:3.11"},
        create_time=NOW,
        update_time=NOW,
    )


def full_task_run_spec() -> TaskRunSpec:
    return TaskRunSpec(
        flow_run_id=uuid4(),
        task_key="etl.extract-1a2b",
        task_run_id=uuid4(),
        dynamic_key="3",
        name="extract-3",
        tags=("io",),
        task_version="7",
        retry_policy=RetryPolicy(retries=1),
        inputs={"rows": (uuid4(), uuid4()), "none": ()},
        cache_key="ck",
        cache_expiration=NOW,
    )


FULL: list[tuple[BaseModel, Callable[[Any], Message], Callable[[Any], Any]]] = [
    (full_state(), convert.state_to_pb, convert.state_from_pb),
    (
        OrchestrationResult(
            status=OrchestrationStatus.WAIT, state=full_state(), reason="later", wait_seconds=2.5
        ),
        convert.orchestration_result_to_pb,
        convert.orchestration_result_from_pb,
    ),
    (
        FlowRecord(id=uuid4(), name="etl", tags=("x",), create_time=NOW),
        convert.flow_to_pb,
        convert.flow_from_pb,
    ),
    (full_flow_run(), convert.flow_run_to_pb, convert.flow_run_from_pb),
    (
        FlowRunFilter(
            flow_run_ids=(uuid4(),),
            flow_ids=(uuid4(), uuid4()),
            deployment_ids=(uuid4(),),
            state_types=(StateType.SCHEDULED, StateType.CANCELLING),
            state_names=("Late",),
            tags=("a",),
            parent_task_run_id=uuid4(),
            work_pool_name="pool",
            expected_start_time_before=NOW,
            expected_start_time_after=NOW - timedelta(days=1),
        ),
        convert.flow_run_filter_to_pb,
        convert.flow_run_filter_from_pb,
    ),
    (
        FlowRunChange(flow_run=full_flow_run(), state=full_state()),
        convert.flow_run_change_to_pb,
        convert.flow_run_change_from_pb,
    ),
    (
        TaskRun(
            id=uuid4(),
            flow_run_id=uuid4(),
            task_key="etl.extract-1a2b",
            dynamic_key="0",
            name="extract-0",
            state=full_state(),
            cache_key="ck",
            cache_expiration=NOW,
            task_version="7",
            tags=("io",),
            run_count=1,
            start_time=NOW,
            end_time=NOW,
            total_run_time=timedelta(seconds=1.5),
            expected_start_time=NOW,
            retry_policy=RetryPolicy(retries=2, retry_delay_seconds=(0.5,)),
            inputs={"rows": (uuid4(),)},
            create_time=NOW,
            update_time=NOW,
        ),
        convert.task_run_to_pb,
        convert.task_run_from_pb,
    ),
    (full_task_run_spec(), convert.task_run_spec_to_pb, convert.task_run_spec_from_pb),
    (
        TaskRunFilter(
            task_run_ids=(uuid4(),),
            flow_run_ids=(uuid4(),),
            state_types=(StateType.FAILED,),
            task_key="k",
            cache_key="c",
        ),
        convert.task_run_filter_to_pb,
        convert.task_run_filter_from_pb,
    ),
    (
        TaskRunUpdate(
            sequence=7, task_run_id=uuid4(), create=full_task_run_spec(), state=full_state()
        ),
        convert.task_run_update_to_pb,
        convert.task_run_update_from_pb,
    ),
    (full_deployment(), convert.deployment_to_pb, convert.deployment_from_pb),
    (
        WorkPool(
            name="pool",
            id=uuid4(),
            description="gpu",
            paused=True,
            concurrency_limit=4,
            subscriber_count=2,
            create_time=NOW,
        ),
        convert.work_pool_to_pb,
        convert.work_pool_from_pb,
    ),
    (
        WorkQueue(
            name="q",
            work_pool_name="pool",
            id=uuid4(),
            priority=2,
            paused=True,
            concurrency_limit=0,
        ),
        convert.work_queue_to_pb,
        convert.work_queue_from_pb,
    ),
    (
        HeartbeatResult(
            cancel_flow_run_ids=(uuid4(),),
            unknown_flow_run_ids=(uuid4(), uuid4()),
            lease_expire_time=NOW,
            finished_flow_run_ids=(uuid4(),),
        ),
        convert.heartbeat_result_to_pb,
        convert.heartbeat_result_from_pb,
    ),
    (
        LogRecord(
            flow_run_id=uuid4(),
            level=40,
            message="boom\nline two ✓",
            timestamp=NOW,
            logger_name="runplane.flow",
            task_run_id=uuid4(),
            id="12345",
        ),
        convert.log_record_to_pb,
        convert.log_record_from_pb,
    ),
    (
        LogFilter(flow_run_id=uuid4(), task_run_id=uuid4(), min_level=30),
        convert.log_filter_to_pb,
        convert.log_filter_from_pb,
    ),
    (
        ConcurrencyLimit(id=uuid4(), name="tag:db", limit=5, active_slots=2, create_time=NOW),
        convert.concurrency_limit_to_pb,
        convert.concurrency_limit_from_pb,
    ),
    (
        ConcurrencyLease(
            granted=True, lease_id=uuid4(), lease_expire_time=NOW, retry_after=timedelta(0.5)
        ),
        convert.concurrency_lease_to_pb,
        convert.concurrency_lease_from_pb,
    ),
    (
        CachedState(state=full_state(), task_run_id=uuid4()),
        convert.cached_state_to_pb,
        convert.cached_state_from_pb,
    ),
    (
        Variable(
            id=uuid4(),
            name="warehouse",
            value={"hosts": ["a", "b"], "port": 5432, "ratio": 0.5, "tls": True, "note": None},
            tags=("prod",),
            create_time=NOW,
            update_time=NOW,
        ),
        convert.variable_to_pb,
        convert.variable_from_pb,
    ),
]

EMPTY: list[tuple[BaseModel, Callable[[Any], Message], Callable[[Any], Any]]] = [
    (State(type=StateType.PENDING), convert.state_to_pb, convert.state_from_pb),
    (
        OrchestrationResult(status=OrchestrationStatus.ABORT),
        convert.orchestration_result_to_pb,
        convert.orchestration_result_from_pb,
    ),
    (FlowRecord(id=uuid4(), name="f"), convert.flow_to_pb, convert.flow_from_pb),
    (
        FlowRun(id=uuid4(), name="r", flow_id=uuid4()),
        convert.flow_run_to_pb,
        convert.flow_run_from_pb,
    ),
    (FlowRunFilter(), convert.flow_run_filter_to_pb, convert.flow_run_filter_from_pb),
    (
        TaskRun(id=uuid4(), flow_run_id=uuid4(), task_key="k"),
        convert.task_run_to_pb,
        convert.task_run_from_pb,
    ),
    (
        TaskRunSpec(flow_run_id=uuid4(), task_key="k"),
        convert.task_run_spec_to_pb,
        convert.task_run_spec_from_pb,
    ),
    (TaskRunFilter(), convert.task_run_filter_to_pb, convert.task_run_filter_from_pb),
    (
        TaskRunUpdate(sequence=1, task_run_id=uuid4()),
        convert.task_run_update_to_pb,
        convert.task_run_update_from_pb,
    ),
    (
        Deployment(name="d", entrypoint="m:f"),
        convert.deployment_to_pb,
        convert.deployment_from_pb,
    ),
    (WorkPool(name="p"), convert.work_pool_to_pb, convert.work_pool_from_pb),
    (
        WorkQueue(name="q", work_pool_name="p"),
        convert.work_queue_to_pb,
        convert.work_queue_from_pb,
    ),
    (HeartbeatResult(), convert.heartbeat_result_to_pb, convert.heartbeat_result_from_pb),
    (
        LogRecord(flow_run_id=uuid4(), level=20, message="", timestamp=NOW),
        convert.log_record_to_pb,
        convert.log_record_from_pb,
    ),
    (LogFilter(), convert.log_filter_to_pb, convert.log_filter_from_pb),
    (
        ConcurrencyLimit(id=uuid4(), name="n", limit=0),
        convert.concurrency_limit_to_pb,
        convert.concurrency_limit_from_pb,
    ),
    (
        ConcurrencyLease(granted=False),
        convert.concurrency_lease_to_pb,
        convert.concurrency_lease_from_pb,
    ),
    (Variable(id=uuid4(), name="v"), convert.variable_to_pb, convert.variable_from_pb),
]


def _name(case: object) -> str:
    return type(case).__name__ if isinstance(case, BaseModel) else ""


@pytest.mark.parametrize(("model", "to_pb", "from_pb"), FULL, ids=[_name(c[0]) for c in FULL])
def test_full_model_survives_a_round_trip(
    model: BaseModel, to_pb: Callable[[Any], Message], from_pb: Callable[[Any], Any]
) -> None:
    message = to_pb(model)
    wire = type(message).FromString(message.SerializeToString())
    assert from_pb(wire) == model


@pytest.mark.parametrize(("model", "to_pb", "from_pb"), EMPTY, ids=[_name(c[0]) for c in EMPTY])
def test_model_with_defaults_survives_a_round_trip(
    model: BaseModel, to_pb: Callable[[Any], Message], from_pb: Callable[[Any], Any]
) -> None:
    message = to_pb(model)
    assert from_pb(type(message).FromString(message.SerializeToString())) == model


@pytest.mark.parametrize(
    "item",
    [
        SubscriptionStarted(
            session_id=uuid4(),
            runner_id=uuid4(),
            heartbeat_interval=timedelta(seconds=5),
            heartbeat_timeout=timedelta(seconds=90),
        ),
        RunAssignment(
            flow_run=full_flow_run(),
            deployment=full_deployment(),
            lease_id=uuid4(),
            lease_expire_time=NOW,
            attempt=2,
        ),
        RunAssignment(flow_run=full_flow_run(), deployment=None, lease_id=uuid4()),
        CancelRun(flow_run_id=uuid4(), reason="user asked"),
        Ping(time=NOW),
        Reconnect(reason="rebalance"),
    ],
    ids=lambda item: type(item).__name__,
)
def test_every_work_item_survives_a_round_trip(item: BaseModel) -> None:
    message = convert.work_item_to_pb(item)  # type: ignore[arg-type]
    assert convert.work_item_from_pb(message) == item


def test_nested_parameters_keep_their_json_types() -> None:
    text = convert.json_object_to_pb(PARAMETERS, "parameters_json")
    back = convert.json_object_from_pb(text)
    assert back == PARAMETERS
    assert isinstance(back["count"], int)
    assert isinstance(back["ratio"], float)
    assert back["nested"]["list"][2]["three"] == [3.5, None, False]


def test_parameters_with_python_values_become_json() -> None:
    run_id = uuid4()
    text = convert.json_object_to_pb({"id": run_id, "when": NOW, "items": (1, 2)}, "parameters")
    assert convert.json_object_from_pb(text) == {
        "id": str(run_id),
        "when": NOW.isoformat().replace("+00:00", "Z"),
        "items": [1, 2],
    }


@pytest.mark.parametrize("value", [None, 0, 1.5, "text", [1, None], {"a": {"b": []}}])
def test_inline_results_round_trip_including_none(value: Any) -> None:
    ref = ResultRef(serializer="json", inline_value=value)
    message = convert.result_ref_to_pb(ref)
    assert message.inline_value_json
    assert convert.result_ref_from_pb(message) == ref


def test_stored_result_carries_no_inline_value() -> None:
    ref = ResultRef(storage="local-file:/r", key="k", serializer="cloudpickle")
    assert convert.result_ref_to_pb(ref).inline_value_json == ""


def test_timestamps_come_back_aware_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    state = State(type=StateType.SCHEDULED, timestamp=datetime(2030, 1, 1, 12, tzinfo=paris))
    back = convert.state_from_pb(convert.state_to_pb(state))
    assert back.timestamp == datetime(2030, 1, 1, 10, tzinfo=UTC)
    assert back.timestamp is not None
    assert back.timestamp.utcoffset() == timedelta(0)


def test_unset_fields_stay_unset_on_the_wire() -> None:
    message = convert.flow_run_to_pb(FlowRun(id=uuid4(), name="r", flow_id=uuid4()))
    assert not message.HasField("state")
    assert not message.HasField("start_time")
    assert not message.HasField("retry_policy")
    assert message.deployment_id == ""
    assert message.idempotency_key == ""


def test_state_name_defaults_to_the_type_in_title_case() -> None:
    assert State(type=StateType.CANCELLING).name == "Cancelling"
    assert convert.state_to_pb(State(type=StateType.RUNNING)).name == "Running"


def test_unspecified_enums_read_as_documented_defaults() -> None:
    deployment = convert.deployment_from_pb(deployments_pb2.Deployment(name="d", entrypoint="m:f"))
    assert deployment.collision_strategy is CollisionStrategy.ENQUEUE
    with pytest.raises(ValueError, match="state type"):
        convert.state_from_pb(states_pb2.State())


def test_unknown_work_item_kind_is_skipped() -> None:
    assert convert.work_item_from_pb(work_pb2.SubscribeWorkResponse()) is None


def test_state_helpers_follow_the_type() -> None:
    assert State(type=StateType.COMPLETED).is_completed()
    assert State(type=StateType.CRASHED).is_final()
    assert not State(type=StateType.CANCELLING).is_final()
    assert State(type=StateType.PAUSED).is_paused()
    assert not State(type=StateType.FAILED).is_completed()


def test_watch_response_parses_from_wire_bytes() -> None:
    run_id = UUID(int=7)
    wire = flow_runs_pb2.WatchFlowRunsResponse(
        flow_run=flow_runs_pb2.FlowRun(id=str(run_id), name="r", flow_id=str(UUID(int=8))),
        state=states_pb2.State(type=states_pb2.STATE_TYPE_RUNNING, name="Running"),
    ).SerializeToString()
    change = convert.flow_run_change_from_pb(flow_runs_pb2.WatchFlowRunsResponse.FromString(wire))
    assert change.flow_run.id == run_id
    assert change.state.is_running()


def test_a_decoded_state_equals_the_validated_one_with_its_result_and_details() -> None:
    state = State(
        type=StateType.COMPLETED,
        result=ResultRef(serializer="json", inline_value={"rows": [1, 2]}),
        details=StateDetails(retriable=True, cache_key="k"),
    )
    decoded = convert.state_from_pb(convert.state_to_pb(state))
    assert decoded == state
    assert State.model_validate(decoded.model_dump(by_alias=True)) == decoded
    assert convert.state_from_pb(states_pb2.State(type=states_pb2.STATE_TYPE_FAILED)).name == (
        "Failed"
    )


@pytest.mark.parametrize(
    ("model", "to_pb", "from_pb"),
    [
        (full_flow_run(), convert.flow_run_to_pb, convert.flow_run_from_pb),
        (full_state(), convert.state_to_pb, convert.state_from_pb),
        (
            OrchestrationResult(
                status=OrchestrationStatus.WAIT, state=full_state(), wait_seconds=2.5
            ),
            convert.orchestration_result_to_pb,
            convert.orchestration_result_from_pb,
        ),
    ],
    ids=["FlowRun", "State", "OrchestrationResult"],
)
def test_decoded_models(
    model: BaseModel, to_pb: Callable[[Any], Message], from_pb: Callable[[Any], Any]
) -> None:
    """The unvalidated decoders build what pydantic's own ``model_construct`` builds."""
    decoded = from_pb(to_pb(model))
    assert set(vars(decoded)) == set(type(model).model_fields)
    constructed = type(model).model_construct(**vars(decoded))
    assert decoded == constructed
    assert decoded.model_fields_set == constructed.model_fields_set
    assert decoded.model_dump() == constructed.model_dump()
    assert decoded.model_copy(update={}) == decoded
