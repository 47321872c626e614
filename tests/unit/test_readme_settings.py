"""The README's configuration table names every setting the settings classes read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from runplane._client.settings import Settings
from runplane.cli.config import variable_names
from runplane.server.settings import ServerSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def configuration_table() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


@pytest.mark.parametrize("settings_class", [Settings, ServerSettings])
def test_every_setting_is_in_the_readme_table(settings_class: type[BaseSettings]) -> None:
    table = configuration_table()
    listed = set(re.findall(r"`(RUNPLANE_[A-Z0-9_]+)`", table))
    missing = [
        variable_names(settings_class, name)[0]
        for name in settings_class.model_fields
        if not listed.intersection(variable_names(settings_class, name))
    ]
    assert missing == [], f"add these to the README's configuration table: {missing}"
