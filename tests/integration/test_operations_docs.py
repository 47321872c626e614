"""Every grpcurl command of docs/operations.md, run against real servers with real data.

Each checked block of the page has an entry in ``CHECKS``: which server it runs against and
what its output must show. A block without an entry, or an entry without a block, fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import pytest
from operations_docs_support import (
    DEPLOYMENT_NAME,
    FAILURE,
    FLOW_NAME,
    LOG_LINES,
    WORK_POOL,
    Outcome,
    Seeded,
    checked_commands,
    grpcurl_blocks,
    run_block,
    seed,
    upcoming_runs,
)
from pydantic import SecretStr
from tls_support import Pki, make_pki

from runplane import RunplaneClient, Settings, StateType
from runplane.server import RunplaneServer, ServerSettings, create_server

pytestmark = pytest.mark.anyio

API_KEY = "operator-key"
READ_KEY = "dashboard-key"
SERVICES = {
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "runplane.v1.ArtifactService",
    "runplane.v1.ConcurrencyService",
    "runplane.v1.DeploymentService",
    "runplane.v1.FlowRunService",
    "runplane.v1.FlowService",
    "runplane.v1.LogService",
    "runplane.v1.TaskRunService",
    "runplane.v1.VariableService",
    "runplane.v1.WorkService",
}

Target = Literal["plain", "keyed", "read-keyed", "tls", "mtls"]


@dataclass
class Run:
    """One check's run: its output, the seeded data and a client on the same server."""

    outcome: Outcome
    seeded: Seeded
    client: RunplaneClient


@dataclass(frozen=True)
class Check:
    target: Target
    expect: Callable[[Run], Awaitable[None]]
    # Which seeded run FLOW_RUN_ID names for this command.
    flow_run: Callable[[Seeded], UUID] = field(default=lambda seeded: seeded.failed_run)


def _assert_documented(description: str) -> None:
    """Every declaration grpcurl describes is preceded by its comment from the contract."""
    lines = [line.strip() for line in description.splitlines()]
    declarations = [
        i
        for i, line in enumerate(lines)
        if line.startswith(("rpc ", "message ", "service ", "enum ", "repeated ", "."))
        or (line.endswith(";") and " = " in line)
    ]
    assert declarations, description
    for i in declarations:
        assert lines[i - 1].startswith("//"), f"no comment above {lines[i]!r}:\n{description}"


def _ids(answer: dict[str, Any]) -> set[UUID]:
    return {UUID(run["id"]) for run in answer.get("flow_runs", [])}


async def _services(run: Run) -> None:
    assert set(run.outcome.stdout.split()) == SERVICES


async def _describes_flow_run_service(run: Run) -> None:
    assert "service FlowRunService {" in run.outcome.stdout
    assert "rpc SetFlowRunState" in run.outcome.stdout
    _assert_documented(run.outcome.stdout.split("\n", 1)[1])


async def _describes_filter(run: Run) -> None:
    assert "message FlowRunFilter {" in run.outcome.stdout
    assert "repeated .runplane.v1.StateType state_types = 4;" in run.outcome.stdout
    _assert_documented(run.outcome.stdout.split("\n", 1)[1])


async def _serving(run: Run) -> None:
    assert run.outcome.json() == {"status": "SERVING"}


async def _work_pools(run: Run) -> None:
    names = [pool["name"] for pool in run.outcome.json()["work_pools"]]
    assert WORK_POOL in names


async def _failed_runs(run: Run) -> None:
    answer = run.outcome.json()
    assert run.seeded.failed_run in _ids(answer)
    types = {listed["state"]["type"] for listed in answer["flow_runs"]}
    assert types <= {"STATE_TYPE_FAILED", "STATE_TYPE_CRASHED"}
    assert len(answer["flow_runs"]) <= 20


async def _late_runs(run: Run) -> None:
    answer = run.outcome.json()
    assert run.seeded.late_run in _ids(answer)
    assert {listed["state"]["name"] for listed in answer["flow_runs"]} == {"Late"}
    assert run.seeded.run_to_cancel not in _ids(answer)


async def _the_failed_run(run: Run) -> None:
    flow_run = run.outcome.json()["flow_run"]
    assert UUID(flow_run["id"]) == run.seeded.failed_run
    assert flow_run["flow_name"] == FLOW_NAME
    assert flow_run["state"]["type"] == "STATE_TYPE_FAILED"
    assert flow_run["state"]["message"] == FAILURE


async def _history(run: Run) -> None:
    types = [state["type"] for state in run.outcome.json()["states"]]
    assert types == ["STATE_TYPE_PENDING", "STATE_TYPE_RUNNING", "STATE_TYPE_FAILED"]


async def _all_logs(run: Run) -> None:
    records = run.outcome.json()["records"]
    assert [(r["level"], r["message"]) for r in records] == LOG_LINES


