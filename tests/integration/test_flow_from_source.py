"""``Flow.from_source``: a flow loaded from a local directory or a git repository, called
here, and deployed so that a runner fetches the same code before its run."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
import uuid
from pathlib import Path

import anyio
import pytest
from engine_support import any_engine_api

from runplane import (
    Flow,
    GitRepository,
    Settings,
    State,
    StateType,
    SyncRunplaneClient,
    arun_deployment,
)
from runplane._client.embedded import ensure_api_url
from runplane._deployments.sources import SourceError
from runplane.runner import Runner

__all__ = ["any_engine_api"]

GREETING = """
from runplane import flow

@flow(persist_result=True)
def greet(name: str = "world") -> str:
    return "{word}, " + name
"""


def _write_code(folder: Path, word: str) -> None:
    (folder / "flows").mkdir(parents=True, exist_ok=True)
    (folder / "flows" / "greet.py").write_text(textwrap.dedent(GREETING).format(word=word))


def _git(*arguments: str) -> None:
    identity = ["-c", "user.name=runplane", "-c", "user.email=runplane@example.com"]
    subprocess.run(["git", *identity, *arguments], check=True, capture_output=True, timeout=30)


def _bare_repository(tmp_path: Path, word: str) -> tuple[Path, Path]:
    """A bare repository with the flow's code on ``main``, and the work tree it was pushed
    from; returns (repository, work tree)."""
    work, bare = tmp_path / "work", tmp_path / "origin.git"
    _git("init", "--quiet", "--initial-branch=main", str(work))
    _write_code(work, word)
    _git("-C", str(work), "add", ".")
    _git("-C", str(work), "commit", "--quiet", "-m", "greet")
    _git("clone", "--quiet", "--bare", str(work), str(bare))
    return bare, work


def _push(work: Path, bare: Path, word: str) -> None:
    _write_code(work, word)
    _git("-C", str(work), "commit", "--quiet", "-am", f"greet with {word}")
    _git("-C", str(work), "push", "--quiet", str(bare), "main")


def test_a_flow_from_a_local_directory_runs_and_deploys_by_its_path(
    any_engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    _write_code(tmp_path / "code", "hello")
    greet = Flow.from_source(tmp_path / "code", "flows/greet.py:greet")
    state = greet.call_with_state("local")
    assert state.result() == "hello, local"
    deployment = greet.to_deployment("local-code")
    assert deployment.entrypoint == f"{(tmp_path / 'code' / 'flows' / 'greet.py').resolve()}:greet"
    assert "pull_steps" not in deployment.job_variables


def test_a_flow_from_a_git_repository_is_cloned_then_pulled_and_its_runner_fetches_it(
    any_engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    bare, work = _bare_repository(tmp_path, "hello")
    assert Flow.from_source(str(bare), "flows/greet.py:greet")("git") == "hello, git"
    _push(work, bare, "hi")
    greet = Flow.from_source(GitRepository(str(bare), branch="main"), "flows/greet.py:greet")
    assert greet("git") == "hi, git"  # the clone made before was brought up to date

    pool = f"from-source-{uuid.uuid4().hex[:8]}"
    deployed = greet.deploy("from-git", work_pool_name=pool)
    assert deployed.entrypoint == "flows/greet.py:greet"
    step = {"git_clone": {"repository": str(bare), "branch": "main"}}
    assert deployed.job_variables["pull_steps"] == [step]
    # The runner's run clones the repository afresh and runs the newest code.
    _push(work, bare, "hey")
    shutil.rmtree(any_engine_api.settings.home / "sources")
    state = _run_on_a_runner(pool, deployed.id, {"name": "runner"})
    assert state.type is StateType.COMPLETED, state.message
    assert state.result() == "hey, runner"


def test_a_run_whose_code_cannot_be_fetched_crashes_saying_why(
    any_engine_api: SyncRunplaneClient, tmp_path: Path
) -> None:
    _write_code(tmp_path / "code", "hello")
    greet = Flow.from_source(tmp_path / "code", "flows/greet.py:greet")
    gone = tmp_path / "gone.git"
    pool = f"from-source-{uuid.uuid4().hex[:8]}"
    deployed = greet.deploy(
        "from-nowhere",
        work_pool_name=pool,
        entrypoint="flows/greet.py:greet",
        job_variables={"pull_steps": [{"git_clone": {"repository": str(gone)}}]},
    )
    state = _run_on_a_runner(pool, deployed.id, {})
    assert state.type is StateType.CRASHED
    assert state.message.startswith("could not fetch the flow's code: SourceError: git clone")
    assert str(gone) in state.message


def _run_on_a_runner(pool: str, deployment_id: uuid.UUID, parameters: dict[str, str]) -> State:
    """Runs the deployment once on a runner of ``pool`` in this process; its final state."""
    settings = Settings(api_url=ensure_api_url(Settings()))

    async def run() -> State:
        runner = Runner(pool, settings=settings, handle_signals=False, limit=1)
        async with anyio.create_task_group() as group:
            group.start_soon(runner.run)
            with anyio.fail_after(60):
                flow_run = await arun_deployment(deployment_id, parameters=parameters)
            runner.stop()
        assert flow_run.state is not None
        return flow_run.state

    return anyio.run(run)


def test_a_failed_fetch_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPLANE_HOME", str(tmp_path / "home"))
    with pytest.raises(SourceError, match=r"git clone of .*missing\.git failed"):
        Flow.from_source(str(tmp_path / "missing.git"), "flows/greet.py:greet")
    with pytest.raises(FileNotFoundError, match="neither a directory nor a git repository"):
        Flow.from_source(tmp_path / "nothing", "flows/greet.py:greet")
    with pytest.raises(ValueError, match="must be a path inside the source"):
        Flow.from_source(tmp_path, "../greet.py:greet")
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on it
    with pytest.raises(SourceError, match="the git program is not installed"):
        Flow.from_source("https://example.com/flows.git", "flows/greet.py:greet")
