"""VariableService: named JSON values that flows read at run time."""

from __future__ import annotations

from typing import Any

import grpc

from runplane.server.api import variable_messages as messages
from runplane.server.api.errors import already_exists, not_found
from runplane.server.api.pagination import cut_page, filter_fingerprint, name_after
from runplane.server.api.validation import check_tags, name_prefix, page_size
from runplane.server.clock import Clock
from runplane.server.db import variables
from runplane.server.db.engine import Database
from runplane.v1 import variables_pb2, variables_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class VariableServicer(variables_pb2_grpc.VariableServiceServicer):
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def SetVariable(
        self, request: variables_pb2.SetVariableRequest, context: Context
    ) -> variables_pb2.SetVariableResponse:
        name = messages.variable_name("name", request.name)
        value = messages.variable_value("value_json", request)
        tags = check_tags("tags", request.tags)
        async with self._db.write() as conn:
            stored = await variables.put(
                conn, name, value, tags, self._clock.now(), overwrite=request.overwrite
            )
        if stored is None:
            raise already_exists("variable", name)
        record, created = stored
        return variables_pb2.SetVariableResponse(
            variable=messages.variable(record), created=created
        )

    async def GetVariable(
        self, request: variables_pb2.GetVariableRequest, context: Context
    ) -> variables_pb2.GetVariableResponse:
        name = messages.variable_name("name", request.name)
        async with self._db.read() as conn:
            record = await variables.get(conn, name)
        if record is None:
            raise not_found("variable", name)
        return variables_pb2.GetVariableResponse(variable=messages.variable(record))

    async def ListVariables(
        self, request: variables_pb2.ListVariablesRequest, context: Context
    ) -> variables_pb2.ListVariablesResponse:
        limit = page_size("page_size", request.page_size)
        prefix = name_prefix("name_prefix", request.name_prefix)
        fingerprint = filter_fingerprint(prefix)
        after = name_after("page_token", request.page_token, fingerprint)
        async with self._db.read() as conn:
            records = await variables.list_page(
                conn, prefix=prefix, after_name=after, limit=limit + 1
            )
        records, next_token = cut_page(records, limit, fingerprint, lambda last: [last.name])
        return variables_pb2.ListVariablesResponse(
            variables=[messages.variable(record) for record in records],
            next_page_token=next_token,
        )

    async def DeleteVariable(
        self, request: variables_pb2.DeleteVariableRequest, context: Context
    ) -> variables_pb2.DeleteVariableResponse:
        name = messages.variable_name("name", request.name)
        async with self._db.write() as conn:
            if not await variables.delete(conn, name):
                raise not_found("variable", name)
        return variables_pb2.DeleteVariableResponse()
