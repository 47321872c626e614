"""PostgreSQL's plans for the flow run lists the API issues: an index read in order, no sort of
the table.

Each statement is the one ``flow_run_lists.list_page`` executes (``list_statement``, compiled by
SQLAlchemy with its bind parameters), explained on a database of its own holding
``RUNS`` runs spread over flows, deployments, work pools, states and tags the way a real one
is, after ANALYZE. The planner is left free (no ``enable_seqscan = off``): forcing it off
would make it pick an index even where it would not on a real table, and the test could not
fail for the reason it exists. With real statistics on this many rows, a sequential scan and
sort already costs far more than reading a page's rows from the right index, so the plans
are those of larger tables; the ratio only grows with the table.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from template_support import PostgresDatabases

from runplane.server.db import flow_run_lists
from runplane.server.db.engine import Database
from runplane.server.db.run_filters import FlowRunQuery
from runplane.server.loops.run_retention import RUN_BATCH, old_flow_runs

pytestmark = pytest.mark.anyio

RUNS = 30_000
PAGE = 51  # the API reads one row more than a page of 50, to know whether another follows
FLOWS = [uuid.UUID(int=i + 1) for i in range(5)]
DEPLOYMENTS = [uuid.UUID(int=100 + i) for i in range(4)]
POOLS = ["pool-0", "pool-1", "pool-2"]
NOW = datetime(2026, 12, 1, tzinfo=UTC)


class Explain(sa.Executable, sa.ClauseElement):
    """``EXPLAIN (FORMAT JSON)`` of a statement, its parameters bound as when it runs."""

    inherit_cache = False

    def __init__(self, statement: sa.Select[Any] | sa.Delete) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


# Runs one second apart, newest last. The first flow, deployment and work pool each hold one
# run in a hundred, PENDING one in fifty: the values a list is filtered by on a large table,
# where reading the newest runs of every kind until a page of them is found would read far
# more than the page. Other states cycle, SCHEDULED a day ahead. Tags: a fifth "nightly", a
# fifth "nightly" and "etl", one in 500 "rare", one in 500 "old" (all among the oldest runs),
# the rest none.
_SEED = """
INSERT INTO flow (id, name, tags, create_time)
SELECT f, 'flow-' || f, '[]', :now FROM unnest(CAST(:flows AS uuid[])) AS f;
"""
_SEED_RUNS = """
INSERT INTO flow_run (
    id, flow_id, name, deployment_id, parameters, job_variables, retry_delays, tags,
    work_pool_name, state_type, state_name, state_timestamp, expected_start_time, create_time,
    update_time
)
SELECT
    gen_random_uuid(),
    (CAST(:flows AS uuid[]))[CASE WHEN i % 100 = 0 THEN 1 ELSE 2 + i % 4 END],
    'run-' || i,
    CASE WHEN i % 100 = 1 THEN (CAST(:deployments AS uuid[]))[1]
         WHEN i % 10 < 6 THEN (CAST(:deployments AS uuid[]))[2 + i % 3] END,
    '{}', '{}', '[]',
    CAST(CASE WHEN i <= :runs / 50 AND i % 10 = 0 THEN '["old"]'
              WHEN i % 500 = 0 THEN '["rare"]'
              WHEN i % 5 = 1 THEN '["nightly"]'
              WHEN i % 5 = 2 THEN '["nightly", "etl"]'
              ELSE '[]' END AS jsonb),
    CASE WHEN i % 100 = 3 THEN (CAST(:pools AS text[]))[1]
         WHEN i % 4 > 0 THEN (CAST(:pools AS text[]))[2 + i % 2] END,
    state_type,
    (CAST(:names AS text[]))[state_type],
    at,
    at + CASE WHEN state_type = 1 THEN interval '1 day' ELSE interval '0' END,
    at,
    at
FROM generate_series(1, :runs) AS i,
     LATERAL (
        SELECT CAST(:now AS timestamptz) - (:runs - i) * interval '1 second' AS at,
               CASE WHEN i % 50 = 2 THEN 2 ELSE (ARRAY[1, 3, 4, 4, 5, 6])[1 + i % 6] END
                   AS state_type
     ) AS t;
