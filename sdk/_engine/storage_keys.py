"""``result_storage_key``: where a task's result is stored, as a template of its run.

The template is a ``str.format`` string over the run, as in Prefect:
``"{parameters[x]}-{task_run.task_name}.json"``. ``parameters`` are the task's arguments by
name, and ``flow_run`` and ``task_run`` are ``runplane.runtime``'s views of the running
flow run and task run (``flow_run.name``, ``flow_run.id``, ``task_run.name``, ...). The
rendered key is a relative path inside the task's result storage.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

OPTION = "result_storage_key"
FIELDS = ("parameters", "flow_run", "task_run")


class ResultStorageKeyError(ValueError):
    """A ``result_storage_key`` template that is malformed or does not fit its run."""


def check_storage_key(template: str | None) -> str | None:
    """Fails at decoration time on a template that cannot be formatted, or that names a
    field other than ``parameters``, ``flow_run`` and ``task_run``."""
    if template is None:
        return None
    if not isinstance(template, str) or not template:
        raise ResultStorageKeyError(f"{OPTION} must be a non-empty string, got {template!r}")
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field]
    except ValueError as error:
        message = f"{OPTION} {template!r} is not a format string: {error}"
        raise ResultStorageKeyError(message) from None
    for field in fields:
        root = field.split(".", 1)[0].split("[", 1)[0]
        if root not in FIELDS:
            known = ", ".join(FIELDS)
            raise ResultStorageKeyError(
                f"{OPTION} {template!r} names {{{field}}}: a key may use {known}"
            )
    return template


def render_storage_key(template: str, parameters: Mapping[str, Any]) -> str:
    """The key ``template`` gives for the running task run; call it inside its context."""
    from runplane import runtime

    try:
        key = template.format(
            parameters=dict(parameters), flow_run=runtime.flow_run, task_run=runtime.task_run
        )
    except (KeyError, IndexError, AttributeError, ValueError, TypeError) as error:
        raise ResultStorageKeyError(
            f"{OPTION} {template!r} could not be formatted for this run "
            f"(parameters {sorted(parameters)}): {type(error).__name__}: {error}"
        ) from None
    if not key:
        raise ResultStorageKeyError(f"{OPTION} {template!r} formatted to an empty key")
    return key
