"""What the work dispatcher queues on a runner's stream; the API encodes each as it is sent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from runplane.server.db.deployments import DeploymentRecord
from runplane.server.db.run_records import FlowRunRecord


@dataclass(frozen=True, slots=True)
class Assignment:
    """A run claimed for the runner, as read back in the claim's transaction (PENDING)."""

    run: FlowRunRecord
    deployment: DeploymentRecord | None
    lease_id: uuid.UUID
    lease_expire_time: datetime


@dataclass(frozen=True, slots=True)
class Cancel:
    """A run the runner holds became CANCELLING."""

    run_id: uuid.UUID
    reason: str


WorkItem = Assignment | Cancel
