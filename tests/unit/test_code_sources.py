"""Which sources ``Flow.from_source`` takes for git repositories, and which pull steps and
entrypoints it refuses, before any git call."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runplane import GitRepository
from runplane._deployments.sources import (
    git_repository,
    is_git_source,
    run_pull_steps,
    split_entrypoint,
)


@pytest.mark.parametrize(
    "source",
    [
        "https://github.com/acme/etl.git",
        "https://github.com/acme/etl",
        "ssh://git@host/etl.git",
        "git@github.com:acme/etl.git",
        "file:///srv/etl",
        "/srv/etl.git",
    ],
)
def test_urls_and_dot_git_paths_are_repositories(source: str) -> None:
    assert is_git_source(source)


def test_a_bare_repository_is_a_repository_and_a_plain_folder_is_not(tmp_path: Path) -> None:
    (tmp_path / "bare" / "objects").mkdir(parents=True)
    (tmp_path / "bare" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / "code").mkdir()
    assert is_git_source(str(tmp_path / "bare"))
    assert not is_git_source(str(tmp_path / "code"))


def test_a_local_repository_is_named_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert git_repository("etl.git") == GitRepository(str(tmp_path / "etl.git"))
    assert git_repository("git@host:etl.git") == GitRepository("git@host:etl.git")


def test_a_pull_step_names_its_repository_and_branch() -> None:
    step = GitRepository("https://example.com/etl.git", branch="dev").pull_step()
    assert step == {"git_clone": {"repository": "https://example.com/etl.git", "branch": "dev"}}
    assert GitRepository("x.git").pull_step() == {"git_clone": {"repository": "x.git"}}


@pytest.mark.parametrize(
    ("steps", "why"),
    [
        ([], "must be a non-empty list"),
        ([{"run_shell_script": {"script": "true"}}], "unknown pull step 'run_shell_script'"),
        ([{"git_clone": {"branch": "main"}}], "git_clone needs a repository"),
        ([{"git_clone": {}, "other": {}}], "one {name: arguments} pair"),
    ],
)
def test_unknown_or_malformed_pull_steps_are_refused(
    steps: object, why: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        run_pull_steps(steps, tmp_path)


@pytest.mark.parametrize(
    ("entrypoint", "why"),
    [
        ("flows/etl.py", "must name a file of the source and a flow"),
        ("flows/etl:nightly", "must name a file of the source and a flow"),
        ("/srv/etl.py:nightly", "must be a path inside the source"),
        ("../etl.py:nightly", "must be a path inside the source"),
    ],
)
def test_an_entrypoint_must_name_a_file_inside_the_source(entrypoint: str, why: str) -> None:
    with pytest.raises(ValueError, match="entrypoint") as raised:
        split_entrypoint(entrypoint)
    assert why in str(raised.value)
    assert split_entrypoint("flows/etl.py:nightly")[1] == "nightly"
