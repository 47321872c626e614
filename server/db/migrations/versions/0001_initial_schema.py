"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 11:48:45.986687
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import runplane.server.db.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "concurrency_lease",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("holder_id", sa.String(length=256), nullable=False),
        sa.Column(
            "expire_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concurrency_lease")),
        sa.UniqueConstraint("request_id", name=op.f("uq_concurrency_lease_request_id")),
    )
    with op.batch_alter_table("concurrency_lease", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_concurrency_lease_expire_time"), ["expire_time"], unique=False
        )

    op.create_table(
        "concurrency_limit",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("limit", sa.Integer(), nullable=False),
        sa.Column(
            "create_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concurrency_limit")),
        sa.UniqueConstraint("name", name=op.f("uq_concurrency_limit_name")),
    )
    op.create_table(
        "flow",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "create_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow")),
        sa.UniqueConstraint("name", name=op.f("uq_flow_name")),
    )
    op.create_table(
        "work_pool",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.Column(
            "create_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_pool")),
        sa.UniqueConstraint("name", name=op.f("uq_work_pool_name")),
    )
    op.create_table(
        "concurrency_slot",
        sa.Column("lease_id", sa.Uuid(), nullable=False),
        sa.Column("limit_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lease_id"],
            ["concurrency_lease.id"],
            name=op.f("fk_concurrency_slot_lease_id_concurrency_lease"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["limit_id"],
            ["concurrency_limit.id"],
            name=op.f("fk_concurrency_slot_limit_id_concurrency_limit"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lease_id", "limit_id", name=op.f("pk_concurrency_slot")),
    )
    with op.batch_alter_table("concurrency_slot", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_concurrency_slot_limit_id"), ["limit_id"], unique=False
        )

    op.create_table(
        "deployment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("entrypoint", sa.String(length=1024), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("version", sa.String(length=256), server_default="", nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "parameter_schema",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("enforce_parameter_schema", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.Column("collision_strategy", sa.SmallInteger(), nullable=False),
        sa.Column("work_pool_name", sa.String(length=256), nullable=False),
        sa.Column("work_queue_name", sa.String(length=256), nullable=False),
        sa.Column(
            "job_variables",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "create_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "update_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flow.id"], name=op.f("fk_deployment_flow_id_flow"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment")),
        sa.UniqueConstraint("flow_id", "name", name=op.f("uq_deployment_flow_id_name")),
    )
    op.create_table(
        "flow_run",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=True),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "next_scheduled_start_time",
            runplane.server.db.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("idempotency_key", sa.String(length=512), nullable=True),
        sa.Column("parent_task_run_id", sa.Uuid(), nullable=True),
        sa.Column(
            "job_variables",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("work_pool_name", sa.String(length=256), nullable=True),
        sa.Column("work_queue_name", sa.String(length=256), nullable=True),
        sa.Column("flow_version", sa.String(length=256), nullable=True),
        sa.Column("attempt", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_id", sa.Uuid(), nullable=True),
        sa.Column(
            "lease_expire_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "heartbeat_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("task_report_sequence", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("state_id", sa.Uuid(), nullable=True),
        sa.Column("state_type", sa.SmallInteger(), nullable=True),
        sa.Column("state_name", sa.String(length=64), nullable=True),
        sa.Column(
            "state_timestamp", runplane.server.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("state_message", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "state_result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "state_details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("last_transition_id", sa.String(length=64), nullable=True),
        sa.Column("last_status", sa.SmallInteger(), nullable=True),
        sa.Column("last_reason", sa.Text(), nullable=True),
        sa.Column("run_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("start_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("total_run_time", sa.Float(), server_default="0", nullable=False),
        sa.Column(
            "expected_start_time",
            runplane.server.db.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("retries", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "retry_delays",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "create_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "update_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flow.id"], name=op.f("fk_flow_run_flow_id_flow"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_run")),
        sa.UniqueConstraint(
            "flow_id", "idempotency_key", name=op.f("uq_flow_run_flow_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_flow_run_create_time_id"), ["create_time", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_flow_run_deployment_id"), ["deployment_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_flow_run_flow_id"), ["flow_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_flow_run_parent_task_run_id"), ["parent_task_run_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_flow_run_state_type_next_scheduled_start_time"),
            ["state_type", "next_scheduled_start_time"],
            unique=False,
        )

    op.create_table(
        "work_queue",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("work_pool_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["work_pool_id"],
            ["work_pool.id"],
            name=op.f("fk_work_queue_work_pool_id_work_pool"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_queue")),
        sa.UniqueConstraint("work_pool_id", "name", name=op.f("uq_work_queue_work_pool_id_name")),
    )
    op.create_table(
        "deployment_schedule",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("catchup", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_deployment_schedule_deployment_id_deployment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_schedule")),
    )
    with op.batch_alter_table("deployment_schedule", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployment_schedule_deployment_id"), ["deployment_id"], unique=False
        )

    op.create_table(
        "flow_run_state",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("timestamp", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("flow_run_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_run_id"],
            ["flow_run.id"],
            name=op.f("fk_flow_run_state_flow_run_id_flow_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_run_state")),
    )
    with op.batch_alter_table("flow_run_state", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_flow_run_state_flow_run_id_timestamp"),
            ["flow_run_id", "timestamp"],
            unique=False,
        )

    op.create_table(
        "log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("flow_run_id", sa.Uuid(), nullable=False),
        sa.Column("task_run_id", sa.Uuid(), nullable=True),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("logger_name", sa.String(length=256), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("timestamp", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_run_id"],
            ["flow_run.id"],
            name=op.f("fk_log_flow_run_id_flow_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log")),
    )
    with op.batch_alter_table("log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_log_flow_run_id_timestamp"), ["flow_run_id", "timestamp"], unique=False
        )

    op.create_table(
        "task_run",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flow_run_id", sa.Uuid(), nullable=False),
        sa.Column("task_key", sa.String(length=512), nullable=False),
        sa.Column("dynamic_key", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("cache_key", sa.String(length=2000), nullable=True),
        sa.Column(
            "cache_expiration", runplane.server.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("task_version", sa.String(length=256), nullable=True),
        sa.Column(
            "inputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state_id", sa.Uuid(), nullable=True),
        sa.Column("state_type", sa.SmallInteger(), nullable=True),
        sa.Column("state_name", sa.String(length=64), nullable=True),
        sa.Column(
            "state_timestamp", runplane.server.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("state_message", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "state_result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "state_details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("last_transition_id", sa.String(length=64), nullable=True),
        sa.Column("last_status", sa.SmallInteger(), nullable=True),
        sa.Column("last_reason", sa.Text(), nullable=True),
        sa.Column("run_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("start_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("total_run_time", sa.Float(), server_default="0", nullable=False),
        sa.Column(
            "expected_start_time",
            runplane.server.db.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("retries", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "retry_delays",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "create_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "update_time", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["flow_run_id"],
            ["flow_run.id"],
            name=op.f("fk_task_run_flow_run_id_flow_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_run")),
        sa.UniqueConstraint(
            "flow_run_id",
            "task_key",
            "dynamic_key",
            name=op.f("uq_task_run_flow_run_id_task_key_dynamic_key"),
        ),
    )
    with op.batch_alter_table("task_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_run_cache_key"), ["cache_key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_task_run_create_time_id"), ["create_time", "id"], unique=False
        )

    op.create_table(
        "task_run_state",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("timestamp", runplane.server.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("task_run_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_run_id"],
            ["task_run.id"],
            name=op.f("fk_task_run_state_task_run_id_task_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_run_state")),
    )
    with op.batch_alter_table("task_run_state", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_task_run_state_task_run_id_timestamp"),
            ["task_run_id", "timestamp"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("task_run_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_run_state_task_run_id_timestamp"))

    op.drop_table("task_run_state")
    with op.batch_alter_table("task_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_run_create_time_id"))
        batch_op.drop_index(batch_op.f("ix_task_run_cache_key"))

    op.drop_table("task_run")
    with op.batch_alter_table("log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_flow_run_id_timestamp"))

    op.drop_table("log")
    with op.batch_alter_table("flow_run_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_run_state_flow_run_id_timestamp"))

    op.drop_table("flow_run_state")
    with op.batch_alter_table("deployment_schedule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_schedule_deployment_id"))

    op.drop_table("deployment_schedule")
    op.drop_table("work_queue")
    with op.batch_alter_table("flow_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_run_state_type_next_scheduled_start_time"))
        batch_op.drop_index(batch_op.f("ix_flow_run_parent_task_run_id"))
        batch_op.drop_index(batch_op.f("ix_flow_run_flow_id"))
        batch_op.drop_index(batch_op.f("ix_flow_run_deployment_id"))
        batch_op.drop_index(batch_op.f("ix_flow_run_create_time_id"))

    op.drop_table("flow_run")
    op.drop_table("deployment")
    with op.batch_alter_table("concurrency_slot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_concurrency_slot_limit_id"))

    op.drop_table("concurrency_slot")
    op.drop_table("work_pool")
    op.drop_table("flow")
    op.drop_table("concurrency_limit")
    with op.batch_alter_table("concurrency_lease", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_concurrency_lease_expire_time"))

    op.drop_table("concurrency_lease")
