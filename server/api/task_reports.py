"""ReportTaskRuns: client-orchestrated task-run changes, applied in order and exactly once.

A flow run's updates carry consecutive sequence numbers. One transaction locks the flow run,
skips what was already applied and refuses a gap. Each task run's updates are then folded in
order in memory (the same bookkeeping as one-by-one writes), and the batch is written with a
constant number of statements however many updates it holds: one executemany INSERT of the
new task runs, already carrying their last state, one of all state rows, one UPDATE
executemany for task runs of earlier reports, and the flow run's new high-water mark.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runplane.server.api.errors import invalid_argument, not_found
from runplane.server.api.states import parse_state
from runplane.server.api.task_run_messages import parse_spec
from runplane.server.api.validation import parse_uuid
from runplane.server.db import task_reports, task_runs
from runplane.server.db.flow_runs import Connection
from runplane.server.db.run_records import LockedRun, RunTimesRecord, StateRecord, StateWrite
from runplane.server.db.task_runs import NewTaskRun
from runplane.server.orchestration import OrchestrationStatus
from runplane.server.transitions.state_writes import outcome, state_write
from runplane.server.transitions.stored_states import ProposedState
from runplane.server.transitions.task_runs import cache_entry
from runplane.v1 import task_runs_pb2

MAX_UPDATES = 10_000

_Cache = tuple[str | None, datetime | None]


@dataclass(frozen=True, slots=True)
class Update:
    index: int
    sequence: int
    task_run_id: uuid.UUID
    create: NewTaskRun | None
    state: ProposedState | None


def _parse_update(
    index: int, flow_run_id: uuid.UUID, update: task_runs_pb2.TaskRunUpdate
) -> Update:
    name = f"updates[{index}]"
    if update.sequence < 1:
        raise invalid_argument(f"{name}.sequence", "must be at least 1")
    task_run_id = parse_uuid(f"{name}.task_run_id", update.task_run_id)
    create = None
    if update.HasField("create"):
        create = parse_spec(f"{name}.create", update.create, flow_run_id)
        if update.create.task_run_id and create.id != task_run_id:
            raise invalid_argument(f"{name}.create.task_run_id", "differs from the update's")
        create = dataclasses.replace(create, id=task_run_id)
    state = parse_state(f"{name}.state", update.state) if update.HasField("state") else None
    if create is None and state is None:
        raise invalid_argument(name, "needs a create, a state, or both")
    return Update(index, update.sequence, task_run_id, create, state)


def parse_updates(
    flow_run_id: uuid.UUID, updates: Sequence[task_runs_pb2.TaskRunUpdate]
) -> list[Update]:
    """The validated updates in ascending sequence order."""
    if len(updates) > MAX_UPDATES:
        raise invalid_argument("updates", f"at most {MAX_UPDATES} updates per call")
    parsed = sorted(
        (_parse_update(i, flow_run_id, u) for i, u in enumerate(updates)),
        key=lambda u: u.sequence,
    )
    for before, after in itertools.pairwise(parsed):
        if before.sequence == after.sequence:
            raise invalid_argument(f"updates[{after.index}].sequence", "is repeated")
    return parsed


def _check_contiguous(updates: Sequence[Update], applied: int) -> None:
    expected = applied + 1
    for update in updates:
        if update.sequence != expected:
            raise invalid_argument(
                f"updates[{update.index}].sequence",
                f"expected sequence {expected}, got {update.sequence}",
            )
        expected += 1


async def apply(
    conn: Connection, flow_run_id: uuid.UUID, updates: Sequence[Update], now: datetime
) -> int:
    """Applies the updates not applied before; answers the highest applied sequence."""
    applied = await task_reports.lock_sequence(conn, flow_run_id)
    if applied is None:
        raise not_found("flow run", flow_run_id)
    pending = [u for u in updates if u.sequence > applied]
    _check_contiguous(pending, applied)
    if not pending:
        return applied
    creates = {u.task_run_id: u.create for u in pending if u.create is not None}
    await _write(conn, flow_run_id, creates, [u for u in pending if u.state], now)
    highest = pending[-1].sequence
    await task_reports.set_sequence(conn, flow_run_id, highest)
    return highest


async def _write(
    conn: Connection,
    flow_run_id: uuid.UUID,
    creates: dict[uuid.UUID, NewTaskRun],
    updates: Sequence[Update],
    now: datetime,
) -> None:
    """Folds each run's states in order in memory, then writes it all in a few statements.

    New runs are inserted with their last state already in their columns, so only runs of
    earlier reports need an UPDATE. A new run that turns out to exist (its id or its keys
    taken) is folded again from its stored row.
    """
    earlier = sorted({u.task_run_id for u in updates} - creates.keys())
    runs, _ = await _load(conn, flow_run_id, earlier, {})
    runs.update({run_id: _blank(create) for run_id, create in creates.items()})
    history, final = _fold(updates, runs, {}, now)
    inserted = await task_reports.insert_runs(conn, list(creates.values()), final, now)
    if len(inserted) < len(creates):
        taken = {i: c for i, c in creates.items() if i not in inserted}
        runs, aliases = await _load(conn, flow_run_id, sorted({*earlier, *taken}), taken)
        again = [u for u in updates if u.task_run_id not in inserted]
        more_history, more_final = _fold(again, runs, aliases, now)
        history = [entry for entry in history if entry[0] in inserted] + more_history
        final = {i: p for i, p in final.items() if i in inserted} | more_final
    await task_reports.insert_states(conn, history)
    await task_reports.update_runs(conn, [p for i, p in final.items() if i not in inserted])


def _blank(create: NewTaskRun) -> LockedRun:
    """A new task run as the fold starts from: no state, nothing run yet."""
    return LockedRun(
        id=create.id,
        state=None,
        last=None,
        times=RunTimesRecord(0, None, None, 0.0, None, None),
        retries=create.retries,
        retry_delays=create.retry_delays,
        cache_key=create.cache_key,
        cache_expiration=create.cache_expiration,
    )


async def _load(
    conn: Connection,
    flow_run_id: uuid.UUID,
    ids: list[uuid.UUID],
    creates: dict[uuid.UUID, NewTaskRun],
) -> tuple[dict[uuid.UUID, LockedRun], dict[uuid.UUID, uuid.UUID]]:
    """The task runs, locked, and the ids of created runs that already existed under their key."""
    if not ids:
        return {}, {}
    found = await task_runs.by_ids(conn, flow_run_id, ids)
    runs = {run_id: locked for run_id, (locked, _, _) in found.items()}
    missing = [i for i in ids if i not in runs and i in creates]
    keys = [(creates[i].task_key, creates[i].dynamic_key) for i in missing]
    existing = await task_runs.ids_by_keys(conn, flow_run_id, keys)
    aliases = {i: existing[key] for i, key in zip(missing, keys, strict=True) if key in existing}
    if aliases:
        more = await task_runs.by_ids(conn, flow_run_id, sorted(set(aliases.values())))
        runs.update({run_id: locked for run_id, (locked, _, _) in more.items()})
    return runs, aliases


def _fold(
    updates: Sequence[Update],
    start: dict[uuid.UUID, LockedRun],
    aliases: dict[uuid.UUID, uuid.UUID],
    now: datetime,
) -> tuple[list[tuple[uuid.UUID, StateRecord]], dict[uuid.UUID, dict[str, Any]]]:
    """The state rows to record, in order, and each run's `task_runs.UPDATE` parameters.

    Only a run's last write becomes its columns, so the parameters are built once per run.
    """
    current: dict[uuid.UUID, tuple[StateRecord | None, RunTimesRecord, _Cache]] = {}
    last: dict[uuid.UUID, StateWrite] = {}
    history: list[tuple[uuid.UUID, StateRecord]] = []
    accepted = outcome("", OrchestrationStatus.ACCEPT, "")
    for update in updates:
        assert update.state is not None
        target = aliases.get(update.task_run_id, update.task_run_id)
        before = current.get(target)
        if before is None:
            run = start.get(target)
            if run is None:
                raise invalid_argument(
                    f"updates[{update.index}].task_run_id", "names no task run of this flow run"
                )
            before = (run.state, run.times, (run.cache_key, run.cache_expiration))
        state, times, cache = before
        spec = update.state.spec
        write = state_write(spec, update.state, (times, state), accepted, now)
        history.append((target, write.state))
        current[target] = (write.state, write.times, cache_entry(spec, update.state) or cache)
        last[target] = write
    final = {
        run_id: task_runs.update_params(start[run_id], write, current[run_id][2])
        for run_id, write in last.items()
    }
    return history, final
