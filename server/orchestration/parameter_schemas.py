"""Deployment parameter schemas: the JSON schema the SDK derives from the flow's signature.

A schema without "$schema" is read as draft 2020-12, the draft pydantic writes. Parameters are
checked against it with the ``jsonschema`` library, plus one rule of runplane's own: a name the
schema's "properties" do not list is refused unless "additionalProperties" allows it (a flow
with ``**kwargs``), since the run would otherwise fail only when its function is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

# jsonschema is imported by the functions that check: it is a noticeable part of the start of
# a server that never receives a deployment (the CLI's embedded one).


class ParameterError(ValueError):
    """A run parameter does not match the deployment's schema."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def _validator_class(schema: Mapping[str, Any]) -> type[Validator]:
    from jsonschema import Draft202012Validator, validators

    found: type[Validator] = validators.validator_for(schema, default=Draft202012Validator)
    return found


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why ``schema`` is not a valid JSON schema (for its "$schema" draft), or None."""
    from jsonschema.exceptions import SchemaError

    try:
        _validator_class(schema).check_schema(dict(schema))
    except SchemaError as error:
        where = "/".join(str(part) for part in error.absolute_path)
        return f"is not a valid JSON schema: {error.message}" + (f" (at {where})" if where else "")
    return None


def check_parameters(parameters: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Raises :class:`ParameterError` naming the first parameter that does not match."""
    properties = schema.get("properties")
    required = schema.get("required")
    if isinstance(required, list):
        for name in required:
            if isinstance(name, str) and name not in parameters:
                raise ParameterError(name, "is required by the flow's signature")
    extra = schema.get("additionalProperties")
    if isinstance(properties, Mapping) and (extra is None or extra is False):
        for name in parameters:
            if name not in properties:
                raise ParameterError(name, "is not a parameter of the flow")
    if schema_problem(schema) is not None:
        return  # stored before schemas were checked: nothing more to check against
    from jsonschema.exceptions import best_match

    error = best_match(_validator_class(schema)(schema).iter_errors(dict(parameters)))
    if error is not None:
        raise ParameterError(_parameter_name(error), error.message)


def _parameter_name(error: ValidationError) -> str:
    """The top-level parameter the error is about; the schema's own keyword otherwise."""
    path = list(error.absolute_path)
    if path:
        return str(path[0])
    return str(error.validator)
