"""Run logs shipped in batches to a real server, read back through the client."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import anyio
import pytest

from runplane import LogFilter, LogRecord, Settings, SyncRunplaneClient
from runplane._runtime.context import (
    FlowRunContext,
    TaskRunContext,
    flow_run_context,
    task_run_context,
)
from runplane._runtime.run_logs import (
    MAX_MESSAGE_BYTES,
    LogShipper,
    capture_prints,
    get_run_logger,
    install_log_shipping,
    uninstall_log_shipping,
)
from runplane.server import RunplaneServer

pytestmark = pytest.mark.anyio


async def in_thread(body: Callable[[SyncRunplaneClient], None], server: RunplaneServer) -> None:
    """Runs blocking client code off the loop that serves the server."""

    def run() -> None:
        with SyncRunplaneClient(Settings(api_url=server.address)) as client:
            body(client)

    await anyio.to_thread.run_sync(run)


def new_run(client: SyncRunplaneClient) -> uuid.UUID:
    flow = client.create_flow(f"logs-{uuid.uuid4().hex[:8]}")
    return client.create_flow_run(flow.id).id


async def test_run_logs_and_prints_reach_the_server(server: RunplaneServer) -> None:
    await in_thread(run_logs_and_prints, server)


def run_logs_and_prints(client: SyncRunplaneClient) -> None:
    run_id = new_run(client)
    task_run_id = uuid.uuid4()
    shipper = install_log_shipping(client, console=False)
    flow_token = flow_run_context.set(FlowRunContext(flow_run_id=run_id, flow_name="f"))
    task_token = task_run_context.set(
        TaskRunContext(task_run_id=task_run_id, task_name="t", flow_run_id=run_id)
    )
    try:
        logger = get_run_logger()
        for index in range(1500):
            logger.debug("line %d", index)
        with capture_prints():
            print("printed", 42)
        logger.error("huge: %s", "x" * (2 * MAX_MESSAGE_BYTES))
        assert shipper.flush(timeout=60)
    finally:
        task_run_context.reset(task_token)
        flow_run_context.reset(flow_token)
        uninstall_log_shipping(shipper)
    records = []
    token = None
    while True:
        page = client.list_logs(LogFilter(flow_run_id=run_id), page_size=500, page_token=token)
        records.extend(page.items)
        token = page.next_page_token
        if not token:
            break
    # DEBUG is below the run loggers' INFO level: only the print and the error arrive.
    assert [r.level for r in records] == [logging.INFO, logging.ERROR]
    assert records[0].message == "printed 42"
    assert records[0].task_run_id == task_run_id
    assert len(records[1].message.encode()) <= MAX_MESSAGE_BYTES
    assert "[truncated " in records[1].message


async def test_many_records_arrive_in_order(server: RunplaneServer) -> None:
    await in_thread(many_records, server)


def many_records(client: SyncRunplaneClient) -> None:
    run_id = new_run(client)
    shipper = LogShipper(client, max_batch=1000)
    try:
        for index in range(2500):
            shipper.put(LogRecord(flow_run_id=run_id, level=20, message=str(index)))
        assert shipper.flush(timeout=60)
    finally:
        shipper.close()
    messages: list[str] = []
    token = None
    while True:
        page = client.list_logs(LogFilter(flow_run_id=run_id), page_size=500, page_token=token)
        messages.extend(r.message for r in page)
        token = page.next_page_token
        if not token:
            break
    assert messages == [str(i) for i in range(2500)]
