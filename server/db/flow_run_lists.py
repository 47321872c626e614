"""Lists of flow runs, newest first: the statements, and what PostgreSQL's planner is told
before it plans them.

Each list reads a page in index order and stops after it, whatever the filter: by one value,
from the index that leads with that value; by several, a page for each value, merged; by a
tag, the tag's keys in ``flow_run_tag`` first. ``tests/integration/test_query_plans.py``
checks each plan on PostgreSQL.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from runplane.server.db.async_engine import AsyncConnection
from runplane.server.db.flow_runs import SELECT_RUNS, flow_run_from_row
from runplane.server.db.keyset import older_than
from runplane.server.db.run_filters import FlowRunQuery, flow_run_conditions
from runplane.server.db.run_records import FlowRunRecord
from runplane.server.db.tables import flow_run, flow_run_tag

S = TypeVar("S", bound=sa.Select[Any])


async def list_page(
    conn: AsyncConnection,
    query: FlowRunQuery,
    *,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[FlowRunRecord]:
    """Runs newest first, by (create_time, id), starting after the key `before`."""
    if conn.dialect.name == "postgresql":
        await conn.execute(plan_settings(query))
    statement = list_statement(query, conn.dialect.name, before=before, limit=limit)
    rows = await conn.execute(statement)
    return [flow_run_from_row(row._mapping) for row in rows]


def _one_tag_statement(
    tag: str, *, before: tuple[datetime, uuid.UUID] | None, limit: int
) -> sa.Select[Any]:
    """A list by one tag and nothing else: the page is the first ``limit`` keys of the tag in
    ``flow_run_tag``, newest first, and then its runs. The page is chosen before any run is
    read, so the plan cannot depend on how many runs the planner believes carry the tag (a
    table whose statistics lag its inserts would have it read and sort them all)."""
    t = flow_run_tag.c
    keys = sa.select(t.flow_run_id, t.create_time).where(t.tag == tag)
    page = _page(keys, t.create_time, t.flow_run_id, before, limit).subquery("page")
    return SELECT_RUNS.join(page, page.c.flow_run_id == flow_run.c.id).order_by(
        page.c.create_time.desc(), page.c.flow_run_id.desc()
    )


# set_config(..., true) is SET LOCAL: both in one round trip.
_PLAN_WITH_VALUES = sa.text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")
_PLAN_WITH_VALUES_IN_ORDER = sa.text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('enable_sort', 'off', true)"
)


def plan_settings(query: FlowRunQuery) -> sa.TextClause:
    """What PostgreSQL's planner is told, in the list's transaction, before it plans the list.

    A list's best plan depends on its values: a time range most runs fall in is found by
    reading the newest runs in order, a narrow one through its index. A generic plan of the
    prepared statement picks one for all values (and reads the whole table for the other),
    so each list is planned with its own.

    A list by one flow, deployment, state type, work pool or tag (or by several flows,
    deployments or state types: a list for each, merged) has an index that leads with
    that value and goes on in the list's order: reading it newest first yields the page and
    stops, however many or few runs have the value, so no sort can do better. The planner
    is kept from sorting there, because its choice rests on its statistics: with statistics
    that lag the table (a table grown since its last ANALYZE, or never analyzed where
    autovacuum is off) it expects a handful of runs where there are hundreds of thousands,
    and reads and sorts them all. Lists that also name runs, a parent or a time range are
    left to the planner: those select few runs, found through their own index and sorted.
    """
    return _PLAN_WITH_VALUES_IN_ORDER if _has_ordered_index(query) else _PLAN_WITH_VALUES


def _has_ordered_index(query: FlowRunQuery) -> bool:
    """Whether the list (or, by several values, each of its lists) leads with one value."""
    leading = (
        bool(query.flow_ids)
        or bool(query.deployment_ids)
        or bool(query.state_types)
        or query.work_pool_name is not None
        or bool(query.tags)
    )
    return leading and not _selective(query)


def _selective(query: FlowRunQuery) -> bool:
    return (
        bool(query.ids)
        or query.parent_task_run_id is not None
        or query.expected_before is not None
        or query.expected_after is not None
    )


def _one_value_each(query: FlowRunQuery) -> list[FlowRunQuery]:
    """A list by several flows, deployments or state types, as one list for each value (of
    the first such filter), each read in order from the index that leads with its column; []
    when no filter has several values, or when the list also names runs, a parent or a time
    range (those select few runs, found through their own index)."""
    if _selective(query):
        return []
    if len(query.state_types) > 1:
        return [replace(query, state_types=(value,)) for value in query.state_types]
    if len(query.flow_ids) > 1:
        return [replace(query, flow_ids=(value,)) for value in query.flow_ids]
    if len(query.deployment_ids) > 1:
        return [replace(query, deployment_ids=(value,)) for value in query.deployment_ids]
    return []


def _merged_statement(
    each: list[FlowRunQuery],
    dialect: str,
    *,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> sa.Select[Any]:
    """The newest ``limit`` runs of the lists ``each``, which no run is in twice: each list's
    own page, read in order and stopped, then the pages merged. An IN over the values could
    not be read in order from any index, and would be read either from the newest runs of
    every kind, until a page of the values is found, or whole and sorted: the planner picks
    by its statistics, and a wrong pick reads most of the table."""
    pages = []
    for query in each:
        page = SELECT_RUNS.where(*flow_run_conditions(query, dialect))
        page = _page(page, flow_run.c.create_time, flow_run.c.id, before, limit)
        pages.append(sa.select(page.subquery()))
    merged = sa.union_all(*pages).subquery("merged")
    return sa.select(merged).order_by(merged.c.create_time.desc(), merged.c.id.desc()).limit(limit)


def list_statement(
    query: FlowRunQuery, dialect: str, *, before: tuple[datetime, uuid.UUID] | None, limit: int
) -> sa.Select[Any]:
    """The SELECT of `list_page`.

    Filtered by tags, the runs are those of the first tag's rows in ``flow_run_tag``, read
    newest first from its key, which holds each run's create time: the page is read in
    order and the read stops after it, whether the tag is common or rare, its runs new or
    old. The other tags are conditions on those runs."""
    if not query.tags and (each := _one_value_each(query)):
        return _merged_statement(each, dialect, before=before, limit=limit)
    if not query.tags:
        statement = SELECT_RUNS.where(*flow_run_conditions(query, dialect))
        time_column, id_column = flow_run.c.create_time, flow_run.c.id
    elif query == FlowRunQuery(tags=query.tags[:1]):
        return _one_tag_statement(query.tags[0], before=before, limit=limit)
    else:
        tag = flow_run_tag.c
        # Not also on create_time: the planner would take the two equalities for independent
        # and expect no row at all, and then sort rather than read in order.
        on_tag = sa.and_(tag.flow_run_id == flow_run.c.id, tag.tag == query.tags[0])
        rest = replace(query, tags=query.tags[1:])
        statement = SELECT_RUNS.join(flow_run_tag, on_tag).where(
            *flow_run_conditions(rest, dialect)
        )
        time_column, id_column = tag.create_time, tag.flow_run_id
    return _page(statement, time_column, id_column, before, limit)


def _page(
    statement: S,
    time_column: sa.ColumnElement[datetime],
    id_column: sa.ColumnElement[uuid.UUID],
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> S:
    """`statement`'s page: newest first by (time, id), after the key `before`."""
    if before is not None:
        statement = statement.where(older_than(time_column, id_column, before))
    return statement.order_by(time_column.desc(), id_column.desc()).limit(limit)
