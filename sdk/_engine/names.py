"""Renders ``flow_run_name`` and ``task_run_name`` from templates or callables.

A run name is a one-line label of at most 256 characters, without control characters (the
server refuses others). Parameters put into a name may hold anything, so a rendered name is
made to fit: control characters become U+FFFD and the end of a longer name is cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

NameTemplate = str | Callable[[], str]

MAX_RUN_NAME_LENGTH = 256
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


def render_name(
    template: NameTemplate | None, parameters: Mapping[str, Any], kind: str = "flow"
) -> str | None:
    """``template.format(**parameters)``, or the callable's answer, as a valid run name;
    None without a template. A callable reads ``parameters`` through ``runplane.runtime``
    (``flow_run.parameters``, or ``task_run.parameters`` for a ``kind`` "task" name)."""
    if template is None:
        return None
    if callable(template):
        from runplane._runtime.context import NamingContext, naming_context

        token = naming_context.set(NamingContext(kind, parameters))
        try:
            name = template()
        finally:
            naming_context.reset(token)
        if not isinstance(name, str):
            raise TypeError(f"a run name callable must return a string, got {name!r}")
        return fit_name(name)
    try:
        return fit_name(template.format(**parameters))
    except (KeyError, IndexError, AttributeError, ValueError) as error:
        raise ValueError(
            f"cannot render run name {template!r} from parameters {sorted(parameters)}: {error}"
        ) from None


def fit_name(name: str) -> str:
    """``name`` with control characters replaced, cut to the longest name the server takes."""
    return _CONTROL_CHARACTERS.sub("\ufffd", name)[:MAX_RUN_NAME_LENGTH]
