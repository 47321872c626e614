"""A background run's call arguments: JSON when they survive it unchanged, else a result
reference to their cloudpickled form in the default result storage."""

from __future__ import annotations

import json
from typing import Any

from runplane._client.states import ResultRef

REFERENCE_KEY = "__runplane_arguments__"
"""The one key of a parameters object that points at pickled arguments instead."""


def _survives_json(parameters: dict[str, Any]) -> bool:
    try:
        text = json.dumps(parameters, allow_nan=False)
    except (TypeError, ValueError):
        return False
    # Tuples become lists and int keys strings: such arguments go by reference instead.
    return bool(json.loads(text) == parameters) and REFERENCE_KEY not in parameters


def encode_arguments(parameters: dict[str, Any]) -> dict[str, Any]:
    """The JSON object stored on the run for these bound arguments."""
    if _survives_json(parameters):
        return parameters
    from runplane._runtime.results import default_result_store

    ref = default_result_store().persist(parameters)
    return {REFERENCE_KEY: ref.model_dump(mode="json", exclude_none=True)}


def decode_arguments(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The bound arguments a task worker calls the task with."""
    if not stored:
        return {}
    if set(stored) != {REFERENCE_KEY}:
        return stored
    from runplane._runtime.results import _load_ref

    value = _load_ref(ResultRef.model_validate(stored[REFERENCE_KEY]))
    if not isinstance(value, dict):
        raise TypeError("a background run's stored arguments are not a mapping")
    return value
