"""Artifacts (artifacts.proto)."""

from __future__ import annotations

from uuid import UUID

from runplane._client.convert.common import (
    enum_from_pb,
    id_to_pb,
    timestamp_field,
    timestamp_to_pb,
    uuid_from_pb,
)
from runplane._client.models import Artifact, ArtifactType
from runplane.v1 import artifacts_pb2

_TYPES = {t: artifacts_pb2.ArtifactType.Value(f"ARTIFACT_TYPE_{t.value}") for t in ArtifactType}
_TYPES_BACK = {number: t for t, number in _TYPES.items()}


def artifact_type_to_pb(kind: ArtifactType) -> artifacts_pb2.ArtifactType.ValueType:
    return _TYPES[kind]


def artifact_to_pb(artifact: Artifact) -> artifacts_pb2.Artifact:
    return artifacts_pb2.Artifact(
        id=str(artifact.id),
        key=artifact.key or "",
        type=_TYPES[artifact.type],
        data=artifact.data,
        description=artifact.description,
        flow_run_id=id_to_pb(artifact.flow_run_id),
        task_run_id=id_to_pb(artifact.task_run_id),
        create_time=timestamp_to_pb(artifact.create_time),
    )


def artifact_from_pb(message: artifacts_pb2.Artifact) -> Artifact:
    return Artifact(
        id=UUID(message.id),
        type=enum_from_pb(_TYPES_BACK, message.type, "artifact type"),
        data=message.data,
        key=message.key or None,
        description=message.description,
        flow_run_id=uuid_from_pb(message.flow_run_id),
        task_run_id=uuid_from_pb(message.task_run_id),
        create_time=timestamp_field(message, "create_time"),
    )
