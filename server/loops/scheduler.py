"""The scheduler: keeps each active schedule of each unpaused deployment created ahead.

Each schedule gets runs for at least ``schedule_min_runs`` fire times and at least
``schedule_min_horizon`` seconds ahead, never more than ``schedule_max_runs`` runs or
``schedule_max_horizon`` seconds ahead. Fire times that passed while nothing scheduled them
(an outage longer than the horizon) follow the schedule's catch-up policy, and so do runs
created ahead whose time passed more than ``late_after`` seconds ago without their starting
(an outage shorter than the horizon, or no runner): ``skip_missed`` cancels them all and
``latest_only`` all but the newest. Missed fire times are counted from the latest due run
that was not cancelled, and every fire time without a run gets one, also the ones before a
later run (resuming a paused deployment whose run ahead was cancelled); a fire time that has
a run, in any state, never gets a second.

A deployment is scheduled under its row lock; a deployment being changed is skipped, since
the change reschedules it in its own transaction (:func:`reschedule_deployment`).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from runplane.server.clock import Clock
from runplane.server.db import auto_scheduled, deployments, scheduled_runs
from runplane.server.db.deployments import DeploymentRecord, ScheduleRecord
from runplane.server.db.engine import Database
from runplane.server.db.held_runs import HeldRun
from runplane.server.delivery.transitions import propose
from runplane.server.orchestration import StateSpec, StateType
from runplane.server.orchestration import deployments as deployment_rules
from runplane.server.orchestration.schedule_times import (
    Schedule,
    definition_hash,
    latest_at_or_before,
    times_after,
)
from runplane.server.settings import ServerSettings
from runplane.server.transitions.stored_states import scheduled_details

logger = logging.getLogger(__name__)

LATEST_ONLY, SKIP_MISSED = 2, 3  # runplane.v1.CatchupPolicy numbers; others mean ALL
_TICK = timedelta(microseconds=1)
_NEVER = datetime.min.replace(tzinfo=UTC)
_PAGE = 100


def fire_times(
    schedule: Schedule,
    catchup: int,
    last: datetime | None,
    now: datetime,
    settings: ServerSettings,
    existing: int = 0,
) -> list[datetime]:
    """The times to create runs for: missed ones by the catch-up policy, then the ones ahead.

    ``existing`` fire times after ``last`` have runs already: the missed ones looked at grow
    by that many, so that runs that exist never use up the room for the ones missing.
    """
    missed: list[datetime] = []
    if last is not None and last < now - _TICK:
        if catchup == LATEST_ONLY:
            latest = latest_at_or_before(schedule, now - _TICK, last)
            missed = [latest] if latest is not None else []
        elif catchup != SKIP_MISSED:
            limit = settings.schedule_max_runs + existing
            missed = times_after(schedule, last, now - _TICK, limit)
    until = now + timedelta(seconds=settings.schedule_max_horizon)
    ahead = times_after(schedule, now - _TICK, until, settings.schedule_max_runs)
    wanted = now + timedelta(seconds=settings.schedule_min_horizon)
    kept = [t for i, t in enumerate(ahead) if i < settings.schedule_min_runs or t <= wanted]
    return missed + kept


def _new_run(
    deployment: DeploymentRecord, schedule: ScheduleRecord, key: str, time: datetime
) -> scheduled_runs.NewScheduledRun:
    run_id = uuid.uuid4()
    return scheduled_runs.NewScheduledRun(
        id=run_id,
        flow_id=deployment.flow_id,
        name=deployment_rules.run_name(deployment.name, run_id.hex),
        deployment_id=deployment.id,
        parameters=deployment_rules.merge_parameters(deployment.parameters, schedule.parameters),
        tags=deployment_rules.union_tags(deployment.tags, ["auto-scheduled"]),
        idempotency_key=key,
        job_variables=dict(deployment.job_variables),
        work_pool_name=deployment.work_pool_name,
        work_queue_name=deployment.work_queue_name,
        flow_version=deployment.version or None,
        retries=deployment.retries,
        retry_delays=list(deployment.retry_delays),
        scheduled_time=time,
        runtime=deployment.runtime,
    )


async def schedule_deployment(
    conn: AsyncConnection, deployment: DeploymentRecord, now: datetime, settings: ServerSettings
) -> int:
    """Creates the runs the deployment's active schedules are missing; how many."""
    if deployment.paused:
        return 0
    created = 0
    for record in deployment.schedules:
        if record.active:
            created += await _fill_schedule(conn, deployment, record, now, settings)
    return created


