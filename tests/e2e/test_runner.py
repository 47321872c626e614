"""Deployments executed by real runner processes through a real server."""

from __future__ import annotations

import itertools
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import anyio
import pytest
from cli_support import invoke
from e2e_support import (
    CallCounter,
    deploy,
    entrypoint,
    executions,
    first_execution,
    is_final,
    is_in,
    runner_process,
    wait_runs,
)
from process_support import wait_exited

from runplane import (
    CollisionStrategy,
    LogFilter,
    OrchestrationStatus,
    RunplaneClient,
    Settings,
    State,
    StateType,
    arun_deployment,
)
from runplane.engine import load_flow
from runplane.server import RunplaneServer, ServerSettings, create_server
from runplane.server.api import work as work_api
from runplane.server.delivery.dispatcher import WorkDispatcher

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


async def test_a_run_due_now_starts_at_once(
    server_settings: ServerSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pushed, not polled: nothing that comes round on a timer may deliver the run here (no
    # sweep, no server loop, runners asked to heartbeat hourly), and the runner's one
    # heartbeat, on subscribing, is in before the run exists. A heartbeat with free slots
    # would wake delivery too: counting them shows that none came between the run's creation
    # and its start, so creating it is what pushed it.
    never = 3600.0
    monkeypatch.setattr(work_api, "HEARTBEAT_SECONDS", never)
    heartbeats = CallCounter(monkeypatch, WorkDispatcher, "heartbeat")
    settings = server_settings.model_copy(
        update={"work_sweep_interval": never, "loops_enabled": False}
    )
    log = tmp_path / "runs.txt"
    async with (
        await create_server(settings) as server,
        RunplaneClient(Settings(api_url=server.address)) as client,
    ):
        deployment = await deploy(client, "count_run", "now", parameters={"path": str(log)})
        assert deployment.id is not None
        async with runner_process(server.address, tmp_path, "now", "r1", heartbeat_interval=never):
            with anyio.fail_after(30):
                await heartbeats.called.wait()
            before = heartbeats.calls
            run = await client.run_deployment(deployment.id)
            await first_execution(log, within=60)
            assert heartbeats.calls == before
            runs = await wait_runs(client, [run.id], is_final, within=60)
    assert runs[run.id].state is not None
    assert runs[run.id].state.type is StateType.COMPLETED  # type: ignore[union-attr]
    assert [line[0] for line in executions(log)] == [str(run.id)]


async def test_run_deployment_waits_on_the_watch_stream(
    server: RunplaneServer, tmp_path: Path
) -> None:
    log = tmp_path / "runs.txt"
    settings = Settings(api_url=server.address)
    async with RunplaneClient(settings) as client:
        await deploy(client, "count_run", "wait", parameters={"path": str(log)})
    async with runner_process(server.address, tmp_path, "wait", "r1"):
        at_once = await arun_deployment("count_run/count_run-e2e", timeout=0, settings=settings)
        finished = await arun_deployment("count_run/count_run-e2e", timeout=30, settings=settings)
    assert at_once.state is not None
    assert at_once.state.type in (StateType.SCHEDULED, StateType.PENDING)
    assert finished.state is not None
    assert finished.state.type is StateType.COMPLETED
    assert str(finished.id) in {line[0] for line in executions(log)}


async def test_two_runners_execute_each_of_200_runs_once(
    server: RunplaneServer, tmp_path: Path
) -> None:
    log = tmp_path / "runs.txt"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await deploy(client, "count_run", "pair", parameters={"path": str(log)})
        assert deployment.id is not None
        async with (
            runner_process(server.address, tmp_path, "pair", "r1", limit=8),
            runner_process(server.address, tmp_path, "pair", "r2", limit=8),
        ):
            run_ids = [(await client.run_deployment(deployment.id)).id for _ in range(200)]
            runs = await wait_runs(client, run_ids, is_final, within=60)
    states = {run.state.type for run in runs.values() if run.state is not None}
    assert states == {StateType.COMPLETED}
    executed = [line[0] for line in executions(log)]
    assert sorted(executed) == sorted(str(i) for i in run_ids)
    assert {line[1] for line in executions(log)} == {"r1", "r2"}


async def _kill_runner_mid_run(
    client: RunplaneClient, server: RunplaneServer, tmp_path: Path, flow: str, pool: str
) -> tuple[UUID, Path]:
    """Starts a run of ``flow`` on a runner, then kills the runner and the run's process."""
    log, release = tmp_path / "runs.txt", tmp_path / "release"
    parameters = {"path": str(log), "release": str(release)}
    deployment = await deploy(client, flow, pool, parameters=parameters)
    assert deployment.id is not None
    async with runner_process(server.address, tmp_path, pool, "doomed") as doomed:
        run = await client.run_deployment(deployment.id)
        await wait_runs(client, [run.id], is_in(StateType.RUNNING))
        first = await first_execution(log)
        # The machine is gone: the runner and its run's process die together.
        doomed.kill()
        os.kill(int(first[2]), signal.SIGKILL)
    return run.id, log


async def test_a_killed_runner_leaves_its_run_crashed_after_the_heartbeat_timeout(
    server: RunplaneServer, tmp_path: Path
) -> None:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        run_id, _ = await _kill_runner_mid_run(client, server, tmp_path, "hold", "lost")
        runs = await wait_runs(client, [run_id], is_final, within=20)
    final = runs[run_id].state
    assert final is not None
    assert final.type is StateType.CRASHED
    assert "no heartbeat" in final.message


async def test_a_crashed_run_with_retries_runs_again_on_another_runner(
    server: RunplaneServer, tmp_path: Path
) -> None:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        run_id, log = await _kill_runner_mid_run(client, server, tmp_path, "crash_once", "retry")
        async with runner_process(server.address, tmp_path, "retry", "survivor"):
            runs = await wait_runs(client, [run_id], is_final, within=15)
    final = runs[run_id].state
    assert final is not None
    assert final.type is StateType.COMPLETED
    assert [line[1] for line in executions(log)] == ["doomed", "survivor"]


async def test_cancelling_a_running_run_kills_its_process(
    server: RunplaneServer, tmp_path: Path
) -> None:
    log, release = tmp_path / "runs.txt", tmp_path / "release"
    parameters = {"path": str(log), "release": str(release)}
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await deploy(client, "hold_cancellable", "cancel", parameters=parameters)
        assert deployment.id is not None
        async with runner_process(server.address, tmp_path, "cancel", "r1"):
            run = await client.run_deployment(deployment.id)
            await wait_runs(client, [run.id], is_in(StateType.RUNNING))
            pid = int((await first_execution(log))[2])
            await client.set_flow_run_state(run.id, State(type=StateType.CANCELLING))
            runs = await wait_runs(client, [run.id], is_final)
    final = runs[run.id].state
    assert final is not None
    assert final.type is StateType.CANCELLED
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert log.with_suffix(".hook").read_text() == "CANCELLED"


async def test_concurrency_limit_enqueue_runs_one_at_a_time(
    server: RunplaneServer, tmp_path: Path
) -> None:
    log = tmp_path / "runs.txt"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await deploy(
            client,
            "timed",
            "enqueue",
            parameters={"path": str(log)},
            concurrency_limit=1,
            collision_strategy=CollisionStrategy.ENQUEUE,
        )
        assert deployment.id is not None
        async with runner_process(server.address, tmp_path, "enqueue", "r1", limit=4):
            run_ids = [(await client.run_deployment(deployment.id)).id for _ in range(3)]
            runs = await wait_runs(client, run_ids, is_final, within=60)
    assert {r.state.type for r in runs.values() if r.state} == {StateType.COMPLETED}
    spans = _spans(executions(log))
    assert len(spans) == 3
    ordered = sorted(spans.values())
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(ordered))


async def test_concurrency_limit_cancel_new_cancels_the_extra_run(
    server: RunplaneServer, tmp_path: Path
) -> None:
    log, release = tmp_path / "runs.txt", tmp_path / "release"
    parameters = {"path": str(log), "release": str(release)}
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await deploy(
            client,
            "hold",
            "cancel-new",
            parameters=parameters,
            concurrency_limit=1,
            collision_strategy=CollisionStrategy.CANCEL_NEW,
        )
        assert deployment.id is not None
        async with runner_process(server.address, tmp_path, "cancel-new", "r1", limit=4):
            first = await client.run_deployment(deployment.id)
            await wait_runs(client, [first.id], is_in(StateType.RUNNING))
            second = await client.run_deployment(deployment.id)
            extra = await wait_runs(client, [second.id], is_final)
            release.touch()
            done = await wait_runs(client, [first.id], is_final)
    assert extra[second.id].state is not None
    assert extra[second.id].state.type is StateType.CANCELLED  # type: ignore[union-attr]
    assert done[first.id].state is not None
    assert done[first.id].state.type is StateType.COMPLETED  # type: ignore[union-attr]
    assert [line[0] for line in executions(log)] == [str(first.id)]


def _spans(lines: list[list[str]]) -> dict[UUID, tuple[float, float]]:
    starts = {UUID(line[0]): float(line[4]) for line in lines if line[3] == "start"}
    ends = {UUID(line[0]): float(line[4]) for line in lines if line[3] == "end"}
    return {run_id: (starts[run_id], ends[run_id]) for run_id in starts}


async def test_a_run_paused_on_a_runner_resumes_in_the_same_process(
    server: RunplaneServer, tmp_path: Path
) -> None:
    log = tmp_path / "runs.txt"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await deploy(
            client, "pause_for_approval", "pause", parameters={"path": str(log)}
        )
        async with runner_process(server.address, tmp_path, "pause", "r1"):
            assert deployment.id is not None
            run = await client.run_deployment(deployment.id)
            await wait_runs(client, [run.id], is_in(StateType.PAUSED))
            resumed = await client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
            runs = await wait_runs(client, [run.id], is_final)
    assert resumed.status is OrchestrationStatus.ACCEPT
    final = runs[run.id].state
    assert final is not None
    assert final.type is StateType.COMPLETED
    lines = executions(log)
    # One process ran both halves: the pause kept it alive.
    assert [line[3] for line in lines] == ["before", "after"]
    assert lines[0][2] == lines[1][2]


async def test_a_failed_run_retried_from_the_cli_runs_again(
    server: RunplaneServer, tmp_path: Path
) -> None:
    log = tmp_path / "runs.txt"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await deploy(client, "fail_first", "retry", parameters={"path": str(log)})
        assert deployment.id is not None
        async with runner_process(server.address, tmp_path, "retry", "r1"):
            run = await client.run_deployment(deployment.id)
            failed = await wait_runs(client, [run.id], is_final)
            code, output = await invoke(server, "flow-run", "retry", str(run.id))
            assert code == 0, output
            finished = await wait_runs(client, [run.id], is_in(StateType.COMPLETED))
            code, output = await invoke(server, "flow-run", "retry", str(run.id))
        history = [state.name for state in await client.list_flow_run_states(run.id)]
    assert failed[run.id].state.type is StateType.FAILED  # type: ignore[union-attr]
    assert finished[run.id].state.result() == "done"  # type: ignore[union-attr]
    assert [line[0] for line in executions(log)] == [str(run.id)] * 2
    assert history[history.index("Failed") + 1] == "AwaitingRetry"
    # A completed run keeps its persisted result: running it again would lose it.
    assert code == 1
    assert "not retried" in output


async def test_a_failed_run_with_retries_runs_again_as_a_new_assignment(
    server: RunplaneServer, tmp_path: Path
) -> None:
    """The server's retry ends the attempt and its lease: the retry is handed out again, in a
    new process, and the first process ends without proposing anything more."""
    log = tmp_path / "runs.txt"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await deploy(
            client, "fail_first_with_retries", "auto-retry", parameters={"path": str(log)}
        )
        assert deployment.id is not None
        async with runner_process(server.address, tmp_path, "auto-retry", "r1"):
            run = await client.run_deployment(deployment.id)
            finished = await wait_runs(client, [run.id], is_final)
        states = await client.list_flow_run_states(run.id)
    final = finished[run.id]
    assert final.state is not None
    assert final.state.result() == "done"
    assert final.attempt >= 2  # a push that crossed the first process's exit is given back
    lines = executions(log)
    assert len(lines) == 2
    assert lines[0][2] != lines[1][2]  # two processes
    names = [state.name for state in states]
    assert names[names.index("AwaitingRetry") + 1 :][-3:] == ["Pending", "Running", "Completed"]
    assert names.count("Running") == 2
    leases = [state.details.lease_id for state in states if state.type is StateType.RUNNING]
    assert len(leases) == 2
    assert leases[0] != leases[1]


async def test_a_suspended_run_exits_and_its_runner_runs_it_again_on_resume(
    server: RunplaneServer, tmp_path: Path
) -> None:
    log = tmp_path / "runs.txt"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await deploy(client, "suspend_once", "suspend", parameters={"path": str(log)})
        assert deployment.id is not None
        async with runner_process(server.address, tmp_path, "suspend", "r1"):
            run = await client.run_deployment(deployment.id)
            suspended = await wait_runs(client, [run.id], is_in(StateType.PAUSED))
            first_pid = int(executions(log)[0][2])
            await wait_exited(first_pid)  # no process waits for the resume
            code, output = await invoke(server, "flow-run", "resume", str(run.id))
            assert code == 0, output
            finished = await wait_runs(client, [run.id], is_final)
        history = [state.name for state in await client.list_flow_run_states(run.id)]
    assert suspended[run.id].state.name == "Suspended"  # type: ignore[union-attr]
    assert "is Resuming" in output
    final = finished[run.id].state
    assert final is not None
    assert final.type is StateType.COMPLETED
    assert final.result() == "stamped"
    lines = executions(log)
    # Two executions of the flow; the task's persisted result was reused by the second.
    assert [line[3] for line in lines] == ["flow", "task", "flow", "after"]
    assert lines[2][2] != lines[0][2]
    assert "Crashed" not in history
    assert history[history.index("Suspended") + 1] == "Resuming"


async def test_a_suspension_past_its_deadline_fails_the_run_on_resume(
    server: RunplaneServer, tmp_path: Path
) -> None:
    log = tmp_path / "runs.txt"
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await deploy(
            client, "suspend_once", "expire", parameters={"path": str(log), "timeout": 0.5}
        )
        assert deployment.id is not None
        async with runner_process(server.address, tmp_path, "expire", "r1"):
            run = await client.run_deployment(deployment.id)
            suspended = await wait_runs(client, [run.id], is_in(StateType.PAUSED))
        state = suspended[run.id].state
        assert state is not None
        deadline = state.details.pause_deadline
        assert deadline is not None
        # Under load the deadline may have passed already, and a sleep cannot be negative.
        left = (deadline - datetime.now(UTC)).total_seconds()
        await anyio.sleep(max(left, 0.0) + 0.05)
        code, output = await invoke(server, "flow-run", "resume", str(run.id))
        ended = await client.get_flow_run(run.id)
    assert code == 1
    assert "pause deadline passed" in output
    assert ended.state is not None
    assert ended.state.type is StateType.FAILED
    assert ended.state.message == "the run was paused and never resumed"
    assert [line[3] for line in executions(log)] == ["flow", "task"]


async def _crash_reason(
    client: RunplaneClient, run_id: UUID
) -> tuple[StateType | None, str, list[str]]:
    """The run's final state type and message, and its log lines, once it ended."""
    runs = await wait_runs(client, [run_id], is_final)
    state = runs[run_id].state
    assert state is not None
    logs = await client.list_logs(LogFilter(flow_run_id=run_id))
    return state.type, state.message, [record.message for record in logs.items]


async def test_a_flow_that_cannot_be_loaded_crashes_with_the_reason(
    server: RunplaneServer, tmp_path: Path
) -> None:
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = (
            await load_flow(entrypoint("count_run"))
            .to_deployment(
                "unloadable", entrypoint="no_such_module_e2e:main", work_pool_name="unloadable"
            )
            .apply(client)
        )
        assert deployment.id is not None
        async with runner_process(server.address, tmp_path, "unloadable", "r1"):
            run = await client.run_deployment(deployment.id, parameters={"path": "x"})
            state_type, message, lines = await _crash_reason(client, run.id)
    assert state_type is StateType.CRASHED
    assert message == (
        "could not load flow 'no_such_module_e2e:main': "
        "ModuleNotFoundError: No module named 'no_such_module_e2e'"
    )
    assert any("Traceback" in line and "ModuleNotFoundError" in line for line in lines)


async def test_parameters_that_do_not_bind_crash_the_run_with_the_reason(
    server: RunplaneServer, tmp_path: Path
) -> None:
    """Without schema enforcement the server accepts them; the run says why it failed."""
    async with RunplaneClient(Settings(api_url=server.address)) as client:
        deployment = await deploy(client, "count_run", "unbound", parameters={"path": "x"})
        assert deployment.id is not None
        async with runner_process(server.address, tmp_path, "unbound", "r1"):
            run = await client.run_deployment(deployment.id, parameters={"bogus": 1})
            state_type, message, lines = await _crash_reason(client, run.id)
    assert state_type is StateType.CRASHED
    assert message.startswith("TypeError: ")
    assert "bogus" in message
    assert any("Traceback" in line and "bogus" in line for line in lines)
