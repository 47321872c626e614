"""Rules for deployments and the runs they create: entrypoints, merges and parameter schemas."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# The fields UpdateDeployment may change; everything else is set by CreateDeployment.
UPDATABLE_FIELDS = frozenset(
    {
        "paused",
        "schedules",
        "parameters",
        "concurrency_limit",
        "collision_strategy",
        "description",
        "tags",
        "job_variables",
        "work_queue_name",
        "version",
        "retry_policy",
    }
)

DEFAULT_WORK_POOL = "default"
DEFAULT_WORK_QUEUE = "default"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def entrypoint_problem(entrypoint: str) -> str | None:
    """Why an entrypoint is malformed, or None: "path/file.py:func" or "module.path:func"."""
    if entrypoint.count(":") != 1:
        return 'must look like "path/to/file.py:function" or "module.path:function"'
    location, function = entrypoint.split(":")
    if not location.strip():
        return "needs a file path or module before ':'"
    if not _IDENTIFIER.fullmatch(function):
        return "needs a Python identifier after ':'"
    return None


def merge_parameters(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's parameters: each given parameter replaces the deployment's default whole."""
    return {**defaults, **given}


def merge_job_variables(base: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Nested objects merge key by key, so that e.g. one extra environment variable keeps the
    deployment's others; any other value replaces the base's."""
    merged = dict(base)
    for key, value in given.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_job_variables(current, value)
        else:
            merged[key] = value
    return merged


def union_tags(base: Iterable[str], extra: Iterable[str]) -> list[str]:
    """Both lists in order, without repeats."""
    return list(dict.fromkeys([*base, *extra]))


def run_name(deployment_name: str, run_id_hex: str) -> str:
    """A readable name for a run that was given none: the deployment's and a short id."""
    return f"{deployment_name}-{run_id_hex[:8]}"
