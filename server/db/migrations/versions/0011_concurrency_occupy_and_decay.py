"""concurrency limits: several slots per lease, and slot decay for rate limits

A lease may hold several slots of each limit (``occupy``). A limit may free its slots over
time instead of on release (``slot_decay_per_second``); the slots it holds are kept as the
time when all of them will have decayed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from runplane.server.db.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("concurrency_limit") as batch:
        batch.add_column(
            sa.Column("slot_decay_per_second", sa.Float, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("decay_free_time", UTCDateTime, nullable=True))
    with op.batch_alter_table("concurrency_slot") as batch:
        batch.add_column(sa.Column("occupy", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("concurrency_slot") as batch:
        batch.drop_column("occupy")
    with op.batch_alter_table("concurrency_limit") as batch:
        batch.drop_column("decay_free_time")
        batch.drop_column("slot_decay_per_second")
