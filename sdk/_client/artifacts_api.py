"""Client methods for artifacts: what runs publish for people to read."""

from __future__ import annotations

from uuid import UUID

from runplane._client import convert
from runplane._client.models import Artifact, ArtifactType, Page
from runplane._client.transport import Transport
from runplane.v1 import artifacts_pb2


class ArtifactsAPI(Transport):
    """Artifacts: Markdown reports, tables, links, progress and images published by runs."""

    async def create_artifact(
        self,
        type: ArtifactType,
        data: str,
        *,
        key: str | None = None,
        description: str = "",
        flow_run_id: UUID | None = None,
        task_run_id: UUID | None = None,
    ) -> Artifact:
        """Publishes an artifact; ``data`` is Markdown, a table as JSON, a link, a progress
        (a number from 0 to 100) or an image's http(s) URL."""
        request = artifacts_pb2.CreateArtifactRequest(
            key=key or "",
            type=convert.artifact_type_to_pb(type),
            data=data,
            description=description,
            flow_run_id=convert.id_to_pb(flow_run_id),
            task_run_id=convert.id_to_pb(task_run_id),
        )
        response = await self._unary(self.stubs.artifacts.CreateArtifact, request)
        return convert.artifact_from_pb(response.artifact)

    async def get_artifact(self, artifact_id: UUID) -> Artifact:
        request = artifacts_pb2.GetArtifactRequest(artifact_id=str(artifact_id))
        response = await self._unary(self.stubs.artifacts.GetArtifact, request)
        return convert.artifact_from_pb(response.artifact)

    async def list_artifacts(
        self,
        *,
        key: str | None = None,
        flow_run_id: UUID | None = None,
        page_size: int = 0,
        page_token: str | None = None,
    ) -> Page[Artifact]:
        """Artifacts newest first: the versions of ``key``, those of ``flow_run_id``, or all."""
        request = artifacts_pb2.ListArtifactsRequest(
            key=key or "",
            flow_run_id=convert.id_to_pb(flow_run_id),
            page_size=page_size,
            page_token=page_token or "",
        )
        response = await self._unary(self.stubs.artifacts.ListArtifacts, request)
        items = [convert.artifact_from_pb(item) for item in response.artifacts]
        return Page(items, response.next_page_token or None)

    async def update_artifact(self, artifact_id: UUID, data: str) -> Artifact:
        """Sets a progress artifact's data (a number from 0 to 100) in place."""
        request = artifacts_pb2.UpdateArtifactRequest(artifact_id=str(artifact_id), data=data)
        response = await self._unary(self.stubs.artifacts.UpdateArtifact, request)
        return convert.artifact_from_pb(response.artifact)

    async def delete_artifact(self, artifact_id: UUID) -> None:
        request = artifacts_pb2.DeleteArtifactRequest(artifact_id=str(artifact_id))
        await self._unary(self.stubs.artifacts.DeleteArtifact, request)
