"""Where a flow's code lives: a local directory or a git repository, as ``Flow.from_source``
takes it, and the pull step that lets a runner fetch a repository before each run.

A repository is cloned into ``RUNPLANE_HOME/sources`` (one folder per URL and branch) and
brought up to date on every later fetch; the clone and the update hold a lock on that
folder, so runs starting together do not step on each other. ``git`` is called as a
program: it must be installed where the code is fetched, with whatever access (SSH key,
credential helper) the repository needs. It never prompts: a fetch that needs a password
it does not have fails, saying so.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = [
    "GitRepository",
    "SourceError",
    "fetch_source",
    "git_repository",
    "is_git_source",
    "run_pull_steps",
    "split_entrypoint",
]

GIT_TIMEOUT = 600.0
"""Seconds a clone or an update may take before it is given up."""
PULL_STEPS = "pull_steps"
"""The deployment's job variable that lists how a runner fetches its code."""
PULL_STEPS_VARIABLE = "RUNPLANE_FLOW_PULL_STEPS"
"""The run process's environment variable that carries the pull steps, as JSON."""
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")  # git@github.com:org/repo.git


class SourceError(RuntimeError):
    """A flow's code could not be fetched: git is missing, or the clone or update failed."""


@dataclass(frozen=True)
class GitRepository:
    """A git repository to take a flow's code from: a URL (``https://``, ``ssh://``,
    ``git@host:org/repo.git``, ``file://``) or a local repository's path, at ``branch``
    (its default branch when None)."""

    url: str
    branch: str | None = None

    def pull_step(self) -> dict[str, Any]:
        """The step a deployment stores, for a runner to fetch the same code."""
        clone: dict[str, Any] = {"repository": self.url}
        if self.branch is not None:
            clone["branch"] = self.branch
        return {"git_clone": clone}

    def checkout_folder(self, home: Path) -> Path:
        """Where this repository's clone lives under ``home``."""
        digest = hashlib.sha256(f"{self.url}\x00{self.branch or ''}".encode()).hexdigest()[:16]
        stem = re.sub(r"[^\w.-]", "-", self.url.rstrip("/").rsplit("/", 1)[-1])
        stem = stem.removesuffix(".git")[:40] or "repository"
        return home / "sources" / f"{stem}-{digest}"

    def fetch(self, home: Path) -> Path:
        """Clones the repository, or updates the clone made before; returns its folder."""
        git = shutil.which("git")
        if git is None:
            raise SourceError(
                f"cannot fetch {self.url}: the git program is not installed (or not on PATH); "
                "install git where the flow's code is fetched"
            )
        folder = self.checkout_folder(home)
        folder.parent.mkdir(parents=True, exist_ok=True)
        with _locked(folder.with_name(folder.name + ".lock")):
            if (folder / ".git").exists():
                self._update(git, folder)
            else:
                # Whatever is there is no clone of ours (one interrupted before git made it).
                shutil.rmtree(folder, ignore_errors=True)
                self._clone(git, folder)
        return folder

    def _clone(self, git: str, folder: Path) -> None:
        # Cloned beside its place and renamed, so that no half clone is ever taken for one.
        partial = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        try:
            branch = ["--branch", self.branch] if self.branch else []
            _git(git, ["clone", "--depth", "1", *branch, self.url, str(partial)], self.url)
            partial.rename(folder)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise

    def _update(self, git: str, folder: Path) -> None:
        # Fetch and reset rather than merge: the clone follows the branch, force pushes too.
        ref = self.branch or "HEAD"
        _git(git, ["-C", str(folder), "fetch", "--depth", "1", "origin", ref], self.url)
        _git(git, ["-C", str(folder), "reset", "--hard", "--quiet", "FETCH_HEAD"], self.url)


