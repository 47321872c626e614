"""``flow.deploy`` and ``runplane.deploy`` through a real server: registered for a pool's
runners, updated in place when deployed again, and refused whole when one has no pool."""

from __future__ import annotations

import uuid

import anyio
import pytest
from engine_support import engine_api

import runplane
from runplane import SyncRunplaneClient, flow
from runplane._deployments.serve import aserve

__all__ = ["engine_api"]


@flow
def nightly(day: str = "monday") -> str:
    return day


@flow
def hourly() -> None:
    return None


def _pool() -> str:
    return f"pool-{uuid.uuid4().hex[:8]}"


def test_a_flow_deploys_to_a_pool_and_deploying_again_updates_it(
    engine_api: SyncRunplaneClient,
) -> None:
    pool = _pool()
    first = nightly.deploy("etl", work_pool_name=pool, cron="0 2 * * *", parameters={"day": "1"})
    again = nightly.deploy("etl", work_pool_name=pool, cron="0 3 * * *", parameters={"day": "2"})
    stored = engine_api.get_deployment_by_name("nightly/etl")
    queues = [queue.name for queue in engine_api.list_work_queues(pool)]
    assert first.id is not None
    assert again.id == first.id == stored.id
    assert stored.work_pool_name == pool
    assert stored.runtime == "python"
    assert stored.parameters == {"day": "2"}
    assert [s.schedule.expression for s in stored.schedules] == ["0 3 * * *"]  # type: ignore[union-attr]
    assert stored.entrypoint.endswith("test_deploy.py:nightly")
    assert queues  # the pool exists for its runners, with its default queue


def test_deploy_registers_several_on_their_pools(engine_api: SyncRunplaneClient) -> None:
    shared, own = _pool(), _pool()
    deployed = runplane.deploy(
        nightly.to_deployment("shared"),
        hourly.to_deployment("own", work_pool_name=own, interval=3600),
        work_pool_name=shared,
    )
    names = [(d.flow_name, d.name, d.work_pool_name) for d in deployed]
    assert names == [("nightly", "shared", shared), ("hourly", "own", own)]
    assert engine_api.get_deployment_by_name("hourly/own").work_pool_name == own
    assert {d.runtime for d in deployed} == {"python"}


def test_a_deployment_without_a_pool_registers_nothing(engine_api: SyncRunplaneClient) -> None:
    name = f"orphan-{uuid.uuid4().hex[:6]}"
    with pytest.raises(ValueError, match="has no work pool: pass work_pool_name"):
        runplane.deploy(
            hourly.to_deployment(name, work_pool_name=_pool()), nightly.to_deployment(name)
        )
    with pytest.raises(runplane.NotFound):
        engine_api.get_deployment_by_name(f"hourly/{name}")


def test_deploy_says_what_it_registered_where_and_who_runs_it(
    engine_api: SyncRunplaneClient, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = _pool()
    nightly.deploy("said", work_pool_name=pool)
    err = capsys.readouterr().err
    address = engine_api.settings.api_url
    assert f"Registered deployment 'nightly/said' on work pool {pool!r}" in err
    assert f"at {address}" in err
    assert f"runplane runner start --pool {pool}" in err


def test_run_deployment_says_when_its_timeout_runs_out(engine_api: SyncRunplaneClient) -> None:
    nightly.deploy("unattended", work_pool_name=_pool())  # no runner serves this pool
    with pytest.raises(runplane.RunDeploymentTimeout) as raised:
        runplane.run_deployment("nightly/unattended", timeout=0.5)
    run = raised.value.flow_run
    assert run.state is not None
    assert run.state.type is runplane.StateType.SCHEDULED
    assert str(run.id) in str(raised.value)
    assert "0.5 seconds" in str(raised.value)


def test_serve_says_what_it_registered_and_that_it_listens(
    engine_api: SyncRunplaneClient,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def serve_until_the_runner_starts() -> None:
        started = anyio.Event()

        class IdleRunner:
            """Stands in for the runner, which serve starts once it has said its lines."""

            def __init__(self, *args: object, **kwargs: object) -> None:
                pass

            async def run(self) -> None:
                started.set()
                await anyio.sleep_forever()

        monkeypatch.setattr("runplane.runner.Runner", IdleRunner)
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: aserve(hourly.to_deployment("served")))
            with anyio.fail_after(60):
                await started.wait()
            group.cancel_scope.cancel()

    anyio.run(serve_until_the_runner_starts)
    err = capsys.readouterr().err
    assert "Registered deployment 'hourly/served' on work pool 'serve'" in err
    assert f"at {engine_api.settings.api_url}" in err
    assert "Listening for runs of 'hourly/served'" in err
    assert "runplane deployment run hourly/served" in err
