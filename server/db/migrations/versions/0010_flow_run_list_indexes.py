"""flow run lists: indexes that serve each list filter in the lists' order

Lists of flow runs are newest first by (create_time, id). A list filtered by one flow,
deployment, state type or work pool reads an index that leads with that column and goes on
with (create_time, id): it reads the page's rows in order and stops. The flow's and the
deployment's replace the single-column indexes they extend. An index on the expected start
time finds the few runs of a narrow time range, and on PostgreSQL a GIN index the runs that
carry a tag.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 13:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ORDERED = ("flow_id", "deployment_id", "state_type", "work_pool_name")
_EXTENDED = ("flow_id", "deployment_id")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
        return
    for column in _ORDERED:
        op.create_index(
            f"ix_flow_run_{column}_create_time_id", "flow_run", [column, "create_time", "id"]
        )
    for column in _EXTENDED:
        op.drop_index(f"ix_flow_run_{column}", table_name="flow_run")
    op.create_index("ix_flow_run_expected_start_time", "flow_run", ["expected_start_time"])


def _upgrade_postgresql() -> None:
    """The same indexes, built CONCURRENTLY: a plain CREATE INDEX blocks every write to the
    runs while it reads the whole table, which on a large one is minutes of a stopped server.
    No transaction may enclose them; ``IF NOT EXISTS`` lets a start interrupted halfway
    finish the rest."""
    with op.get_context().autocommit_block():
        for column in _ORDERED:
            op.create_index(
                f"ix_flow_run_{column}_create_time_id",
                "flow_run",
                [column, "create_time", "id"],
                postgresql_concurrently=True,
                if_not_exists=True,
            )
        for column in _EXTENDED:
            op.drop_index(
                f"ix_flow_run_{column}",
                table_name="flow_run",
                postgresql_concurrently=True,
                if_exists=True,
            )
        op.create_index(
            "ix_flow_run_expected_start_time",
            "flow_run",
            ["expected_start_time"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.create_index(
            "ix_flow_run_tags",
            "flow_run",
            ["tags"],
            postgresql_using="gin",
            postgresql_ops={"tags": "jsonb_path_ops"},
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_flow_run_tags", table_name="flow_run")
    op.drop_index("ix_flow_run_expected_start_time", table_name="flow_run")
    for column in _EXTENDED:
        op.create_index(f"ix_flow_run_{column}", "flow_run", [column])
    for column in _ORDERED:
        op.drop_index(f"ix_flow_run_{column}_create_time_id", table_name="flow_run")
