"""The schema, as SQLAlchemy Core tables. Alembic migrations must produce exactly this."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from runplane.server.db.types import JSON, FreeText, UTCDateTime
from runplane.server.orchestration.states import TERMINAL_TYPES, StateType

DEFAULT_RUNTIME = "python"
"""The runtime of deployments that name none, and of runs without a deployment."""

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


_POSTGRESQL_OPTIONS: list[tuple[sa.Index, dict[str, Any]]] = []


def _on_postgresql(index: sa.Index, **options: Any) -> sa.Index:
    """``index``, with its PostgreSQL options (``postgresql_where=...``) kept aside for
    `attach_postgresql_options`: SQLAlchemy checks such options by loading the PostgreSQL
    dialect, which a server on SQLite need not load at all."""
    _POSTGRESQL_OPTIONS.append((index, options))
    return index


@functools.cache
def attach_postgresql_options() -> None:
    """Gives the indexes their PostgreSQL options: called before the tables meet a
    PostgreSQL database (they only matter to its DDL and to comparing its schema)."""
    for index, options in _POSTGRESQL_OPTIONS:
        index.dialect_kwargs.update(options)


def _state_columns() -> list[sa.Column[Any]]:
    """The current state, denormalised onto a run row."""
    return [
        sa.Column("state_id", sa.Uuid, nullable=True),
        sa.Column("state_type", sa.SmallInteger, nullable=True),
        sa.Column("state_name", sa.String(64), nullable=True),
        sa.Column("state_timestamp", UTCDateTime, nullable=True),
        sa.Column("state_message", FreeText, nullable=False, server_default=""),
        sa.Column("state_result", JSON, nullable=True),
        sa.Column("state_details", JSON, nullable=True),
        # The last applied proposal, so that a repeat is answered exactly as before.
        sa.Column("last_transition_id", sa.String(64), nullable=True),
        sa.Column("last_status", sa.SmallInteger, nullable=True),
        sa.Column("last_reason", FreeText, nullable=True),
    ]


def _run_columns() -> list[sa.Column[Any]]:
    """Bookkeeping shared by flow runs and task runs."""
    return [
        sa.Column("run_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("start_time", UTCDateTime, nullable=True),
        sa.Column("end_time", UTCDateTime, nullable=True),
        sa.Column("total_run_time", sa.Float, nullable=False, server_default="0"),
        sa.Column("expected_start_time", UTCDateTime, nullable=True),
        sa.Column("retries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retry_delays", JSON, nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("create_time", UTCDateTime, nullable=False),
        sa.Column("update_time", UTCDateTime, nullable=False),
    ]


def _state_history_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("type", sa.SmallInteger, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("timestamp", UTCDateTime, nullable=False),
        sa.Column("message", FreeText, nullable=False, server_default=""),
        sa.Column("result", JSON, nullable=True),
        sa.Column("details", JSON, nullable=True),
    ]


flow = sa.Table(
    "flow",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("tags", JSON, nullable=False),
    sa.Column("create_time", UTCDateTime, nullable=False),
)

flow_run = sa.Table(
    "flow_run",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("flow_id", sa.Uuid, sa.ForeignKey("flow.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("deployment_id", sa.Uuid, nullable=True),
    sa.Column("parameters", JSON, nullable=False),
    sa.Column("next_scheduled_start_time", UTCDateTime, nullable=True),
    sa.Column("idempotency_key", sa.String(512), nullable=True),
    sa.Column("parent_task_run_id", sa.Uuid, nullable=True),
    sa.Column("job_variables", JSON, nullable=False),
    sa.Column("work_pool_name", sa.String(256), nullable=True),
    sa.Column("work_queue_name", sa.String(256), nullable=True),
    sa.Column("flow_version", sa.String(256), nullable=True),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_id", sa.Uuid, nullable=True),
    sa.Column("lease_expire_time", UTCDateTime, nullable=True),
    sa.Column("heartbeat_time", UTCDateTime, nullable=True),
    # The runner and work-stream subscription that hold the run's lease.
    sa.Column("runner_id", sa.Uuid, nullable=True),
    sa.Column("runner_session_id", sa.Uuid, nullable=True),
    # Highest ReportTaskRuns sequence applied for this run.
    sa.Column("task_report_sequence", sa.BigInteger, nullable=False, server_default="0"),
    # Copied from the deployment: only runners of this runtime are handed the run.
    sa.Column("runtime", sa.String(63), nullable=False, server_default=DEFAULT_RUNTIME),
    *_state_columns(),
    *_run_columns(),
    sa.UniqueConstraint("flow_id", "idempotency_key"),
    sa.Index(None, "state_type", "next_scheduled_start_time"),
    # Lists are served newest first by (create_time, id): unfiltered from this index, and
    # filtered by one flow, deployment, state type or work pool from the index that leads
    # with it, so that a page reads its rows in order and stops after them. The flow's and
    # deployment's also serve every other lookup by flow or deployment.
    sa.Index(None, "create_time", "id"),
    sa.Index(None, "flow_id", "create_time", "id"),
    sa.Index(None, "deployment_id", "create_time", "id"),
    sa.Index(None, "state_type", "create_time", "id"),
    sa.Index(None, "work_pool_name", "create_time", "id"),
    # A time range too narrow to find by reading the newest runs: its few runs, then sorted.
    sa.Index(None, "expected_start_time"),
    sa.Index(None, "work_pool_name", "state_type", "next_scheduled_start_time"),
    # The claim's: a runner's due runs, of its runtimes only, earliest first.
    sa.Index(
        "ix_flow_run_claim_by_runtime",
        "work_pool_name",
        "state_type",
        "runtime",
        "next_scheduled_start_time",
    ),
)

# Runs rescheduled to wait for a slot of their deployment's concurrency limit. They are looked
# for whenever a slot frees, usually to find none: a partial index makes that free. Literals,
# not parameters, so that a planner can match a query's condition to the index's.
AWAITING_SLOT = sa.and_(
    flow_run.c.state_type == sa.literal_column(str(StateType.SCHEDULED.value)),
    flow_run.c.state_name == sa.literal_column("'AwaitingConcurrencySlot'"),
)
_on_postgresql(
    sa.Index(
        "ix_flow_run_awaiting_slot",
        flow_run.c.next_scheduled_start_time,
        sqlite_where=AWAITING_SLOT,
    ),
    postgresql_where=AWAITING_SLOT,
)

# The final state types, as literals like AWAITING_SLOT's.
_FINAL_TYPES: list[sa.ColumnElement[Any]] = [
    sa.literal_column(str(t.value)) for t in sorted(TERMINAL_TYPES)
]

# Runs that ended, by when (their final state's time): retention deletes the oldest first,
# reading only them however many runs are waiting or running.
FINISHED = flow_run.c.state_type.in_(_FINAL_TYPES)
_on_postgresql(
    sa.Index("ix_flow_run_finished", flow_run.c.state_timestamp, sqlite_where=FINISHED),
    postgresql_where=FINISHED,
)

# Runs handed to a runner and not yet started: the lease reaper looks among them for expired
# leases every few seconds, and without this index read every PENDING run's row to find them.
# Keyed by id, not by the lease's expiry, which every heartbeat moves: an indexed column that
# changes makes each heartbeat write a new entry in every index of the run, where now it
# rewrites the row in place. Literals, as for AWAITING_SLOT.
PENDING_LEASED = sa.and_(
    flow_run.c.state_type == sa.literal_column(str(StateType.PENDING.value)),
    flow_run.c.lease_id.isnot(None),
)
_on_postgresql(
    sa.Index("ix_flow_run_pending_leased", flow_run.c.id, sqlite_where=PENDING_LEASED),
    postgresql_where=PENDING_LEASED,
)

# A subflow's run, by the task run that started it. Only subflows have a parent: the index
# holds them alone, and costs nothing to the other runs' writes (an equality on the parent
# implies that it is not null, so lookups by parent use it).
HAS_PARENT = flow_run.c.parent_task_run_id.isnot(None)
_on_postgresql(
    sa.Index(
        "ix_flow_run_subflow_parent_task_run_id",
        flow_run.c.parent_task_run_id,
        sqlite_where=HAS_PARENT,
    ),
    postgresql_where=HAS_PARENT,
)

# Each tag of each run, with the run's create time: a list filtered by a tag reads this
# table's key for that tag newest first, and stops after a page, however rare the tag or old
# its runs. A database trigger fills it as runs are inserted (see migration 0013); run tags
# never change, and the run's delete takes its rows along.
flow_run_tag = sa.Table(
    "flow_run_tag",
    metadata,
    sa.Column("tag", sa.String(256), primary_key=True),
    sa.Column("create_time", UTCDateTime, primary_key=True),
    sa.Column(
        "flow_run_id",
        sa.Uuid,
        sa.ForeignKey("flow_run.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Index(None, "flow_run_id"),
)

flow_run_state = sa.Table(
    "flow_run_state",
    metadata,
    *_state_history_columns(),
    sa.Column(
        "flow_run_id", sa.Uuid, sa.ForeignKey("flow_run.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Index(None, "flow_run_id", "timestamp"),
    sa.Index(None, "timestamp"),  # for retention
)

task_run = sa.Table(
    "task_run",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    # NULL for a task run of its own: called outside any flow, or sent to task workers.
    sa.Column(
        "flow_run_id", sa.Uuid, sa.ForeignKey("flow_run.id", ondelete="CASCADE"), nullable=True
    ),
    sa.Column("task_key", sa.String(512), nullable=False),
    sa.Column("dynamic_key", sa.String(512), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("cache_key", sa.String(2000), nullable=True),
    sa.Column("cache_expiration", UTCDateTime, nullable=True),
    sa.Column("task_version", sa.String(256), nullable=True),
    sa.Column("inputs", JSON, nullable=False),
    *_state_columns(),
    *_run_columns(),
    # Background runs (Task.delay): their arguments, and the task worker's lease on them.
    sa.Column("background", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("parameters", JSON, nullable=True),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_id", sa.Uuid, nullable=True),
    sa.Column("lease_expire_time", UTCDateTime, nullable=True),
    sa.Column("worker_id", sa.Uuid, nullable=True),
    sa.UniqueConstraint("flow_run_id", "task_key", "dynamic_key"),
    sa.Index(None, "cache_key"),
    sa.Index(None, "create_time", "id"),
    # Background runs only: the task runs of flows, nearly all of them, are written with
    # none of these entries, so that task workers cost a flow's tasks nothing.
    # The claim's: a task worker's waiting runs of its task keys, oldest first.
    _on_postgresql(
        sa.Index(
            "ix_task_run_claim",
            "task_key",
            "state_type",
            "create_time",
            sqlite_where=sa.text("background = 1"),
        ),
        postgresql_where=sa.text("background = true"),
    ),
    # A worker's held runs, counted against its slots, and the lease reaper's.
    _on_postgresql(
        sa.Index(
            "ix_task_run_worker_id", "worker_id", sqlite_where=sa.text("worker_id IS NOT NULL")
        ),
        postgresql_where=sa.text("worker_id IS NOT NULL"),
    ),
    _on_postgresql(
        sa.Index(
            "ix_task_run_lease_expire_time",
            "lease_expire_time",
            sqlite_where=sa.text("lease_expire_time IS NOT NULL"),
        ),
        postgresql_where=sa.text("lease_expire_time IS NOT NULL"),
    ),
)

# Task runs of their own (no flow run) that ended, by when: retention's, as for flow runs.
OWN_TASK_RUN_FINISHED = sa.and_(
    task_run.c.flow_run_id.is_(None),
    task_run.c.state_type.in_(_FINAL_TYPES),
)
_on_postgresql(
    sa.Index(
        "ix_task_run_own_finished", task_run.c.state_timestamp, sqlite_where=OWN_TASK_RUN_FINISHED
    ),
    postgresql_where=OWN_TASK_RUN_FINISHED,
)

task_run_state = sa.Table(
    "task_run_state",
    metadata,
    *_state_history_columns(),
    sa.Column(
        "task_run_id", sa.Uuid, sa.ForeignKey("task_run.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Index(None, "task_run_id", "timestamp"),
    sa.Index(None, "timestamp"),  # for retention
)

log = sa.Table(
    "log",
    metadata,
    # Autoincrementing, so that records keep the order they were written in.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    # NULL for a line of a task run of its own (no flow run): task_run_id says whose.
    sa.Column(
        "flow_run_id", sa.Uuid, sa.ForeignKey("flow_run.id", ondelete="CASCADE"), nullable=True
    ),
    sa.Column("task_run_id", sa.Uuid, nullable=True),
    sa.Column("level", sa.SmallInteger, nullable=False),
    sa.Column("logger_name", sa.String(256), nullable=False),
    sa.Column("message", FreeText, nullable=False),
    sa.Column("timestamp", UTCDateTime, nullable=False),
    sa.Index(None, "flow_run_id", "timestamp"),
    sa.Index(None, "timestamp"),  # for retention
)

# The lines of task runs of their own, listed by task run: the few rows without a flow run.
OWN_TASK_RUN_LOG = log.c.flow_run_id.is_(None)
_on_postgresql(
    sa.Index("ix_log_own_task_run", log.c.task_run_id, log.c.id, sqlite_where=OWN_TASK_RUN_LOG),
    postgresql_where=OWN_TASK_RUN_LOG,
)

# WriteLogs batch ids already applied, so that a retried call stores nothing twice. Keyed by
# the batch's first flow run: deleted with it, and pruned with the logs by retention.
log_batch = sa.Table(
    "log_batch",
    metadata,
    sa.Column(
        "flow_run_id", sa.Uuid, sa.ForeignKey("flow_run.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("batch_id", sa.Uuid, nullable=False),
    sa.Column("written_count", sa.Integer, nullable=False),
    sa.Column("create_time", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("flow_run_id", "batch_id"),
    sa.Index(None, "create_time"),  # for retention
)

# The same, for batches whose lines are all of task runs of their own (no flow run).
task_log_batch = sa.Table(
    "task_log_batch",
    metadata,
    sa.Column(
        "task_run_id", sa.Uuid, sa.ForeignKey("task_run.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("batch_id", sa.Uuid, nullable=False),
    sa.Column("written_count", sa.Integer, nullable=False),
    sa.Column("create_time", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("task_run_id", "batch_id"),
    sa.Index(None, "create_time"),  # for retention
)

deployment = sa.Table(
    "deployment",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("flow_id", sa.Uuid, sa.ForeignKey("flow.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("entrypoint", sa.String(1024), nullable=False),
    sa.Column("description", FreeText, nullable=False, server_default=""),
    sa.Column("version", sa.String(256), nullable=False, server_default=""),
    sa.Column("tags", JSON, nullable=False),
    sa.Column("parameters", JSON, nullable=False),
    sa.Column("parameter_schema", JSON, nullable=False),
    sa.Column("enforce_parameter_schema", sa.Boolean, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("concurrency_limit", sa.Integer, nullable=True),
    sa.Column("collision_strategy", sa.SmallInteger, nullable=False),
    sa.Column("work_pool_name", sa.String(256), nullable=False),
    sa.Column("work_queue_name", sa.String(256), nullable=False),
    sa.Column("job_variables", JSON, nullable=False),
    # Which runtime (python, node, ...) runs the flow: its runs go to runners declaring it.
    sa.Column("runtime", sa.String(63), nullable=False, server_default=DEFAULT_RUNTIME),
    # The retry policy copied onto every run the deployment creates.
    sa.Column("retries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("retry_delays", JSON, nullable=False, server_default=sa.text("'[]'")),
    sa.Column("create_time", UTCDateTime, nullable=False),
    sa.Column("update_time", UTCDateTime, nullable=False),
    sa.UniqueConstraint("flow_id", "name"),
)

deployment_schedule = sa.Table(
    "deployment_schedule",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "deployment_id",
        sa.Uuid,
        sa.ForeignKey("deployment.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("parameters", JSON, nullable=False),
    sa.Column("catchup", sa.SmallInteger, nullable=False),
    # "cron", "interval" or "rrule", with the schedule's fields in spec.
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("spec", JSON, nullable=False),
    sa.Index(None, "deployment_id"),
)

work_pool = sa.Table(
    "work_pool",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("description", FreeText, nullable=False, server_default=""),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("concurrency_limit", sa.Integer, nullable=True),
    sa.Column("create_time", UTCDateTime, nullable=False),
)

work_queue = sa.Table(
    "work_queue",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "work_pool_id", sa.Uuid, sa.ForeignKey("work_pool.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("concurrency_limit", sa.Integer, nullable=True),
    sa.UniqueConstraint("work_pool_id", "name"),
)

artifact = sa.Table(
    "artifact",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("key", sa.String(255), nullable=True),
    sa.Column("type", sa.SmallInteger, nullable=False),
    sa.Column("data", FreeText, nullable=False),
    sa.Column("description", FreeText, nullable=False, server_default=""),
    sa.Column(
        "flow_run_id", sa.Uuid, sa.ForeignKey("flow_run.id", ondelete="CASCADE"), nullable=True
    ),
    # No foreign key: task runs are reported in batches and may not be stored yet.
    sa.Column("task_run_id", sa.Uuid, nullable=True),
    sa.Column("create_time", UTCDateTime, nullable=False),
    sa.Index("ix_artifact_key_create_time", "key", "create_time"),
    sa.Index("ix_artifact_flow_run_id", "flow_run_id"),
)

# The artifacts of task runs of their own, deleted with them: the few rows without a flow run
# (the others go with their flow run's delete).
OWN_TASK_RUN_ARTIFACT = artifact.c.flow_run_id.is_(None)
_on_postgresql(
    sa.Index(
        "ix_artifact_own_task_run", artifact.c.task_run_id, sqlite_where=OWN_TASK_RUN_ARTIFACT
    ),
    postgresql_where=OWN_TASK_RUN_ARTIFACT,
)

variable = sa.Table(
    "variable",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("value", JSON, nullable=False),  # JSON null is stored as 'null', not SQL NULL
    sa.Column("tags", JSON, nullable=False),
    sa.Column("create_time", UTCDateTime, nullable=False),
    sa.Column("update_time", UTCDateTime, nullable=False),
)

concurrency_limit = sa.Table(
    "concurrency_limit",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("limit", sa.Integer, nullable=False),
    sa.Column("create_time", UTCDateTime, nullable=False),
    # A rate limit: slots taken are not held by leases but freed at this rate.
    sa.Column("slot_decay_per_second", sa.Float, nullable=False, server_default="0"),
    # When every slot taken of a decaying limit will have decayed: the slots it holds now are
    # (decay_free_time - now) * slot_decay_per_second. One time instead of a count, so that
    # reading the limit never writes it.
    sa.Column("decay_free_time", UTCDateTime, nullable=True),
)

concurrency_lease = sa.Table(
    "concurrency_lease",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("request_id", sa.String(64), nullable=True, unique=True),
    sa.Column("holder_id", sa.String(256), nullable=False),
    sa.Column("expire_time", UTCDateTime, nullable=False),
    sa.Index(None, "expire_time"),
)

concurrency_slot = sa.Table(
    "concurrency_slot",
    metadata,
    sa.Column(
        "lease_id",
        sa.Uuid,
        sa.ForeignKey("concurrency_lease.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "limit_id",
        sa.Uuid,
        sa.ForeignKey("concurrency_limit.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # How many slots of the limit the lease holds.
    sa.Column("occupy", sa.Integer, nullable=False, server_default="1"),
    sa.Index(None, "limit_id"),
)