async def _fill_schedule(
    conn: AsyncConnection,
    deployment: DeploymentRecord,
    record: ScheduleRecord,
    now: datetime,
    settings: ServerSettings,
) -> int:
    """Creates a run for each fire time of one schedule that has none; how many."""
    schedule = Schedule(record.kind, record.spec, deployment.create_time)
    digest = definition_hash(record.kind, record.spec, record.parameters)
    last = await auto_scheduled.missed_since(conn, deployment.id, digest, now)
    # Every fire time without a run gets one, also one before a later run that a pause left
    # (a cancelled one); the unique key makes a racing server create it only once.
    after = now - _TICK if last is None else min(last, now - _TICK)
    existing = await auto_scheduled.existing_keys(conn, deployment.id, digest, after)
    created = 0
    for time in fire_times(schedule, record.catchup, last, now, settings, len(existing)):
        key = auto_scheduled.run_key(deployment.id, digest, time)
        if key in existing:
            continue
        run = _new_run(deployment, record, key, time)
        if await scheduled_runs.insert(conn, run, scheduled_details(time), now):
            created += 1
    await _skip_missed(conn, deployment.id, digest, record.catchup, now, settings)
    return created


async def _skip_missed(
    conn: AsyncConnection,
    deployment_id: uuid.UUID,
    digest: str,
    catchup: int,
    now: datetime,
    settings: ServerSettings,
) -> None:
    if catchup not in (LATEST_ONLY, SKIP_MISSED):
        return
    before = now - timedelta(seconds=settings.late_after)
    missed = await auto_scheduled.lock_missed(conn, deployment_id, digest, before)
    if catchup == LATEST_ONLY:
        missed = sorted(missed, key=_scheduled_time)[:-1]
    policy = "latest_only" if catchup == LATEST_ONLY else "skip_missed"
    message = f"missed its time; the schedule's catch-up policy is {policy}"
    for run in missed:
        await propose(conn, run, StateSpec(StateType.CANCELLED, message=message), now, force=True)


def _scheduled_time(run: HeldRun) -> datetime:
    return run.times.next_scheduled_start_time or run.times.expected_start_time or _NEVER


async def reschedule_deployment(
    conn: AsyncConnection, deployment_id: uuid.UUID, now: datetime, settings: ServerSettings
) -> DeploymentRecord | None:
    """After a deployment changed, in the same transaction: replaces its schedule-created
    runs that have not started with runs of its current schedules and settings."""
    await auto_scheduled.delete_future(conn, deployment_id, now)
    record = await deployments.get(conn, deployment_id)
    if record is not None:
        await schedule_deployment(conn, record, now, settings)
    return record


class Scheduler:
    def __init__(self, database: Database, clock: Clock, settings: ServerSettings) -> None:
        self._db = database
        self._clock = clock
        self._settings = settings

    async def run_once(self) -> set[str]:
        """One pass over every scheduled deployment; the pools that got new runs."""
        pools: set[str] = set()
        after: uuid.UUID | None = None
        while True:
            async with self._db.read() as conn:
                ids = await auto_scheduled.scheduled_deployment_ids(conn, after, _PAGE)
            for deployment_id in ids:
                pool = await self._schedule_one(deployment_id)
                if pool is not None:
                    pools.add(pool)
            if len(ids) < _PAGE:
                return pools
            after = ids[-1]

    async def _schedule_one(self, deployment_id: uuid.UUID) -> str | None:
        now = self._clock.now()
        async with self._db.write() as conn:
            if not await auto_scheduled.lock_deployment(conn, deployment_id):
                return None  # being changed right now: the change reschedules it
            record = await deployments.get(conn, deployment_id)
            if record is None:
                return None
            created = await schedule_deployment(conn, record, now, self._settings)
        return record.work_pool_name if created else None
