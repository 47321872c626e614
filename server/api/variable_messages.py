"""Variables between protobuf and the repository, and the checks on their fields."""

from __future__ import annotations

import re
from typing import Any

from runplane.server.api import convert
from runplane.server.api.errors import invalid_argument
from runplane.server.api.validation import identifier, json_value
from runplane.server.db.variables import VariableRecord
from runplane.v1 import variables_pb2

MAX_NAME_LENGTH = 255
MAX_VALUE_BYTES = 64 * 1024
# Names go into shell scripts, URLs and code: a conservative alphabet keeps them safe there.
_NAME = re.compile(r"[a-z0-9_-]+")


def variable(record: VariableRecord) -> variables_pb2.Variable:
    return variables_pb2.Variable(
        id=str(record.id),
        name=record.name,
        value_json=convert.json_text(record.value, "value_json"),
        tags=record.tags,
        create_time=convert.timestamp(record.create_time),
        update_time=convert.timestamp(record.update_time),
    )


def variable_name(field: str, name: str) -> str:
    alphabet = "lowercase letters, digits, '_' and '-'"
    return identifier(field, name, _NAME, alphabet, MAX_NAME_LENGTH)


def variable_value(field: str, message: variables_pb2.SetVariableRequest) -> Any:
    """The request's value as JSON data: required, and at most 64 KiB of JSON text."""
    if not message.value_json:
        raise invalid_argument(field, "is required (a JSON null is the text null)")
    return json_value(field, message.value_json, MAX_VALUE_BYTES)
