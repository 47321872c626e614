"""work delivery: the holder of a run's lease, and the claim index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("runner_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("runner_session_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_flow_run_work_pool_name_state_type_next_scheduled_start_time"),
            ["work_pool_name", "state_type", "next_scheduled_start_time"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_flow_run_work_pool_name_state_type_next_scheduled_start_time")
        )
        batch_op.drop_column("runner_session_id")
        batch_op.drop_column("runner_id")