def _git(git: str, arguments: Sequence[str], url: str) -> None:
    # Fail rather than wait for a password or a host key answer nobody is there to give.
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    try:
        done = subprocess.run(
            [git, *arguments],
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {arguments[0]} of {url} took more than {GIT_TIMEOUT:g} s") from None
    if done.returncode != 0:
        reason = done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}"
        raise SourceError(f"git {' '.join(arguments[:1])} of {url} failed: {reason}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def is_git_source(source: str) -> bool:
    """Whether ``source`` names a git repository rather than a directory of code: a URL,
    an ``user@host:path`` address, a path ending in ``.git``, or a bare repository."""
    if _URL.match(source) or _SCP_LIKE.match(source) or source.rstrip("/").endswith(".git"):
        return True
    path = Path(source).expanduser()
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def split_entrypoint(entrypoint: str) -> tuple[PurePosixPath, str]:
    """``"flows/etl.py:nightly"`` as its file, relative to the source, and the flow's name."""
    location, sep, attribute = entrypoint.rpartition(":")
    if not sep or not location.endswith(".py") or not attribute.isidentifier():
        raise ValueError(
            f"entrypoint {entrypoint!r} must name a file of the source and a flow in it, "
            "like 'flows/etl.py:nightly'"
        )
    path = PurePosixPath(location)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"entrypoint {entrypoint!r} must be a path inside the source")
    return path, attribute


def git_repository(source: str) -> GitRepository:
    """The repository ``source`` names; a local repository's path made absolute, so that a
    runner started in another directory finds the same one."""
    if _URL.match(source) or _SCP_LIKE.match(source):
        return GitRepository(source)
    return GitRepository(str(Path(source).expanduser().resolve()))


def fetch_source(source: str | os.PathLike[str] | GitRepository, home: Path) -> Path:
    """The local folder that holds ``source``'s code, cloned or updated first for a repository."""
    if isinstance(source, GitRepository):
        return source.fetch(home)
    text = os.fspath(source)
    if is_git_source(text):
        return git_repository(text).fetch(home)
    folder = Path(text).expanduser().resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"source {text!r} is neither a directory nor a git repository")
    return folder


def run_pull_steps(steps: Any, home: Path) -> Path:
    """Runs a deployment's pull steps; returns the folder the flow's code is in."""
    if not isinstance(steps, list) or not steps:
        raise ValueError(f"{PULL_STEPS} must be a non-empty list of steps, got {steps!r}")
    folder: Path | None = None
    for step in steps:
        if not isinstance(step, Mapping) or len(step) != 1:
            raise ValueError(f"a pull step must be one {{name: arguments}} pair, got {step!r}")
        [(name, arguments)] = step.items()
        if name != "git_clone" or not isinstance(arguments, Mapping):
            raise ValueError(f"unknown pull step {name!r}: runplane knows git_clone")
        repository, branch = arguments.get("repository"), arguments.get("branch")
        if not isinstance(repository, str) or not isinstance(branch, str | None):
            raise ValueError(f"git_clone needs a repository and an optional branch: {arguments!r}")
        folder = GitRepository(repository, branch).fetch(home)
    assert folder is not None
    return folder


@dataclass(frozen=True)
class CodeSource:
    """Where a flow made by ``Flow.from_source`` came from, for its deployments."""

    location: GitRepository | Path
    entrypoint: str
    """The flow's file, relative to the source, and its name: ``flows/etl.py:nightly``."""
    folder: Path
    """The local folder the code was loaded from (a repository's clone)."""

    def deployment_entrypoint(self) -> str:
        """A repository's flow is found in its clone, wherever a runner makes it; a local
        directory's by its absolute path."""
        if isinstance(self.location, GitRepository):
            return self.entrypoint
        path, attribute = split_entrypoint(self.entrypoint)
        return f"{self.folder.joinpath(*path.parts)}:{attribute}"

    def pull_steps(self) -> list[dict[str, Any]] | None:
        """What a runner does to fetch the code before each run; None for a local directory."""
        if isinstance(self.location, GitRepository):
            return [self.location.pull_step()]
        return None


def load_from_source(source: str | os.PathLike[str] | GitRepository, entrypoint: str) -> Any:
    """The flow ``entrypoint`` names inside ``source``, fetched first (see ``Flow.from_source``)."""
    from runplane._client.settings import get_settings
    from runplane.engine import load_flow

    path, attribute = split_entrypoint(entrypoint)
    folder = fetch_source(source, get_settings().home)
    file = folder.joinpath(*path.parts)
    if not file.resolve().is_relative_to(folder):
        raise ValueError(f"entrypoint {entrypoint!r} leads outside the source")
    if not file.is_file():
        raise FileNotFoundError(f"entrypoint {entrypoint!r}: {path} is not a file of {source}")
    flow = load_flow(f"{file}:{attribute}")
    if isinstance(source, GitRepository):
        location: GitRepository | Path = source
    elif is_git_source(os.fspath(source)):
        location = git_repository(os.fspath(source))
    else:
        location = folder
    flow.code_source = CodeSource(location, entrypoint, folder)
    return flow
