"""deployment runtime: which runtime (python, node, ...) runs a deployment's flow runs

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Everything deployed so far ran on the Python runner.
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("runtime", sa.String(length=63), server_default="python", nullable=False)
        )
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("runtime", sa.String(length=63), server_default="python", nullable=False)
        )
        batch_op.create_index(
            "ix_flow_run_claim_by_runtime",
            ["work_pool_name", "state_type", "runtime", "next_scheduled_start_time"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.drop_index("ix_flow_run_claim_by_runtime")
        batch_op.drop_column("runtime")
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.drop_column("runtime")
