"""task log batches: WriteLogs batch ids applied for task runs of their own alone

A batch whose lines all belong to task runs without a flow run is keyed by its first task
run, so that its retry, too, stores nothing twice.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import runplane.server.db.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_log_batch",
        sa.Column("task_run_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("written_count", sa.Integer(), nullable=False),
        sa.Column(
            "create_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["task_run_id"],
            ["task_run.id"],
            name=op.f("fk_task_log_batch_task_run_id_task_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_run_id", "batch_id", name=op.f("pk_task_log_batch")),
    )
    op.create_index(
        op.f("ix_task_log_batch_create_time"), "task_log_batch", ["create_time"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_task_log_batch_create_time"), table_name="task_log_batch")
    op.drop_table("task_log_batch")
