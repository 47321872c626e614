"""ArtifactService: reports, tables and links that runs publish for people to read."""

from __future__ import annotations

from typing import Any

import grpc

from runplane.server.api import artifact_messages as messages
from runplane.server.api.errors import failed_precondition, not_found
from runplane.server.api.pagination import (
    cut_page,
    filter_fingerprint,
    time_and_id_after,
    time_and_id_key,
)
from runplane.server.api.validation import page_size, parse_optional_uuid, parse_uuid
from runplane.server.clock import Clock
from runplane.server.db import artifacts
from runplane.server.db.engine import Database
from runplane.server.db.run_records import ReferenceMissing
from runplane.v1 import artifacts_pb2, artifacts_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class ArtifactServicer(artifacts_pb2_grpc.ArtifactServiceServicer):
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def CreateArtifact(
        self, request: artifacts_pb2.CreateArtifactRequest, context: Context
    ) -> artifacts_pb2.CreateArtifactResponse:
        record = messages.new_artifact(request, self._clock.now())
        try:
            async with self._db.write() as conn:
                await artifacts.insert(conn, record)
        except ReferenceMissing as error:
            raise not_found(error.kind, error.key) from None
        return artifacts_pb2.CreateArtifactResponse(artifact=messages.artifact(record))

    async def GetArtifact(
        self, request: artifacts_pb2.GetArtifactRequest, context: Context
    ) -> artifacts_pb2.GetArtifactResponse:
        artifact_id = parse_uuid("artifact_id", request.artifact_id)
        async with self._db.read() as conn:
            record = await artifacts.get(conn, artifact_id)
        if record is None:
            raise not_found("artifact", artifact_id)
        return artifacts_pb2.GetArtifactResponse(artifact=messages.artifact(record))

    async def ListArtifacts(
        self, request: artifacts_pb2.ListArtifactsRequest, context: Context
    ) -> artifacts_pb2.ListArtifactsResponse:
        limit = page_size("page_size", request.page_size)
        key = messages.artifact_key("key", request.key)
        flow_run_id = parse_optional_uuid("flow_run_id", request.flow_run_id)
        fingerprint = filter_fingerprint(request.key, request.flow_run_id)
        before = time_and_id_after("page_token", request.page_token, fingerprint)
        async with self._db.read() as conn:
            records = await artifacts.list_page(
                conn, key=key, flow_run_id=flow_run_id, before=before, limit=limit + 1
            )
        records, next_token = cut_page(
            records, limit, fingerprint, lambda last: time_and_id_key(last.create_time, last.id)
        )
        return artifacts_pb2.ListArtifactsResponse(
            artifacts=[messages.artifact(record) for record in records],
            next_page_token=next_token,
        )

    async def UpdateArtifact(
        self, request: artifacts_pb2.UpdateArtifactRequest, context: Context
    ) -> artifacts_pb2.UpdateArtifactResponse:
        artifact_id = parse_uuid("artifact_id", request.artifact_id)
        data = messages.progress("data", request.data)
        async with self._db.write() as conn:
            record = await artifacts.set_data(
                conn, artifact_id, data, of_type=artifacts_pb2.ARTIFACT_TYPE_PROGRESS
            )
            existing = None if record else await artifacts.get(conn, artifact_id)
        if record is None:
            if existing is None:
                raise not_found("artifact", artifact_id)
            kind = artifacts_pb2.ArtifactType.Name(existing.type)  # type: ignore[arg-type]
            raise failed_precondition(
                "ARTIFACT_NOT_UPDATABLE",
                f"artifact {artifact_id} is of type {kind}: only progress artifacts change "
                "in place; publish a new version under the same key instead",
            )
        return artifacts_pb2.UpdateArtifactResponse(artifact=messages.artifact(record))

    async def DeleteArtifact(
        self, request: artifacts_pb2.DeleteArtifactRequest, context: Context
    ) -> artifacts_pb2.DeleteArtifactResponse:
        artifact_id = parse_uuid("artifact_id", request.artifact_id)
        async with self._db.write() as conn:
            if not await artifacts.delete(conn, artifact_id):
                raise not_found("artifact", artifact_id)
        return artifacts_pb2.DeleteArtifactResponse()
