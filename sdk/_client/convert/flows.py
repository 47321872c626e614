"""Flows (flows.proto)."""

from __future__ import annotations

from uuid import UUID

from runplane._client.convert.common import timestamp_field, timestamp_to_pb
from runplane._client.models import Flow
from runplane.v1 import flows_pb2


def flow_to_pb(flow: Flow) -> flows_pb2.Flow:
    return flows_pb2.Flow(
        id=str(flow.id),
        name=flow.name,
        tags=flow.tags,
        create_time=timestamp_to_pb(flow.create_time),
    )


def flow_from_pb(message: flows_pb2.Flow) -> Flow:
    return Flow(
        id=UUID(message.id),
        name=message.name,
        tags=tuple(message.tags),
        create_time=timestamp_field(message, "create_time"),
    )
