"""The runner's pure parts: exit causes, backoff, the child's environment, run ownership."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from runplane import Deployment, FlowRun, RunAssignment, Settings, State, StateDetails, StateType
from runplane.runner import Backoff, Runner
from runplane.runner._held import HeldRun, StopReason
from runplane.runner._processes import (
    exit_message,
    interpreter_environment_differs,
    run_environment,
    start_failure_message,
)


def test_exit_minus_nine_says_killed_or_out_of_memory() -> None:
    assert "killed (exit code -9, SIGKILL; out of memory?)" in exit_message(-9)


def test_exit_minus_fifteen_says_terminated() -> None:
    assert "terminated (exit code -15, SIGTERM)" in exit_message(-15)


def test_other_signals_are_named() -> None:
    assert "SIGSEGV (exit code -11)" in exit_message(-11)


def test_a_plain_exit_code_is_reported() -> None:
    assert "exited with code 2 before the run finished" in exit_message(2)


def test_a_process_that_cannot_start_says_so() -> None:
    message = start_failure_message(FileNotFoundError("no such python"))
    assert message == "the flow run's process could not start: FileNotFoundError: no such python"


def test_backoff_doubles_up_to_the_cap_with_jitter_below_one() -> None:
    backoff = Backoff(base=1.0, cap=8.0, random=lambda: 0.999999)
    delays = [round(backoff.next_delay(), 3) for _ in range(6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_jitter_halves_at_most() -> None:
    backoff = Backoff(base=1.0, cap=8.0, random=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(3)] == [0.5, 1.0, 2.0]


def test_backoff_reset_starts_over() -> None:
    backoff = Backoff(base=1.0, cap=8.0, random=lambda: 0.0)
    backoff.next_delay()
    backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 0.5


def _assignment(**run_fields: object) -> RunAssignment:
    run = FlowRun(id=uuid.uuid4(), name="r", flow_id=uuid.uuid4(), **run_fields)  # type: ignore[arg-type]
    deployment = Deployment(
        name="d", entrypoint="flows.py:f", job_variables={"env": {"A": "1", "N": 2}}
    )
    return RunAssignment(flow_run=run, deployment=deployment, lease_id=uuid.uuid4(), attempt=1)


def test_the_child_environment_names_the_run_lease_and_entrypoint() -> None:
    assignment = _assignment()
    env = run_environment(assignment, {"RUNPLANE_API_URL": "h:1"}, base={"PATH": "/bin"})
    assert env == {
        "PATH": "/bin",
        "RUNPLANE_API_URL": "h:1",
        "A": "1",
        "N": "2",
        "RUNPLANE_FLOW_RUN_ID": str(assignment.flow_run.id),
        "RUNPLANE_FLOW_RUN_LEASE_ID": str(assignment.lease_id),
        "RUNPLANE_FLOW_ENTRYPOINT": "flows.py:f",
    }


def test_run_job_variables_override_the_deployment_env() -> None:
    assignment = _assignment(job_variables={"env": {"A": "run"}})
    assert run_environment(assignment, {}, base={})["A"] == "run"


def test_the_job_cannot_override_the_run_identity() -> None:
    assignment = _assignment(job_variables={"env": {"RUNPLANE_FLOW_RUN_ID": "x"}})
    env = run_environment(assignment, {}, base={})
    assert env["RUNPLANE_FLOW_RUN_ID"] == str(assignment.flow_run.id)


def test_the_deployment_alone_says_how_the_code_is_fetched() -> None:
    step = {"git_clone": {"repository": "https://example.com/etl.git"}}
    mine = _assignment()
    mine = mine.model_copy(
        update={
            "deployment": mine.deployment.model_copy(  # type: ignore[union-attr]
                update={"job_variables": {"pull_steps": [step]}}
            )
        }
    )
    env = run_environment(mine, {}, base={"RUNPLANE_FLOW_PULL_STEPS": "inherited"})
    assert json.loads(env["RUNPLANE_FLOW_PULL_STEPS"]) == [step]
    # A run's job variables cannot make a runner fetch other code, nor can the runner's own.
    theirs = _assignment(job_variables={"pull_steps": [step]})
    env = run_environment(theirs, {}, base={"RUNPLANE_FLOW_PULL_STEPS": "inherited"})
    assert "RUNPLANE_FLOW_PULL_STEPS" not in env


def _stored(held: HeldRun, state_type: StateType, **changes: object) -> FlowRun:
    lease = changes.pop("lease", held.assignment.lease_id)
    state = State(type=state_type, details=StateDetails(lease_id=lease))  # type: ignore[arg-type]
    return held.assignment.flow_run.model_copy(update={"state": state, "attempt": 1, **changes})


@pytest.mark.parametrize("state_type", [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING])
def test_an_unfinished_run_under_our_lease_is_ours(state_type: StateType) -> None:
    held = HeldRun(_assignment())
    assert held.still_ours(_stored(held, state_type))


def test_a_finished_run_is_not_reported_again() -> None:
    held = HeldRun(_assignment())
    assert not held.still_ours(_stored(held, StateType.COMPLETED))


@pytest.mark.parametrize("reason", [None, StopReason.RESCHEDULE, StopReason.SHUTDOWN])
def test_a_suspended_run_is_not_ours_whatever_the_runner_was_doing(
    reason: StopReason | None,
) -> None:
    held = HeldRun(_assignment())
    if reason is not None:
        held.request_stop(reason)
    suspended = _stored(held, StateType.PAUSED).model_copy(
        update={"state": State(type=StateType.PAUSED, name="Suspended")}
    )
    assert not held.still_ours(suspended)
    assert held.still_ours(_stored(held, StateType.PAUSED))


def test_a_run_under_another_lease_is_not_ours() -> None:
    held = HeldRun(_assignment())
    assert not held.still_ours(_stored(held, StateType.PENDING, lease=uuid.uuid4()))


def test_a_run_handed_out_again_is_not_ours() -> None:
    held = HeldRun(_assignment())
    assert not held.still_ours(_stored(held, StateType.RUNNING, attempt=2))


def test_a_crash_reported_on_our_cancelling_sigterm_is_still_ours() -> None:
    held = HeldRun(_assignment())
    held.request_stop(StopReason.CANCEL)
    assert held.still_ours(_stored(held, StateType.CRASHED))


def test_only_the_first_stop_reason_counts() -> None:
    held = HeldRun(_assignment())
    assert held.request_stop(StopReason.CANCEL)
    assert not held.request_stop(StopReason.FORGET)
    assert held.stop_reason is StopReason.CANCEL


def test_run_processes_get_the_runners_api_key_and_tls_files(tmp_path: Path) -> None:
    settings = Settings(
        api_url="https://control.example:443",
        api_key=SecretStr("k-1"),
        tls_ca_file=tmp_path / "ca.pem",
        tls_cert_file=tmp_path / "client.pem",
        tls_key_file=tmp_path / "client.key",
    )
    env = Runner("pool", settings=settings)._api_environment()
    assert env["RUNPLANE_API_URL"] == "https://control.example:443"
    assert env["RUNPLANE_API_KEY"] == "k-1"
    assert env["RUNPLANE_TLS_CA_FILE"] == str(tmp_path / "ca.pem")
    assert env["RUNPLANE_TLS_CERT_FILE"] == str(tmp_path / "client.pem")
    assert env["RUNPLANE_TLS_KEY_FILE"] == str(tmp_path / "client.key")


def test_a_run_that_changes_the_interpreters_startup_needs_a_new_interpreter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHONPATH", "/runner/lib")
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    same = dict(os.environ)
    assert not interpreter_environment_differs({**same, "APP_SETTING": "x"})
    assert interpreter_environment_differs({**same, "PYTHONPATH": "/job/lib"})
    assert interpreter_environment_differs({**same, "LD_PRELOAD": "/lib/x.so"})
    without = {name: value for name, value in same.items() if name != "PYTHONPATH"}
    assert interpreter_environment_differs(without)
