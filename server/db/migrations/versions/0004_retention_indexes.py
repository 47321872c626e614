"""retention: indexes that find old logs and states by time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 17:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = ("flow_run_state", "task_run_state", "log")


def upgrade() -> None:
    for table in _TABLES:
        op.create_index(f"ix_{table}_timestamp", table, ["timestamp"], unique=False)


def downgrade() -> None:
    for table in _TABLES:
        op.drop_index(f"ix_{table}_timestamp", table_name=table)
