"""Runner processes and stream waits for the e2e tests."""

from __future__ import annotations

import inspect
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

from runplane import Deployment, FlowRun, FlowRunFilter, RunplaneClient, StateType
from runplane.engine import load_flow

FLOWS = Path(__file__).with_name("flows.py")
ROOT = Path(__file__).parents[2]


def entrypoint(name: str) -> str:
    return f"{FLOWS}:{name}"


async def deploy(client: RunplaneClient, flow: str, pool: str, **fields: Any) -> Deployment:
    """Deploys the flow as users do, through ``to_deployment``, so it keeps the flow's settings."""
    deployment = load_flow(entrypoint(flow)).to_deployment(
        f"{flow}-e2e",
        entrypoint=entrypoint(flow),
        work_pool_name=pool,
        enforce_parameter_schema=False,
        **fields,
    )
    return await deployment.apply(client)


@asynccontextmanager
async def runner_process(
    api_url: str,
    home: Path,
    pool: str,
    name: str,
    *,
    limit: int = 4,
    heartbeat_interval: float = 0.5,
) -> AsyncIterator[Process]:
    """A ``runplane runner start`` process, yielded once it has subscribed."""
    env = {
        **os.environ,
        "RUNPLANE_API_URL": api_url,
        "RUNPLANE_HOME": str(home),
        "COLUMNS": "200",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "runplane.cli", "runner", "start", "--pool", pool]
    command += ["--limit", str(limit), "--name", name]
    command += ["--heartbeat-interval", str(heartbeat_interval)]
    command += ["--cancel-grace", "5", "--shutdown-grace", "5"]
    process = await anyio.open_process(command, env=env, cwd=ROOT, stderr=None)
    try:
        assert process.stdout is not None
        lines = TextReceiveStream(process.stdout)
        with anyio.fail_after(30):
            seen = ""
            async for chunk in lines:
                seen += chunk
                if "runner subscribed" in seen:
                    break
        async with anyio.create_task_group() as group:
            group.start_soon(_drain, lines)
            yield process
            group.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with anyio.move_on_after(15):
                await process.wait()
        if process.returncode is None:
            process.kill()
        await process.wait()


async def _drain(lines: AsyncIterator[str]) -> None:
    async for _ in lines:
        pass


def is_final(run: FlowRun) -> bool:
    """For ``wait_runs``: the run ended, one way or another."""
    return run.state is not None and run.state.is_final()


def is_in(state_type: StateType) -> Callable[[FlowRun], bool]:
    """For ``wait_runs``: the run is in a state of this type."""
    return lambda run: run.state is not None and run.state.type is state_type


async def wait_runs(
    client: RunplaneClient,
    run_ids: Iterable[UUID],
    done: Callable[[FlowRun], bool],
    within: float = 30.0,
) -> dict[UUID, FlowRun]:
    """Watches the runs until ``done`` holds for each; their latest versions."""
    wanted = set(run_ids)
    latest: dict[UUID, FlowRun] = {}
    changes = client.watch_flow_runs(
        FlowRunFilter(flow_run_ids=tuple(wanted)), include_current=True
    )
    with anyio.move_on_after(within):
        async with aclosing(changes):
            async for change in changes:
                run = change.flow_run.model_copy(update={"state": change.state})
                latest[run.id] = run
                if all(i in latest and done(latest[i]) for i in wanted):
                    return latest
            raise AssertionError("the watch stream ended")
    pending = [i for i in wanted if i not in latest or not done(latest[i])]
    # What the server holds, beside what the watch said: they differ if a change was lost.
    stored = [await client.get_flow_run(i) for i in pending[:20]]
    watched = _by_state(latest.get(i) for i in pending)
    raise AssertionError(
        f"{len(pending)} runs not done within {within} s; watched: {watched}, "
        f"stored: {_by_state(stored)}"
    )


def _by_state(runs: Iterable[FlowRun | None]) -> dict[str, int]:
    return dict(
        Counter(
            f"{run.state.type.value} {run.state.message!r}" if run and run.state else "no state"
            for run in runs
        )
    )


class CallCounter:
    """Counts the calls of a method, sync or async, which still does what it did."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> None:
        self.calls = 0
        self.called = anyio.Event()
        """Set by the first call."""
        method = getattr(owner, name)

        def count() -> None:
            self.calls += 1
            self.called.set()

        async def counted_async(*args: Any, **kwargs: Any) -> Any:
            count()
            return await method(*args, **kwargs)

        def counted(*args: Any, **kwargs: Any) -> Any:
            count()
            return method(*args, **kwargs)

        wrapper = counted_async if inspect.iscoroutinefunction(method) else counted
        monkeypatch.setattr(owner, name, wrapper)


async def first_execution(path: Path, within: float = 10.0) -> list[str]:
    """The first line a flow wrote, once it is there (a flow writes it as it starts)."""
    for _ in range(int(within / 0.02)):
        lines = executions(path)
        if lines:
            return lines[0]
        await anyio.sleep(0.02)
    raise AssertionError(f"no execution recorded in {path} within {within} s")


def executions(path: Path) -> list[list[str]]:
    """The lines the flows wrote, split into fields."""
    if not path.exists():
        return []
    return [line.split() for line in path.read_text().splitlines()]
