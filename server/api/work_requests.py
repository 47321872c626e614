"""Validation of work pool and queue requests into the values the repositories write.

Every failure is an INVALID_ARGUMENT naming the field by its path in the request, e.g.
"work_pool.concurrency_limit".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import field_mask_pb2

from runplane.server.api.deployment_requests import MAX_DESCRIPTION_LENGTH, resource_name
from runplane.server.api.errors import invalid_argument
from runplane.server.api.validation import optional_text, update_paths
from runplane.v1 import work_pb2

# What UpdateWorkPool and UpdateWorkQueue may change; names and ids stay as created.
POOL_FIELDS = frozenset({"description", "paused", "concurrency_limit"})
QUEUE_FIELDS = frozenset({"priority", "paused", "concurrency_limit"})


@dataclass(frozen=True, slots=True)
class PoolUpdate:
    """A validated UpdateWorkPool: the pool's name and the columns to set."""

    name: str
    changes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class QueueUpdate:
    """A validated UpdateWorkQueue: the queue by pool and name, and the columns to set."""

    work_pool_name: str
    name: str
    changes: dict[str, Any]


def concurrency_limit(field: str, present: bool, value: int) -> int | None:
    """The limit, or None (no limit) when the optional field is unset."""
    if not present:
        return None
    if value < 0:
        raise invalid_argument(field, "must not be negative")
    return value


def parse_pool_update(message: work_pb2.WorkPool, mask: field_mask_pb2.FieldMask) -> PoolUpdate:
    name = resource_name("work_pool.name", message.name)
    changes: dict[str, Any] = {}
    for path in update_paths(mask, POOL_FIELDS):
        field = f"work_pool.{path}"
        if path == "description":
            changes[path] = optional_text(field, message.description, MAX_DESCRIPTION_LENGTH)
        elif path == "concurrency_limit":
            present = message.HasField("concurrency_limit")
            changes[path] = concurrency_limit(field, present, message.concurrency_limit)
        else:
            changes[path] = message.paused
    return PoolUpdate(name, changes)


def parse_queue_update(message: work_pb2.WorkQueue, mask: field_mask_pb2.FieldMask) -> QueueUpdate:
    name = resource_name("work_queue.name", message.name)
    pool_name = resource_name("work_queue.work_pool_name", message.work_pool_name)
    changes: dict[str, Any] = {}
    for path in update_paths(mask, QUEUE_FIELDS):
        field = f"work_queue.{path}"
        if path == "priority":
            # CreateWorkQueue reads 0 as "after the pool's other queues", so stored priorities
            # start at 1; an update keeps it that way.
            if message.priority < 1:
                raise invalid_argument(field, "must be at least 1")
            changes[path] = message.priority
        elif path == "concurrency_limit":
            present = message.HasField("concurrency_limit")
            changes[path] = concurrency_limit(field, present, message.concurrency_limit)
        else:
            changes[path] = message.paused
    return QueueUpdate(pool_name, name, changes)
