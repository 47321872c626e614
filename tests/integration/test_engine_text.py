"""Flows whose errors, logs and run names hold NUL and other control characters."""

from __future__ import annotations

import uuid

import pytest
from engine_support import engine_api, log_messages, task_runs

from runplane import FlowRunFilter, StateType, SyncRunplaneClient, flow, get_run_logger, task
from runplane._runtime.context import flow_run_context

__all__ = ["engine_api"]


def test_an_error_holding_nul_fails_the_run_with_its_message(
    engine_api: SyncRunplaneClient,
) -> None:
    @flow
    def refuses() -> None:
        raise RuntimeError("bad input: a\x00b")

    with pytest.raises(RuntimeError, match="bad input"):
        refuses()
    flow_id = engine_api.get_flow_by_name(refuses.name).id
    (run,) = engine_api.list_flow_runs(FlowRunFilter(flow_ids=(flow_id,)))
    assert run.state is not None
    assert run.state.type is StateType.FAILED
    assert "bad input: a\x00b" in run.state.message


def test_a_log_batch_with_a_nul_line_stores_every_line(engine_api: SyncRunplaneClient) -> None:
    seen: list[uuid.UUID] = []

    @flow
    def chatty() -> None:
        context = flow_run_context.get()
        assert context is not None
        seen.append(context.flow_run_id)
        logger = get_run_logger()
        logger.info("first")
        logger.info("with a\x00b and \x10")
        logger.info("last")

    chatty()
    messages = log_messages(engine_api, seen[0])
    lines = ["first", "with a\x00b and \x10", "last"]
    assert [message for message in messages if message in lines] == lines


def test_run_names_rendered_with_control_characters_are_made_valid(
    engine_api: SyncRunplaneClient,
) -> None:
    @task(task_run_name="task {value}")
    def echo(value: str) -> str:
        return value

    @flow(flow_run_name="flow {value}")
    def named(value: str) -> str:
        return echo(value)

    assert named("a\x00b\n" + "x" * 300) == "a\x00b\n" + "x" * 300
    flow_id = engine_api.get_flow_by_name(named.name).id
    (run,) = engine_api.list_flow_runs(FlowRunFilter(flow_ids=(flow_id,)))
    assert run.name == ("flow a\ufffdb\ufffd" + "x" * 300)[:256]
    (task_run,) = task_runs(engine_api, run.id)
    assert task_run.name == ("task a\ufffdb\ufffd" + "x" * 300)[:256]
    assert run.state is not None
    assert run.state.type is StateType.COMPLETED