async def _error_logs(run: Run) -> None:
    records = run.outcome.json()["records"]
    assert [(r["level"], r["message"]) for r in records] == [(40, FAILURE)]


async def _cancelled(run: Run) -> None:
    result = run.outcome.json()["result"]
    assert result["status"] == "ORCHESTRATION_STATUS_ACCEPT"
    assert result["state"]["type"] == "STATE_TYPE_CANCELLED"
    assert result["state"]["message"] == "cancelled by an operator"
    stored = await run.client.get_flow_run(run.seeded.run_to_cancel)
    assert stored.state is not None
    assert stored.state.type is StateType.CANCELLED


async def _the_deployment(run: Run) -> None:
    deployment = run.outcome.json()["deployment"]
    assert UUID(deployment["id"]) == run.seeded.deployment
    assert (deployment["flow_name"], deployment["name"]) == (FLOW_NAME, DEPLOYMENT_NAME)


async def _paused(run: Run) -> None:
    assert run.outcome.json()["deployment"]["paused"] is True
    assert (await run.client.get_deployment(run.seeded.deployment)).paused
    assert await upcoming_runs(run.client, run.seeded.deployment) == 0


async def _resumed(run: Run) -> None:
    assert "paused" not in run.outcome.json()["deployment"]  # false is a default: not printed
    assert not (await run.client.get_deployment(run.seeded.deployment)).paused
    assert await upcoming_runs(run.client, run.seeded.deployment) > 0


async def _pool_paused(run: Run) -> None:
    pool = run.outcome.json()["work_pool"]
    assert (pool["name"], pool["paused"]) == (WORK_POOL, True)
    assert (await run.client.get_work_pool(WORK_POOL)).paused


async def _pool_resumed(run: Run) -> None:
    pool = run.outcome.json()["work_pool"]
    assert pool["name"] == WORK_POOL
    assert "paused" not in pool  # false is a default: not printed
    assert not (await run.client.get_work_pool(WORK_POOL)).paused


async def _variable_set(run: Run) -> None:
    variable = run.outcome.json()["variable"]
    stored = (variable["name"], variable["value_json"], variable["tags"])
    assert stored == ("batch_size", "1000", ["etl"])
    assert (await run.client.get_variable("batch_size")).value == 1000


async def _variable_read(run: Run) -> None:
    assert run.outcome.json()["variable"]["value_json"] == "1000"


async def _variables_listed(run: Run) -> None:
    names = [variable["name"] for variable in run.outcome.json()["variables"]]
    assert names == ["batch_size"]


async def _artifact_published(run: Run) -> None:
    artifact = run.outcome.json()["artifact"]
    assert (artifact["key"], artifact["type"]) == ("ops-report", "ARTIFACT_TYPE_MARKDOWN")
    stored = await run.client.get_artifact(UUID(artifact["id"]))
    assert stored.data == "# Nightly load\n3 tables"


async def _latest_artifact(run: Run) -> None:
    (latest,) = run.outcome.json()["artifacts"]
    newest = await run.client.list_artifacts(key="ops-report", page_size=1)
    assert UUID(latest["id"]) == newest.items[0].id


async def _not_found(run: Run) -> None:
    assert run.outcome.returncode != 0
    assert "Code: NotFound" in run.outcome.stderr
    assert '"reason":"FLOW_RUN_NOT_FOUND"' in run.outcome.stderr
    assert "google.rpc.ErrorInfo" in run.outcome.stderr


async def _refused_to_a_reader(run: Run) -> None:
    assert run.outcome.returncode != 0
    assert "Code: PermissionDenied" in run.outcome.stderr
    assert "DeleteDeployment needs the admin role; this key has read" in run.outcome.stderr
    assert '"reason":"ROLE_REQUIRED"' in run.outcome.stderr
    assert (await run.client.get_deployment(run.seeded.deployment)).id == run.seeded.deployment


async def _listed_with_credentials(run: Run) -> None:
    """The seeded runs, five of them (there are more: the page says so)."""
    answer = run.outcome.json()
    assert len(answer["flow_runs"]) == 5
    assert {listed["flow_name"] for listed in answer["flow_runs"]} == {FLOW_NAME}
    assert answer["next_page_token"]


