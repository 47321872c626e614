"""flow run tags: a table of each run's tags, filled by a trigger, for lists by tag

A list filtered by a tag reads ``flow_run_tag`` by (tag, create_time, flow_run_id) newest
first and joins the runs, so that it stops after a page whatever the tag: the GIN index on
``flow_run.tags`` finds a rare tag's runs but must sort them all, and reading the newest runs
in order until a page of them carries the tag reads the whole table when they are old. An
insert trigger fills the table on both databases, whatever statement inserts the runs; the
existing runs' tags are copied once the trigger exists, so that no run is missed (on
PostgreSQL outside the trigger's transaction, which blocks writes to the runs until it ends).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from runplane.server.db.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE FUNCTION flow_run_tag_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO flow_run_tag (tag, create_time, flow_run_id)
    SELECT DISTINCT t.tag, n.create_time, n.id
    FROM new_runs AS n, jsonb_array_elements_text(n.tags) AS t(tag)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
"""
# One INSERT per statement, over every run it inserted: a batch of runs costs one more
# statement inside the server, and runs without tags add no row.
_PG_TRIGGER = """
CREATE TRIGGER flow_run_tag_insert AFTER INSERT ON flow_run
REFERENCING NEW TABLE AS new_runs
FOR EACH STATEMENT EXECUTE FUNCTION flow_run_tag_insert()
"""
_PG_COPY = """
INSERT INTO flow_run_tag (tag, create_time, flow_run_id)
SELECT DISTINCT t.tag, r.create_time, r.id
FROM flow_run AS r, jsonb_array_elements_text(r.tags) AS t(tag)
ON CONFLICT DO NOTHING
"""
_SQLITE_TRIGGER = """
CREATE TRIGGER flow_run_tag_insert AFTER INSERT ON flow_run
BEGIN
    INSERT OR IGNORE INTO flow_run_tag (tag, create_time, flow_run_id)
    SELECT value, NEW.create_time, NEW.id FROM json_each(NEW.tags);
END
"""
_SQLITE_COPY = """
INSERT OR IGNORE INTO flow_run_tag (tag, create_time, flow_run_id)
SELECT t.value, r.create_time, r.id FROM flow_run AS r, json_each(r.tags) AS t
"""


def upgrade() -> None:
    op.create_table(
        "flow_run_tag",
        sa.Column("tag", sa.String(256), nullable=False),
        sa.Column("create_time", UTCDateTime(timezone=True), nullable=False),
        sa.Column("flow_run_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_run_id"],
            ["flow_run.id"],
            name="fk_flow_run_tag_flow_run_id_flow_run",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tag", "create_time", "flow_run_id", name="pk_flow_run_tag"),
    )
    op.create_index("ix_flow_run_tag_flow_run_id", "flow_run_tag", ["flow_run_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
        _copy_existing_postgresql()
    else:
        op.execute(_SQLITE_TRIGGER)
        op.execute(_SQLITE_COPY)


def _copy_existing_postgresql() -> None:
    """Copies the tags of the runs already there, after the trigger is committed: creating
    it blocks writes to the runs until its transaction ends, and the copy of a large table
    must not run inside that. Runs inserted meanwhile are the trigger's (ON CONFLICT skips
    them). A run deleted between the copy's read and its insert fails the copy's foreign
    key: the copy is then made again, from a newer snapshot."""
    with op.get_context().autocommit_block():
        for attempt in range(_COPY_ATTEMPTS):
            try:
                op.execute(_PG_COPY)
                return
            except sa.exc.IntegrityError:
                if attempt == _COPY_ATTEMPTS - 1:
                    raise


_COPY_ATTEMPTS = 5


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER flow_run_tag_insert ON flow_run")
        op.execute("DROP FUNCTION flow_run_tag_insert()")
    else:
        op.execute("DROP TRIGGER flow_run_tag_insert")
    op.drop_table("flow_run_tag")
