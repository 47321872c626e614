"""``Variable.get``/``set``/``unset``: variables through the engine's client.

The engine's client is the process's one (the embedded control plane, or the server that
``RUNPLANE_API_URL`` names), so reading a variable in a flow costs no new channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runplane._client.errors import NotFound
from runplane._client.models import Variable
from runplane._engine.client import engine_client


def get_value(name: str, default: Any) -> Any:
    try:
        return engine_client().get_variable(name).value
    except NotFound:
        return default


def set_value(name: str, value: Any, tags: Sequence[str], overwrite: bool) -> Variable:
    return engine_client().set_variable(name, value, tags=tags, overwrite=overwrite)


def unset_value(name: str) -> bool:
    try:
        engine_client().delete_variable(name)
    except NotFound:
        return False
    return True
