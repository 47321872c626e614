"""flow run write indexes: fewer and smaller indexes for each run written, one for leases

Every state a run takes rewrites its row and, the state type being indexed, adds an entry to
each of the run's indexes. Two of them cost more than they serve:

- the GIN index on ``flow_run.tags`` (PostgreSQL): lists by tag read ``flow_run_tag`` since
  0013, and nothing else filters runs by tags in SQL;
- the index on ``parent_task_run_id``, which held an entry for every run, though only a
  subflow has a parent: it now holds subflows alone, and still serves every lookup by parent
  (an equality on the parent implies it is not null).

And one index is added, as small: the PENDING runs that hold a lease, by id. The lease reaper
looks among them for expired leases every few seconds; without it, it read every PENDING
run's row, which on a large table is most of a second each time and evicts from the buffer
cache the pages that writes need.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_PARENT = "ix_flow_run_parent_task_run_id"
_SUBFLOWS = "ix_flow_run_subflow_parent_task_run_id"
_HAS_PARENT = sa.text("parent_task_run_id IS NOT NULL")
_LEASED = "ix_flow_run_pending_leased"
_PENDING_LEASED = sa.text("state_type = 2 AND lease_id IS NOT NULL")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
        return
    op.create_index(_SUBFLOWS, "flow_run", ["parent_task_run_id"], sqlite_where=_HAS_PARENT)
    op.drop_index(_PARENT, table_name="flow_run")
    op.create_index(_LEASED, "flow_run", ["id"], sqlite_where=_PENDING_LEASED)


def _upgrade_postgresql() -> None:
    """CONCURRENTLY, outside a transaction, as in 0010: a plain CREATE or DROP INDEX blocks
    writes to the runs for as long as it takes on a large table. The new index is built before
    the old one goes, so that lookups by parent always have one."""
    with op.get_context().autocommit_block():
        op.create_index(
            _SUBFLOWS,
            "flow_run",
            ["parent_task_run_id"],
            postgresql_where=_HAS_PARENT,
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.create_index(
            _LEASED,
            "flow_run",
            ["id"],
            postgresql_where=_PENDING_LEASED,
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        for name in (_PARENT, "ix_flow_run_tags"):
            op.drop_index(name, table_name="flow_run", postgresql_concurrently=True, if_exists=True)


def downgrade() -> None:
    op.drop_index(_LEASED, table_name="flow_run")
    op.create_index(_PARENT, "flow_run", ["parent_task_run_id"])
    op.drop_index(_SUBFLOWS, table_name="flow_run")
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_flow_run_tags",
            "flow_run",
            ["tags"],
            postgresql_using="gin",
            postgresql_ops={"tags": "jsonb_path_ops"},
        )
