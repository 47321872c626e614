"""What watchers of flow runs receive after a commit."""

from __future__ import annotations

from dataclasses import dataclass

from runplane.server.db.run_records import FlowRunRecord, StateRecord


@dataclass(frozen=True, slots=True)
class FlowRunEvent:
    """A flow run after a change, and the state that was written."""

    run: FlowRunRecord
    state: StateRecord
