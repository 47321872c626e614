"""background task runs: task runs of their own, and task workers' leases on them

A task run may have no flow run (a task called outside any flow, or sent to task workers
with Task.delay). A background run keeps its arguments and, while a task worker holds it,
the lease of that hand-out and the worker's id. Log lines of such runs have no flow run
either; a partial index lists them by task run.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from runplane.server.db.types import JSON, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_run", schema=None) as batch_op:
        batch_op.alter_column("flow_run_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.add_column(
            sa.Column("background", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("parameters", JSON, nullable=True))
        batch_op.add_column(sa.Column("attempt", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("lease_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("lease_expire_time", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("worker_id", sa.Uuid(), nullable=True))
    # Partial: the task runs of flows, nearly all of them, get no entries in these indexes.
    op.create_index(
        "ix_task_run_claim",
        "task_run",
        ["task_key", "state_type", "create_time"],
        postgresql_where=sa.text("background = true"),
        sqlite_where=sa.text("background = 1"),
    )
    for column in ("worker_id", "lease_expire_time"):
        op.create_index(
            f"ix_task_run_{column}",
            "task_run",
            [column],
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
            sqlite_where=sa.text(f"{column} IS NOT NULL"),
        )
    with op.batch_alter_table("log", schema=None) as batch_op:
        batch_op.alter_column("flow_run_id", existing_type=sa.Uuid(), nullable=True)
    op.create_index(
        "ix_log_own_task_run",
        "log",
        ["task_run_id", "id"],
        postgresql_where=sa.text("flow_run_id IS NULL"),
        sqlite_where=sa.text("flow_run_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_log_own_task_run", table_name="log")
    op.execute("DELETE FROM log WHERE flow_run_id IS NULL")
    with op.batch_alter_table("log", schema=None) as batch_op:
        batch_op.alter_column("flow_run_id", existing_type=sa.Uuid(), nullable=False)
    op.execute("DELETE FROM task_run WHERE flow_run_id IS NULL")
    with op.batch_alter_table("task_run", schema=None) as batch_op:
        batch_op.drop_index("ix_task_run_lease_expire_time")
        batch_op.drop_index("ix_task_run_worker_id")
        batch_op.drop_index("ix_task_run_claim")
        batch_op.drop_column("worker_id")
        batch_op.drop_column("lease_expire_time")
        batch_op.drop_column("lease_id")
        batch_op.drop_column("attempt")
        batch_op.drop_column("parameters")
        batch_op.drop_column("background")
        batch_op.alter_column("flow_run_id", existing_type=sa.Uuid(), nullable=False)
