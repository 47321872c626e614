"""artifacts: reports, tables and links that runs publish

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import runplane.server.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifact",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=True),
        sa.Column("type", sa.SmallInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("flow_run_id", sa.Uuid(), nullable=True),
        sa.Column("task_run_id", sa.Uuid(), nullable=True),
        sa.Column(
            "create_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["flow_run_id"],
            ["flow_run.id"],
            name=op.f("fk_artifact_flow_run_id_flow_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifact")),
    )
    op.create_index("ix_artifact_key_create_time", "artifact", ["key", "create_time"])
    op.create_index("ix_artifact_flow_run_id", "artifact", ["flow_run_id"])


def downgrade() -> None:
    op.drop_index("ix_artifact_flow_run_id", table_name="artifact")
    op.drop_index("ix_artifact_key_create_time", table_name="artifact")
    op.drop_table("artifact")
