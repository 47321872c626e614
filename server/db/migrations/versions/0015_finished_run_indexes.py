"""finished runs: indexes that find old ended runs, and the artifacts of task runs of their own

Retention deletes runs that ended before its cutoff, oldest first: flow runs in a final state
by that state's time, and likewise task runs without a flow run. Partial indexes hold only
those, so that finding a batch reads it alone, and a run that has not ended costs them
nothing. The artifacts of task runs of their own, which no foreign key ties to them, are
found through an index too.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_FINAL = "state_type IN (4, 5, 6, 7)"  # COMPLETED, FAILED, CANCELLED, CRASHED
_OWN_FINAL = f"flow_run_id IS NULL AND {_FINAL}"
_INDEXES = (
    ("ix_flow_run_finished", "flow_run", "state_timestamp", _FINAL),
    ("ix_task_run_own_finished", "task_run", "state_timestamp", _OWN_FINAL),
    ("ix_artifact_own_task_run", "artifact", "task_run_id", "flow_run_id IS NULL"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
        return
    for name, table, column, where in _INDEXES:
        op.create_index(name, table, [column], sqlite_where=sa.text(where))


def _upgrade_postgresql() -> None:
    """Built CONCURRENTLY, as in 0010: a plain CREATE INDEX would stop every write to the runs
    while it reads the whole table."""
    with op.get_context().autocommit_block():
        for name, table, column, where in _INDEXES:
            op.create_index(
                name,
                table,
                [column],
                postgresql_where=sa.text(where),
                postgresql_concurrently=True,
                if_not_exists=True,
            )


def downgrade() -> None:
    for name, table, _, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
