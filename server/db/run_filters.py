"""Filters on flow runs and task runs, as plain values and as SQL conditions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from runplane.server.db import postgresql
from runplane.server.db.tables import flow_run, task_run


@dataclass(frozen=True, slots=True)
class FlowRunQuery:
    """Every set field must match; empty tuples and None match everything."""

    ids: tuple[uuid.UUID, ...] = ()
    flow_ids: tuple[uuid.UUID, ...] = ()
    deployment_ids: tuple[uuid.UUID, ...] = ()
    state_types: tuple[int, ...] = ()
    state_names: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    parent_task_run_id: uuid.UUID | None = None
    work_pool_name: str | None = None
    expected_before: datetime | None = None
    expected_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class TaskRunQuery:
    ids: tuple[uuid.UUID, ...] = ()
    flow_run_ids: tuple[uuid.UUID, ...] = ()
    state_types: tuple[int, ...] = ()
    task_key: str | None = None
    cache_key: str | None = None


def has_all_tags(column: Any, tags: Sequence[str], dialect: str) -> list[sa.ColumnElement[bool]]:
    """Conditions that the JSON list in `column` holds every tag."""
    if not tags:
        return []
    if dialect == "postgresql":
        return [sa.type_coerce(column, postgresql.jsonb()).contains(list(tags))]
    conditions: list[sa.ColumnElement[bool]] = []
    for tag in tags:
        each = sa.func.json_each(column).table_valued("value").alias()
        conditions.append(
            sa.select(sa.literal(1)).select_from(each).where(each.c.value == tag).exists()
        )
    return conditions


def flow_run_conditions(query: FlowRunQuery, dialect: str) -> list[sa.ColumnElement[bool]]:
    c = flow_run.c
    conditions: list[sa.ColumnElement[bool]] = []
    if query.ids:
        conditions.append(c.id.in_(query.ids))
    if query.flow_ids:
        conditions.append(c.flow_id.in_(query.flow_ids))
    if query.deployment_ids:
        conditions.append(c.deployment_id.in_(query.deployment_ids))
    if query.state_types:
        conditions.append(c.state_type.in_(query.state_types))
    if query.state_names:
        conditions.append(c.state_name.in_(query.state_names))
    if query.parent_task_run_id is not None:
        conditions.append(c.parent_task_run_id == query.parent_task_run_id)
    if query.work_pool_name is not None:
        conditions.append(c.work_pool_name == query.work_pool_name)
    if query.expected_before is not None:
        conditions.append(c.expected_start_time <= query.expected_before)
    if query.expected_after is not None:
        conditions.append(c.expected_start_time >= query.expected_after)
    conditions.extend(has_all_tags(c.tags, query.tags, dialect))
    return conditions


def task_run_conditions(query: TaskRunQuery) -> list[sa.ColumnElement[bool]]:
    c = task_run.c
    conditions: list[sa.ColumnElement[bool]] = []
    if query.ids:
        conditions.append(c.id.in_(query.ids))
    if query.flow_run_ids:
        conditions.append(c.flow_run_id.in_(query.flow_run_ids))
    if query.state_types:
        conditions.append(c.state_type.in_(query.state_types))
    if query.task_key is not None:
        conditions.append(c.task_key == query.task_key)
    if query.cache_key is not None:
        conditions.append(c.cache_key == query.cache_key)
    return conditions
