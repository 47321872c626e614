"""A deployment's concurrency slots as seen by one run: the one gate every flow-run
proposal passes, whether it comes from a client, a new run or the server's own work.

Slots are derived from states: a run holds one while PENDING, RUNNING or CANCELLING, so
leaving those states releases it in the same transaction and nothing can leak. The
deployment row is locked before counting (see ``flow_runs.deployment_gate``), so concurrent
proposals count one after the other.
"""

from __future__ import annotations

import uuid

from runplane.server.db import flow_runs
from runplane.server.db.flow_runs import Connection
from runplane.server.db.run_records import DeploymentGate
from runplane.server.orchestration import CollisionStrategy, ConcurrencyGate, StateType

CANCEL_NEW = 2  # runplane.v1.CollisionStrategy.COLLISION_STRATEGY_CANCEL_NEW


def strategy(collision_strategy: int) -> CollisionStrategy:
    return "CANCEL_NEW" if collision_strategy == CANCEL_NEW else "ENQUEUE"


async def count_slots(
    conn: Connection, deployment_id: uuid.UUID, run_id: uuid.UUID, gate: DeploymentGate
) -> ConcurrencyGate:
    """The deployment's limit with the slots the other runs hold; its row is locked."""
    active = await flow_runs.count_active(conn, deployment_id, run_id)
    return ConcurrencyGate(gate.limit, active, strategy(gate.collision_strategy))


async def concurrency_gate(
    conn: Connection,
    deployment_id: uuid.UUID | None,
    run_id: uuid.UUID,
    target: StateType,
    force: bool,
) -> ConcurrencyGate | None:
    """The deployment's slots as seen by this run, when the proposal would take one: a move
    to PENDING, not forced, of a run of a deployment with a concurrency limit."""
    if force or target is not StateType.PENDING or deployment_id is None:
        return None
    _, gate = await flow_runs.deployment_gate(conn, deployment_id)
    if gate is None:
        return None
    return await count_slots(conn, deployment_id, run_id, gate)
