"""What ``serve`` and ``deploy`` tell the console: the deployments registered, where, and
who executes their runs (``Settings.console_lines`` turns it off)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from runplane._client.models import Deployment
from runplane._client.settings import Settings


def server_name(settings: Settings) -> str:
    """The API the settings reach, in words."""
    if settings.api_url:
        return settings.api_url
    return f"the local server in {settings.home}"


def say(settings: Settings, line: str) -> None:
    if settings.console_lines:
        print(line, file=sys.stderr, flush=True)


def registered(settings: Settings, deployments: Sequence[Deployment]) -> None:
    """One line per deployment registered: its name, pool and queue, and the server."""
    for deployment in deployments:
        queue = f", queue {deployment.work_queue_name!r}" if deployment.work_queue_name else ""
        say(
            settings,
            f"Registered deployment '{deployment.flow_name}/{deployment.name}' on work pool "
            f"{deployment.work_pool_name!r}{queue} at {server_name(settings)}",
        )


def deployed(settings: Settings, deployments: Sequence[Deployment]) -> None:
    registered(settings, deployments)
    for pool in dict.fromkeys(d.work_pool_name for d in deployments):
        say(settings, f"Runs of pool {pool!r} are executed by: runplane runner start --pool {pool}")


def listening(settings: Settings, deployments: Sequence[Deployment]) -> None:
    names = ", ".join(f"'{d.flow_name}/{d.name}'" for d in deployments)
    first = deployments[0]
    say(
        settings,
        f"Listening for runs of {names} (Ctrl-C stops); start one with: "
        f"runplane deployment run {first.flow_name}/{first.name}",
    )
