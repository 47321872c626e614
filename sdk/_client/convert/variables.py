"""Variables (variables.proto)."""

from __future__ import annotations

from uuid import UUID

from runplane._client.convert.common import (
    json_from_pb,
    json_to_pb,
    timestamp_field,
    timestamp_to_pb,
)
from runplane._client.models import Variable
from runplane.v1 import variables_pb2


def variable_to_pb(variable: Variable) -> variables_pb2.Variable:
    return variables_pb2.Variable(
        id=str(variable.id),
        name=variable.name,
        value_json=json_to_pb(variable.value, "value_json"),
        tags=variable.tags,
        create_time=timestamp_to_pb(variable.create_time),
        update_time=timestamp_to_pb(variable.update_time),
    )


def variable_from_pb(message: variables_pb2.Variable) -> Variable:
    return Variable(
        id=UUID(message.id),
        name=message.name,
        value=json_from_pb(message.value_json),
        tags=tuple(message.tags),
        create_time=timestamp_field(message, "create_time"),
        update_time=timestamp_field(message, "update_time"),
    )
