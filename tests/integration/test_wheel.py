"""The wheel ships every module and data file of the three source folders, and works alone.

The editable install finds modules in the folders themselves, so a package that the build
leaves out still imports there; only a built wheel shows it. The wheel is built from a copy
of the sources (the build writes into its source tree), unpacked, and imported by an
interpreter that sees the wheel and the dependencies but not the editable install.
"""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The import prefix each source folder maps to, as setup.py declares it.
PACKAGE_ROOTS = {"runplane": "sdk", "runplane.server": "server", "runplane.runner": "runner"}
BUILD_FILES = ("pyproject.toml", "setup.py", "README.md")
# Found but not imported: running them is their whole job (a command line, Alembic's env).
RUN_ONLY = ("runplane.cli.__main__", "runplane.server.db.migrations.env")

# Runs under `python -S`: no site-packages, so no editable install; the wheel and the
# dependencies' folders come first on sys.path. Prints what it found as JSON.
PROBE = """
import asyncio, importlib, importlib.util, json, sys, tempfile
from pathlib import Path

given = json.load(sys.stdin)
wheel_dir = Path(given["wheel_dir"])
sys.path[:0] = [str(wheel_dir), *given["site_dirs"]]
outside, failed = [], {}
for name in given["modules"]:
    try:
        spec = importlib.util.find_spec(name)
        if spec is None or not Path(spec.origin).is_relative_to(wheel_dir):
            outside.append(name)
        elif name not in given["run_only"]:
            importlib.import_module(name)
    except Exception as error:
        failed[name] = repr(error)

from runplane.server.db.engine import Database
from runplane.server.db.migrate import MIGRATIONS_DIR, current_revisions, head_revisions, upgrade

async def migrate(url):
    database = Database(url)
    try:
        await upgrade(database)
        return await current_revisions(database)
    finally:
        await database.dispose()

with tempfile.TemporaryDirectory() as folder:
    reached = asyncio.run(migrate(f"sqlite+aiosqlite:///{folder}/wheel.db"))
print(json.dumps({
    "outside": outside,
    "failed": failed,
    "migrations_dir": str(MIGRATIONS_DIR),
    "heads": sorted(head_revisions()),
    "reached": sorted(reached),
}))
"""


def _source_files() -> dict[str, Path]:
    """Each file of the source folders by its path inside the wheel (runplane/server/x.py)."""
    files: dict[str, Path] = {}
    for prefix, folder in PACKAGE_ROOTS.items():
        root = REPO / folder
        for path in root.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                inside = Path(*prefix.split("."), path.relative_to(root))
                files[inside.as_posix()] = path
    return files


def _module_name(wheel_path: str) -> str:
    parts = wheel_path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in BUILD_FILES:
        shutil.copy2(REPO / name, source / name)
    for folder in PACKAGE_ROOTS.values():
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(REPO / folder, source / folder, ignore=ignore)
    dist = tmp_path / "dist"
    # No build isolation and no index: the build uses this environment's setuptools, offline.
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    command += ["--no-index", "--quiet", "--wheel-dir", str(dist), str(source)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    (wheel,) = dist.glob("runplane-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_every_source_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    missing = sorted(set(_source_files()) - shipped)
    assert missing == [], f"the wheel lacks {missing}"


def test_every_module_imports_from_the_wheel_and_its_migrations_reach_head(
    wheel: Path, tmp_path: Path
) -> None:
    wheel_dir = tmp_path / "installed"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(wheel_dir)
    modules = sorted(_module_name(path) for path in _source_files() if path.endswith(".py"))
    given = {
        "wheel_dir": str(wheel_dir),
        "site_dirs": site.getsitepackages(),
        "modules": modules,
        "run_only": RUN_ONLY,
    }
    finished = subprocess.run(
        [sys.executable, "-S", "-c", PROBE],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    found = json.loads(finished.stdout)
    assert found["outside"] == [], "not found in the wheel: " + ", ".join(found["outside"])
    assert found["failed"] == {}, f"failed to import from the wheel: {found['failed']}"
    assert Path(found["migrations_dir"]).is_relative_to(wheel_dir)
    assert found["heads"], "the wheel's Alembic history has no head"
    assert found["reached"] == found["heads"]
