"""The "run now" form: fields made from a deployment's parameter schema, and the values read
back from what the browser sends."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runplane._client.models import Deployment


class FormError(ValueError):
    """A submitted value that does not fit its parameter; the message names the parameter."""


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    """``text``, ``integer``, ``number``, ``boolean``, ``choice`` or ``json``."""
    value: str
    required: bool
    description: str = ""
    choices: tuple[str, ...] = ()


_KINDS = {"string": "text", "integer": "integer", "number": "number", "boolean": "boolean"}


def _as_text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "json" or not isinstance(value, str | int | float | bool):
        return json.dumps(value)
    if kind == "boolean":
        return "true" if value else ""
    return str(value)


def parameter_fields(deployment: Deployment) -> list[Field]:
    """One field a parameter, prefilled with the deployment's value or the schema default."""
    schema = deployment.parameter_schema or {}
    properties: Mapping[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    names = list(properties) + [n for n in deployment.parameters if n not in properties]
    fields = []
    for name in names:
        spec: Mapping[str, Any] = properties.get(name) or {}
        kind = "choice" if "enum" in spec else _KINDS.get(str(spec.get("type")), "json")
        value = deployment.parameters.get(name, spec.get("default"))
        fields.append(
            Field(
                name=name,
                kind=kind,
                value=_as_text(value, kind),
                required=name in required and name not in deployment.parameters,
                description=str(spec.get("description") or spec.get("title") or ""),
                choices=tuple(str(choice) for choice in spec.get("enum") or ()),
            )
        )
    return fields


def _parse(field: Field, text: str) -> Any:
    if field.kind == "text":
        return text
    if field.kind == "integer":
        return int(text)
    if field.kind == "number":
        return float(text)
    return json.loads(text)


def parameters_from_form(deployment: Deployment, form: Mapping[str, str]) -> dict[str, Any]:
    """The parameters the form sets; an empty optional field leaves the deployment's value."""
    parameters: dict[str, Any] = {}
    for field in parameter_fields(deployment):
        key = f"param.{field.name}"
        if field.kind == "boolean":
            parameters[field.name] = key in form
            continue
        text = form.get(key, "").strip()
        if not text:
            if field.required:
                raise FormError(f"parameter {field.name!r} is required")
            continue
        if field.kind == "choice":
            spec = (deployment.parameter_schema.get("properties") or {}).get(field.name) or {}
            choices = {str(choice): choice for choice in spec.get("enum") or ()}
            if text not in choices:
                raise FormError(f"parameter {field.name!r} must be one of {sorted(choices)}")
            parameters[field.name] = choices[text]
            continue
        try:
            parameters[field.name] = _parse(field, text)
        except ValueError as error:
            raise FormError(f"parameter {field.name!r}: {error}") from None
    return parameters
