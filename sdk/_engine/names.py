"""Renders ``flow_run_name`` and ``task_run_name`` from templates or callables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

NameTemplate = str | Callable[[], str]


def render_name(template: NameTemplate | None, parameters: Mapping[str, Any]) -> str | None:
    """``template.format(**parameters)``, or the callable's answer; None without a template."""
    if template is None:
        return None
    if callable(template):
        name = template()
        if not isinstance(name, str):
            raise TypeError(f"a run name callable must return a string, got {name!r}")
        return name
    try:
        return template.format(**parameters)
    except (KeyError, IndexError, AttributeError, ValueError) as error:
        raise ValueError(
            f"cannot render run name {template!r} from parameters {sorted(parameters)}: {error}"
        ) from None
