"""Input that a paused flow run waits for: its JSON Schema, and whether a resume's input
satisfies it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# jsonschema is imported where it is used: loading it costs every server start, and only
# pauses for input need it.


@dataclass(frozen=True, slots=True)
class InputProblem:
    """Why an input does not satisfy the schema: where in the input, and what is wrong."""

    path: tuple[str | int, ...]
    message: str


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a usable JSON Schema object; None when it is."""
    import jsonschema

    if not isinstance(schema, dict):
        return "must be a JSON Schema: a JSON object"
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as error:
        return f"is not a valid JSON Schema: {error.message}"
    return None


def input_problem(schema_json: str, value: Any) -> InputProblem | None:
    """The most relevant way ``value`` breaks the schema; None when it satisfies it."""
    import jsonschema
    import referencing.exceptions
    from jsonschema.exceptions import best_match

    schema = json.loads(schema_json)
    validator = jsonschema.validators.validator_for(schema)(schema)
    try:
        error = best_match(validator.iter_errors(value))
    except (referencing.exceptions.Unresolvable, RecursionError) as failure:
        # A reference the schema cannot resolve (only references within it are, nothing is
        # fetched), or one that refers to itself without end: the input cannot be shown to
        # satisfy it.
        return InputProblem((), f"cannot be checked against the schema: {failure}")
    if error is None:
        return None
    return InputProblem(tuple(error.absolute_path), error.message)
