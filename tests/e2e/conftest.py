"""End-to-end fixtures: a real server with fast reapers, and real runner processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from runplane.server import ServerSettings


@pytest.fixture
def server_settings(database_url: str, tmp_path: Path) -> ServerSettings:
    # Short heartbeat and lease timeouts so that lost runners are noticed within seconds, yet
    # long enough that a runner on a loaded machine gets a heartbeat through within two thirds
    # of the timeout (4 s), where it would otherwise fence itself and kill healthy runs.
    return ServerSettings(
        home=tmp_path,
        database_url=database_url,
        host="127.0.0.1",
        port=0,
        heartbeat_timeout=6.0,
        heartbeat_reaper_interval=0.5,
        lease_reaper_interval=0.5,
        work_lease_seconds=5.0,
    )
