"""Running ``runplane`` commands against a test server."""

from __future__ import annotations

import anyio
from typer.testing import CliRunner

from runplane.cli import app
from runplane.server import RunplaneServer


async def invoke(server: RunplaneServer, *args: str, columns: int = 200) -> tuple[int, str]:
    """The exit code and output of ``runplane <args>`` pointed at ``server``, run in a thread
    so the server keeps serving on the event loop. The output is not a terminal, as in a
    pipe; ``columns`` is the width the command is told it has."""

    def run() -> tuple[int, str]:
        env = {"RUNPLANE_API_URL": server.address, "COLUMNS": str(columns)}
        result = CliRunner().invoke(app, list(args), env=env)
        return result.exit_code, result.output

    return await anyio.to_thread.run_sync(run)
