"""docs/protocol.md's Guarantees name the tests that prove them: each must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _guarantees() -> str:
    text = (ROOT / "docs" / "protocol.md").read_text()
    start = text.index("## Guarantees")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _defined_tests() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.update(re.findall(r"^(?:async )?def (test_\w+)", path.read_text(), re.MULTILINE))
    return names


def test_every_test_a_guarantee_names_exists() -> None:
    named = set(re.findall(r"`(test_\w+)`", _guarantees()))
    assert len(named) >= 20
    assert sorted(named - _defined_tests()) == []


def test_every_file_a_guarantee_names_exists() -> None:
    paths = re.findall(r"`(tests/[\w/]+\.py)`", _guarantees())
    assert [path for path in paths if not (ROOT / path).is_file()] == []


def test_test_files_have_unique_names() -> None:
    # pytest imports test modules by their basename: a second file of the same name in another
    # tier fails the whole collection.
    names = [path.name for path in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({name for name in names if names.count(name) > 1}) == []