"""
_NAMES = ["Scheduled", "Pending", "Running", "Completed", "Failed", "Cancelled"]


# Plans on a table whose statistics are up to date, and on one never analyzed, as where
# autovacuum is off or lags a table's growth: the planner then expects a handful of rows for
# any value, and a list that depends on its statistics sorts what it should read in order.
STATISTICS = ("analyzed", "never analyzed")


@pytest.fixture(scope="module")
def plans_database_urls(postgres_databases: PostgresDatabases) -> Iterator[dict[str, str]]:
    """Migrated databases of this module's own, by their statistics; filled on first use."""
    urls: dict[str, str] = {}
    try:
        for statistics in STATISTICS:
            urls[statistics] = postgres_databases.create_migrated()
        yield urls
    finally:
        for url in urls.values():
            postgres_databases.drop(url)


@pytest.fixture
def statistics() -> str:
    """The database's statistics; tests that hold on both parametrize it."""
    return "analyzed"


@pytest.fixture
async def database(plans_database_urls: dict[str, str], statistics: str) -> AsyncIterator[Database]:
    """RUNS runs, and ANALYZE, or autovacuum kept from ever analyzing them."""
    database = Database(plans_database_urls[statistics])
    try:
        async with database.write() as conn:
            if (await conn.execute(sa.text("SELECT count(*) FROM flow_run"))).scalar_one() == 0:
                params = {
                    "now": NOW,
                    "flows": [str(f) for f in FLOWS],
                    "deployments": [str(d) for d in DEPLOYMENTS],
                    "pools": POOLS,
                    "names": _NAMES,
                    "runs": RUNS,
                }
                if statistics == "never analyzed":
                    for table in ("flow", "flow_run", "flow_run_tag"):
                        await conn.execute(
                            sa.text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
                        )
                await conn.execute(sa.text(_SEED), params)
                await conn.execute(sa.text(_SEED_RUNS), params)
                if statistics == "analyzed":
                    await conn.execute(sa.text("ANALYZE flow, flow_run, flow_run_tag"))
        yield database
    finally:
        await database.dispose()


