"""Queries on artifacts: what runs publish for people to read."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.keyset import older_than
from runplane.server.db.records import _FromRow
from runplane.server.db.run_records import ReferenceMissing
from runplane.server.db.tables import artifact


@dataclass(frozen=True, slots=True)
class ArtifactRecord(_FromRow):
    id: uuid.UUID
    key: str | None
    type: int
    data: str
    description: str
    flow_run_id: uuid.UUID | None
    task_run_id: uuid.UUID | None
    create_time: datetime


async def insert(conn: AsyncConnection, record: ArtifactRecord) -> None:
    """Stores the artifact; ``ReferenceMissing`` when its flow run does not exist."""
    try:
        await conn.execute(sa.insert(artifact).values(**dataclasses.asdict(record)))
    except IntegrityError:
        raise ReferenceMissing("flow run", record.flow_run_id) from None


async def get(conn: AsyncConnection, artifact_id: uuid.UUID) -> ArtifactRecord | None:
    row = (await conn.execute(sa.select(artifact).where(artifact.c.id == artifact_id))).first()
    return ArtifactRecord.from_row(row) if row else None


async def list_page(
    conn: AsyncConnection,
    *,
    key: str | None,
    flow_run_id: uuid.UUID | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[ArtifactRecord]:
    """Newest first; ``before`` is the (create_time, id) of the last artifact already served."""
    query = sa.select(artifact).order_by(artifact.c.create_time.desc(), artifact.c.id.desc())
    if key is not None:
        query = query.where(artifact.c.key == key)
    if flow_run_id is not None:
        query = query.where(artifact.c.flow_run_id == flow_run_id)
    if before is not None:
        query = query.where(older_than(artifact.c.create_time, artifact.c.id, before))
    rows = await conn.execute(query.limit(limit))
    return [ArtifactRecord.from_row(row) for row in rows]


async def set_data(
    conn: AsyncConnection, artifact_id: uuid.UUID, data: str, *, of_type: int
) -> ArtifactRecord | None:
    """Sets the data of the artifact if it is of type ``of_type``; the artifact as stored
    then, or None when no artifact of that id and type exists."""
    result = await conn.execute(
        sa.update(artifact)
        .where(artifact.c.id == artifact_id, artifact.c.type == of_type)
        .values(data=data)
        .returning(*artifact.c)
    )
    row = result.first()
    return ArtifactRecord.from_row(row) if row else None


async def delete(conn: AsyncConnection, artifact_id: uuid.UUID) -> bool:
    result = await conn.execute(sa.delete(artifact).where(artifact.c.id == artifact_id))
    return result.rowcount > 0