CHECKS: dict[str, Check] = {
    "list-services": Check("plain", _services),
    "describe-service": Check("plain", _describes_flow_run_service),
    "describe-message": Check("plain", _describes_filter),
    "health": Check("plain", _serving),
    "health-service": Check("plain", _serving),
    "work-pools": Check("plain", _work_pools),
    "failed-runs": Check("plain", _failed_runs),
    "late-runs": Check("plain", _late_runs),
    "get-run": Check("plain", _the_failed_run),
    "run-states": Check("plain", _history),
    "run-logs": Check("plain", _all_logs),
    "run-errors": Check("plain", _error_logs),
    "cancel-run": Check("plain", _cancelled, flow_run=lambda seeded: seeded.run_to_cancel),
    "get-deployment": Check("plain", _the_deployment),
    "pause-deployment": Check("plain", _paused),
    "resume-deployment": Check("plain", _resumed),
    "pause-work-pool": Check("plain", _pool_paused),
    "resume-work-pool": Check("plain", _pool_resumed),
    "set-variable": Check("plain", _variable_set),
    "get-variable": Check("plain", _variable_read),
    "list-variables": Check("plain", _variables_listed),
    "publish-artifact": Check("plain", _artifact_published),
    "latest-artifact": Check("plain", _latest_artifact),
    "not-found": Check("plain", _not_found),
    "with-api-key": Check("keyed", _listed_with_credentials),
    "read-key-refused": Check("read-keyed", _refused_to_a_reader),
    "tls-health": Check("tls", _serving),
    "mtls-call": Check("mtls", _listed_with_credentials),
}


def test_every_grpcurl_command_of_the_page_is_checked() -> None:
    commands = checked_commands()
    assert list(commands)
    assert set(commands) == set(CHECKS)
    assert len(grpcurl_blocks()) == len(commands), "a grpcurl block has no check marker"


async def _run_checks(
    target: Target, server: RunplaneServer, client_settings: Settings, extra: dict[str, str]
) -> None:
    async with RunplaneClient(client_settings) as client:
        seeded = await seed(client)
        for name, script in checked_commands().items():
            check = CHECKS[name]
            if check.target != target:
                continue
            variables = {
                "RUNPLANE_API_URL": server.address,
                "FLOW_RUN_ID": str(check.flow_run(seeded)),
                "DEPLOYMENT_ID": str(seeded.deployment),
                **extra,
            }
            outcome = await run_block(script, variables)
            try:
                await check.expect(Run(outcome, seeded, client))
            except AssertionError as error:
                raise AssertionError(f"{name}: {error}\n{outcome}") from error


async def test_the_commands_against_a_plaintext_server(
    server: RunplaneServer, tmp_path: Path
) -> None:
    settings = Settings(api_url=server.address, home=tmp_path)
    await _run_checks("plain", server, settings, {})


@asynccontextmanager
async def _secured_server(tmp_path: Path, **security: Any) -> AsyncIterator[RunplaneServer]:
    settings = ServerSettings(
        home=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'runplane.db'}",
        host="127.0.0.1",
        port=0,
        loops_enabled=False,
        **security,
    )
    async with await create_server(settings) as running:
        yield running


def _tls_variables(pki: Pki) -> dict[str, str]:
    return {
        "RUNPLANE_TLS_CA_FILE": str(pki.ca),
        "RUNPLANE_TLS_CERT_FILE": str(pki.client.cert),
        "RUNPLANE_TLS_KEY_FILE": str(pki.client.key),
    }


async def test_the_commands_with_an_api_key(tmp_path: Path) -> None:
    keys = [SecretStr(API_KEY), SecretStr(f"read:{READ_KEY}")]
    async with _secured_server(tmp_path, api_keys=keys) as server:
        settings = Settings(api_url=server.address, home=tmp_path, api_key=SecretStr(API_KEY))
        await _run_checks("keyed", server, settings, {"RUNPLANE_API_KEY": API_KEY})
        await _run_checks("read-keyed", server, settings, {"RUNPLANE_API_KEY": READ_KEY})
        refused = await run_block(
            checked_commands()["with-api-key"],
            {"RUNPLANE_API_URL": server.address, "RUNPLANE_API_KEY": "wrong"},
        )
    assert refused.returncode != 0
    assert "code = Unauthenticated" in refused.stderr
    assert "a valid API key is required" in refused.stderr


async def test_the_commands_over_tls(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    tls = {"tls_cert": pki.server.cert, "tls_key": pki.server.key}
    async with _secured_server(tmp_path / "tls", **tls) as server:
        settings = Settings(api_url=server.address, home=tmp_path, tls_ca_file=pki.ca)
        await _run_checks("tls", server, settings, _tls_variables(pki))


async def test_the_commands_over_mutual_tls_with_an_api_key(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    security = {
        "tls_cert": pki.server.cert,
        "tls_key": pki.server.key,
        "tls_client_ca": pki.ca,
        "api_keys": [SecretStr(API_KEY)],
    }
    async with _secured_server(tmp_path / "mtls", **security) as server:
        settings = Settings(
            api_url=server.address,
            home=tmp_path,
            api_key=SecretStr(API_KEY),
            tls_ca_file=pki.ca,
            tls_cert_file=pki.client.cert,
            tls_key_file=pki.client.key,
        )
        variables = {**_tls_variables(pki), "RUNPLANE_API_KEY": API_KEY}
        await _run_checks("mtls", server, settings, variables)
