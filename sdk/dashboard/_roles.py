"""What the dashboard's API key may do, learnt by asking the server.

The API has no call that names a key's role, and the server checks the role of every call
before anything else (``server/api/method_roles.py``). So the dashboard makes, once, one call
of each level that can change nothing: a state proposal for a flow run that does not exist
(``worker``) and an update of a deployment that does not exist (``admin``). PERMISSION_DENIED
(or UNAUTHENTICATED: no key, or an unknown one) means it may not; any other answer
(NOT_FOUND) means the key may. Buttons for what the
key may not do are not shown, and an action refused all the same is shown as the server's
PERMISSION_DENIED.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from runplane._client.client import RunplaneClient
from runplane._client.errors import (
    DeadlineExceeded,
    PermissionDenied,
    RunplaneError,
    Unauthenticated,
    Unavailable,
)
from runplane._client.models import Deployment, State, StateType

# Ids no run or deployment has: uuid5 of a fixed name, so the probes are the same each time.
_NO_SUCH_ID = uuid.uuid5(uuid.NAMESPACE_URL, "runplane-dashboard:role-probe")


@dataclass(frozen=True)
class Permissions:
    """What the key may do: ``act`` (cancel, retry, resume, run a deployment: the worker
    role) and ``administer`` (pause deployments: the admin role)."""

    act: bool
    administer: bool


async def _allowed(call: object) -> bool:
    try:
        await call  # type: ignore[misc]
    except (PermissionDenied, Unauthenticated):
        return False
    except (Unavailable, DeadlineExceeded):
        raise  # no answer yet: ask again on the next page
    except RunplaneError:
        return True
    return True


async def probe_permissions(client: RunplaneClient) -> Permissions:
    """Asks the server, as above, what the client's key may do."""
    act = await _allowed(client.set_flow_run_state(_NO_SUCH_ID, State(type=StateType.CANCELLING)))
    administer = act and await _allowed(
        client.update_deployment(
            Deployment(id=_NO_SUCH_ID, name="role-probe", entrypoint="role:probe"), ["paused"]
        )
    )
    return Permissions(act=act, administer=administer)


class KnownPermissions:
    """The probe's answer, asked for on the first page shown and then kept: the key does not
    change while the dashboard runs. A server that does not answer yet is asked again later,
    so that the dashboard can start before its server."""

    def __init__(self, client: RunplaneClient) -> None:
        self._client = client
        self._known: Permissions | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Permissions:
        if self._known is None:
            async with self._lock:
                if self._known is None:
                    self._known = await probe_permissions(self._client)
        return self._known
