"""runplane's web dashboard: runs, their timelines and logs, and deployments, in a browser.

It reads and acts only through the gRPC API, with the SDK's client, so it works against any
server, honours API keys and TLS, and needs no database of its own.
"""

from __future__ import annotations

from runplane.dashboard._app import create_app
from runplane.dashboard._roles import Permissions, probe_permissions
from runplane.dashboard._server import RunningDashboard, serving

__all__ = ["Permissions", "RunningDashboard", "create_app", "probe_permissions", "serving"]