async def plan_of(
    database: Database, query: FlowRunQuery, before: tuple[datetime, uuid.UUID] | None = None
) -> dict[str, Any]:
    statement = flow_run_lists.list_statement(query, "postgresql", before=before, limit=PAGE)
    async with database.read() as conn:
        await conn.execute(flow_run_lists.plan_settings(query))  # as list_page plans it
        explained = (await conn.execute(Explain(statement))).scalar_one()
    plan: dict[str, Any] = explained[0]["Plan"]
    return plan


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def scans_of_runs(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(node type, index name) of each node that reads flow_run."""
    return [
        (node["Node Type"], node.get("Index Name"))
        for node in nodes(plan)
        if node.get("Relation Name") == "flow_run"
        or str(node.get("Index Name", "")).startswith(("ix_flow_run", "pk_flow_run"))
    ]


def describe(plan: dict[str, Any]) -> str:
    return "; ".join(
        f"{node['Node Type']} {node.get('Index Name') or node.get('Relation Name') or ''}".strip()
        for node in nodes(plan)
    )


# The lists read in order from an index: one case per filter the API takes that an index
# leads with (a value one run in fifty or a hundred has), the unfiltered list, and filters
# most runs pass (a time range, a tag, a state name), read from the order's own index.
ORDERED = {
    "no filter": (FlowRunQuery(), "ix_flow_run_create_time_id"),
    "flow": (FlowRunQuery(flow_ids=(FLOWS[0],)), "ix_flow_run_flow_id_create_time_id"),
    "deployment": (
        FlowRunQuery(deployment_ids=(DEPLOYMENTS[0],)),
        "ix_flow_run_deployment_id_create_time_id",
    ),
    "state type": (FlowRunQuery(state_types=(2,)), "ix_flow_run_state_type_create_time_id"),
    "work pool": (
        FlowRunQuery(work_pool_name=POOLS[0]),
        "ix_flow_run_work_pool_name_create_time_id",
    ),
    "since a day ago": (
        FlowRunQuery(expected_after=NOW - timedelta(days=1)),
        "ix_flow_run_create_time_id",
    ),
    "state name": (FlowRunQuery(state_names=("Failed",)), "ix_flow_run_create_time_id"),
    # The same filters with values most runs have.
    "common flow": (FlowRunQuery(flow_ids=(FLOWS[1],)), "ix_flow_run_flow_id_create_time_id"),
    "common deployment": (
        FlowRunQuery(deployment_ids=(DEPLOYMENTS[1],)),
        "ix_flow_run_deployment_id_create_time_id",
    ),
    "common state type": (
        FlowRunQuery(state_types=(4,)),
        "ix_flow_run_state_type_create_time_id",
    ),
    "common work pool": (
        FlowRunQuery(work_pool_name=POOLS[1]),
        "ix_flow_run_work_pool_name_create_time_id",
    ),
}
# Lists whose plan is the planner's to choose from its statistics (see plan_settings): on a
# table never analyzed it cannot know that most runs pass them.
PLANNED_FROM_STATISTICS = {"since a day ago", "state name"}


@pytest.mark.parametrize(
    ("case", "statistics"),
    [
        (case, statistics)
        for case in ORDERED
        for statistics in STATISTICS
        if statistics == "analyzed" or case not in PLANNED_FROM_STATISTICS
    ],
)
@pytest.mark.parametrize("page", ["first page", "next page"])
async def test_a_list_reads_its_page_in_order_from_an_index(
    database: Database, case: str, page: str
) -> None:
    query, index = ORDERED[case]
    before = None
    if page == "next page":
        async with database.read() as conn:
            first = await flow_run_lists.list_page(conn, query, before=None, limit=PAGE)
        assert len(first) == PAGE
        before = (first[-1].create_time, first[-1].id)
    plan = await plan_of(database, query, before)
    scans = scans_of_runs(plan)
    # A value most runs have is found as soon by reading the newest runs of every kind.
    allowed = {index, "ix_flow_run_create_time_id"} if case.startswith("common") else {index}
    assert [kind for kind, _ in scans] == ["Index Scan"], describe(plan)
    assert scans[0][1] in allowed, describe(plan)
    # The index scan is backward (newest first) and what it yields needs no sort.
    assert not [node for node in nodes(plan) if node["Node Type"] == "Sort"], describe(plan)
    if before is not None:
        # The keyset is the scan's start, not a filter over the newer rows it skips.
        scan = next(node for node in nodes(plan) if node.get("Index Name") in allowed)
        assert "create_time" in scan.get("Index Cond", ""), describe(plan)


# Lists by several values of one filter: each value's page read in order from the index that
# leads with it, and the pages merged, whatever the values' share of the runs.
SEVERAL = {
    "two common state types": (
        FlowRunQuery(state_types=(4, 5)),
        "ix_flow_run_state_type_create_time_id",
    ),
    "a rare and a common state type": (
        FlowRunQuery(state_types=(2, 4)),
        "ix_flow_run_state_type_create_time_id",
    ),
    "two flows": (
        FlowRunQuery(flow_ids=(FLOWS[0], FLOWS[1])),
        "ix_flow_run_flow_id_create_time_id",
    ),
    "two deployments": (
        FlowRunQuery(deployment_ids=(DEPLOYMENTS[0], DEPLOYMENTS[1])),
        "ix_flow_run_deployment_id_create_time_id",
    ),
}


@pytest.mark.parametrize("case", SEVERAL)
@pytest.mark.parametrize("page", ["first page", "next page"])
@pytest.mark.parametrize("statistics", STATISTICS)
async def test_a_list_by_several_values_merges_their_pages_read_in_order(
    database: Database, case: str, page: str, statistics: str
) -> None:
    query, index = SEVERAL[case]
    before = None
    if page == "next page":
        async with database.read() as conn:
            first = await flow_run_lists.list_page(conn, query, before=None, limit=PAGE)
        assert len(first) == PAGE
        keys = [(run.create_time, run.id) for run in first]
        assert keys == sorted(keys, reverse=True)
        before = keys[-1]
    plan = await plan_of(database, query, before)
    scans = scans_of_runs(plan)
    # A value most runs have is found as soon by reading the newest runs of every kind, as the
    # planner knows where it has statistics; a rare one only from its own index.
    allowed = {index} if statistics == "never analyzed" else {index, "ix_flow_run_create_time_id"}
    assert len(scans) == 2, describe(plan)
    assert all(kind == "Index Scan" and name in allowed for kind, name in scans), describe(plan)
    if "rare" in case:
        assert ("Index Scan", index) in scans, describe(plan)
    assert [node["Node Type"] for node in nodes(plan)].count("Merge Append") == 1, describe(plan)
    assert not [node for node in nodes(plan) if node["Node Type"] == "Sort"], describe(plan)
    for scan in (node for node in nodes(plan) if node.get("Index Name") in allowed):
        assert scan["Scan Direction"] == "Backward", describe(plan)
        if before is not None:
            assert "create_time" in scan.get("Index Cond", ""), describe(plan)


# Filters that select few runs: found through an index, then the few sorted.
SELECTIVE = {
    "run ids": (
        FlowRunQuery(ids=tuple(uuid.UUID(int=1000 + i) for i in range(20))),
        "pk_flow_run",
    ),
    "parent task run": (
        FlowRunQuery(parent_task_run_id=uuid.UUID(int=7)),
        "ix_flow_run_subflow_parent_task_run_id",
    ),
    "narrow time range": (
        FlowRunQuery(expected_after=NOW + timedelta(hours=23, minutes=50)),
        "ix_flow_run_expected_start_time",
    ),
}


@pytest.mark.parametrize("case", SELECTIVE)
async def test_a_selective_filter_finds_its_few_runs_through_an_index(
    database: Database, case: str
) -> None:
    query, index = SELECTIVE[case]
    plan = await plan_of(database, query)
    scans = scans_of_runs(plan)
    assert scans, describe(plan)
    assert all(kind != "Seq Scan" for kind, _ in scans), describe(plan)
    assert index in {name for _, name in scans}, describe(plan)
    # Whatever is sorted is the few runs found, not the table.
    sorted_rows = [node["Plan Rows"] for node in nodes(plan) if node["Node Type"] == "Sort"]
    assert all(rows <= RUNS // 100 for rows in sorted_rows), describe(plan)


# Filters on tags: whatever the tag, common or rare, on new runs or old, its runs are found
# through the run tags' key (tag, create_time, id) and each run is fetched by its id. A page
# is read in order from that key, or, where the planner expects few rows (it has real
# statistics per tag), those few are read and sorted; never the table.
TAGGED = {
    "common tag": FlowRunQuery(tags=("nightly",)),
    "rare tag": FlowRunQuery(tags=("rare",)),
    "rare tag of old runs": FlowRunQuery(tags=("old",)),
    "two tags": FlowRunQuery(tags=("nightly", "etl")),
    "tag and state": FlowRunQuery(tags=("nightly",), state_types=(4,)),
}


@pytest.mark.parametrize("case", TAGGED)
@pytest.mark.parametrize("page", ["first page", "next page"])
@pytest.mark.parametrize("statistics", STATISTICS)
async def test_a_list_by_tag_finds_its_page_through_the_run_tags(
    database: Database, case: str, page: str
) -> None:
    query = TAGGED[case]
    before = None
    if page == "next page":
        async with database.read() as conn:
            first = await flow_run_lists.list_page(conn, query, before=None, limit=PAGE)
        assert len(first) == PAGE
        assert all(set(query.tags) <= set(run.tags) for run in first)
        before = (first[-1].create_time, first[-1].id)
    plan = await plan_of(database, query, before)
    scans = scans_of_runs(plan)
    assert [kind for kind, name in scans if name == "pk_flow_run_tag"], describe(plan)
    read_whole = [
        node
        for node in nodes(plan)
        if node["Node Type"] == "Seq Scan" and node["Relation Name"].startswith("flow_run")
    ]
    assert not read_whole, describe(plan)
    sorted_rows = [node["Plan Rows"] for node in nodes(plan) if node["Node Type"] == "Sort"]
    assert all(rows <= RUNS // 100 for rows in sorted_rows), describe(plan)
    if case in ("common tag", "two tags", "tag and state"):
        # Too many to sort: the page is read in order, newest first, from the key.
        assert not sorted_rows, describe(plan)
        scan = next(node for node in nodes(plan) if node.get("Index Name") == "pk_flow_run_tag")
        assert scan["Scan Direction"] == "Backward", describe(plan)


async def test_a_retention_batch_reads_its_runs_in_order_from_the_index_of_ended_runs(
    database: Database,
) -> None:
    """A batch of runs that ended before the cutoff, oldest first: read from the partial
    index of ended runs and stopped after the batch, never all old runs sorted. (How the
    batch's ids then find their rows is the planner's choice of join: on a table this small
    a hash join over all of it, on a large one the primary key's index.)"""
    cutoff = NOW - timedelta(hours=1)  # all but the newest hour's runs are past it
    async with database.read() as conn:
        explained = await conn.execute(
            Explain(old_flow_runs(cutoff, RUN_BATCH["postgresql"], "postgresql"))
        )
    plan: dict[str, Any] = explained.scalar_one()[0]["Plan"]
    scans = scans_of_runs(plan)
    assert ("Index Scan", "ix_flow_run_finished") in scans, describe(plan)
    assert "Sort" not in {node["Node Type"] for node in nodes(plan)}, describe(plan)
