"""Client methods for run logs."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from uuid import UUID

from runplane._client import convert
from runplane._client.models import LogFilter, LogRecord, Page
from runplane._client.transport import Transport
from runplane.v1 import logs_pb2


class LogsAPI(Transport):
    """Run logs: batched writes, pages and a live follow."""

    async def write_logs(
        self, records: Sequence[LogRecord], *, batch_id: UUID | None = None
    ) -> int:
        """Stores a batch of log records; returns how many were stored.

        ``batch_id`` makes the call safe to retry: send the same id again and the server
        stores nothing more, answering the count the first call stored.
        """
        request = logs_pb2.WriteLogsRequest(
            records=[convert.log_record_to_pb(record) for record in records],
            batch_id=str(batch_id) if batch_id is not None else "",
        )
        response = await self._unary(self.stubs.logs.WriteLogs, request)
        return response.written_count

    async def list_logs(
        self, filter: LogFilter, *, page_size: int = 0, page_token: str | None = None
    ) -> Page[LogRecord]:
        """Log records matching ``filter``, oldest first."""
        request = logs_pb2.ListLogsRequest(
            filter=convert.log_filter_to_pb(filter),
            page_size=page_size,
            page_token=page_token or "",
        )
        response = await self._unary(self.stubs.logs.ListLogs, request)
        items = [convert.log_record_from_pb(record) for record in response.records]
        return Page(items, response.next_page_token or None)

    def follow_logs(self, filter: LogFilter) -> AsyncGenerator[LogRecord, None]:
        """Yields a flow run's stored records, then each new one as it arrives, until closed.

        ``filter.flow_run_id`` is required.
        """
        request = logs_pb2.FollowLogsRequest(filter=convert.log_filter_to_pb(filter))
        return self._stream(
            self.stubs.logs.FollowLogs, request, lambda r: convert.log_record_from_pb(r.record)
        )
