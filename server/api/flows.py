"""FlowService: flows registered by name."""

from __future__ import annotations

from typing import Any

import grpc

from runplane.server.api import convert
from runplane.server.api.errors import invalid_argument, not_found
from runplane.server.api.pagination import cut_page, decode_token, filter_fingerprint
from runplane.server.api.validation import (
    check_tags,
    name_prefix,
    page_size,
    parse_uuid,
    require_name,
)
from runplane.server.clock import Clock
from runplane.server.db import flows
from runplane.server.db.engine import Database
from runplane.v1 import flows_pb2, flows_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class FlowServicer(flows_pb2_grpc.FlowServiceServicer):
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def CreateFlow(
        self, request: flows_pb2.CreateFlowRequest, context: Context
    ) -> flows_pb2.CreateFlowResponse:
        name = require_name("name", request.name)
        tags = check_tags("tags", request.tags)
        async with self._db.write() as conn:
            record, created = await flows.create_or_get(conn, name, tags, self._clock.now())
        return flows_pb2.CreateFlowResponse(flow=convert.flow(record), created=created)

    async def GetFlow(
        self, request: flows_pb2.GetFlowRequest, context: Context
    ) -> flows_pb2.GetFlowResponse:
        if bool(request.flow_id) == bool(request.name):
            raise invalid_argument("flow_id", "give exactly one of flow_id and name")
        async with self._db.read() as conn:
            if request.flow_id:
                record = await flows.get(conn, parse_uuid("flow_id", request.flow_id))
            else:
                record = await flows.get_by_name(conn, require_name("name", request.name))
        if record is None:
            raise not_found("flow", request.flow_id or request.name)
        return flows_pb2.GetFlowResponse(flow=convert.flow(record))

    async def ListFlows(
        self, request: flows_pb2.ListFlowsRequest, context: Context
    ) -> flows_pb2.ListFlowsResponse:
        limit = page_size("page_size", request.page_size)
        prefix = name_prefix("name_prefix", request.name_prefix)
        fingerprint = filter_fingerprint(prefix)
        after = decode_token("page_token", request.page_token, fingerprint)
        async with self._db.read() as conn:
            records = await flows.list_page(
                conn,
                name_prefix=prefix,
                after_name=str(after[0]) if after else None,
                limit=limit + 1,
            )
        records, next_token = cut_page(records, limit, fingerprint, lambda last: [last.name])
        return flows_pb2.ListFlowsResponse(
            flows=[convert.flow(r) for r in records], next_page_token=next_token
        )

    async def DeleteFlow(
        self, request: flows_pb2.DeleteFlowRequest, context: Context
    ) -> flows_pb2.DeleteFlowResponse:
        flow_id = parse_uuid("flow_id", request.flow_id)
        async with self._db.write() as conn:
            if not await flows.delete(conn, flow_id):
                raise not_found("flow", flow_id)
        return flows_pb2.DeleteFlowResponse()
