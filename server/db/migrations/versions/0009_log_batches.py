"""log batches: WriteLogs batch ids already applied, so that a retry stores nothing twice

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import runplane.server.db.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_batch",
        sa.Column("flow_run_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("written_count", sa.Integer(), nullable=False),
        sa.Column(
            "create_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["flow_run_id"],
            ["flow_run.id"],
            name=op.f("fk_log_batch_flow_run_id_flow_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("flow_run_id", "batch_id", name=op.f("pk_log_batch")),
    )
    op.create_index(op.f("ix_log_batch_create_time"), "log_batch", ["create_time"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_log_batch_create_time"), table_name="log_batch")
    op.drop_table("log_batch")
