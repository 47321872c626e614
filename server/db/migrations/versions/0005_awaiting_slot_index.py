"""awaiting slot: a partial index on the runs waiting for a deployment concurrency slot

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_WAITING = sa.text("state_type = 1 AND state_name = 'AwaitingConcurrencySlot'")


def upgrade() -> None:
    op.create_index(
        "ix_flow_run_awaiting_slot",
        "flow_run",
        ["next_scheduled_start_time"],
        unique=False,
        postgresql_where=_WAITING,
        sqlite_where=_WAITING,
    )


def downgrade() -> None:
    op.drop_index("ix_flow_run_awaiting_slot", table_name="flow_run")
