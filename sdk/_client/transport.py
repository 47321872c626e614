"""The connection under ``RunplaneClient``: channel lifecycle, deadlines and error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from types import TracebackType
from typing import Self, TypeVar, cast

import grpc
from grpc import aio

from runplane._client.channel import authorization_metadata, create_blocking_channel, create_channel
from runplane._client.connection_errors import ApiAddress, explain
from runplane._client.embedded import ensure_api_url
from runplane._client.errors import error_from_rpc
from runplane._client.settings import Settings, get_settings
from runplane.v1 import (
    artifacts_pb2_grpc,
    concurrency_pb2_grpc,
    deployments_pb2_grpc,
    flow_runs_pb2_grpc,
    flows_pb2_grpc,
    logs_pb2_grpc,
    task_runs_pb2_grpc,
    variables_pb2_grpc,
    work_pb2_grpc,
)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
T = TypeVar("T")


def resolve_api_url(settings: Settings) -> str:
    """The URL a client with these settings connects to.

    ``RUNPLANE_API_URL`` when set; otherwise an embedded server on the SQLite database in
    ``RUNPLANE_HOME``, started in this process on first use (see ``runplane._client.embedded``).
    """
    return settings.api_url or ensure_api_url(settings)


class Stubs:
    """The generated gRPC stubs of every service, bound to one client's channel.

    The escape hatch for calls the typed client does not offer: they take and return
    protobuf messages, raise ``grpc.aio.AioRpcError`` and have no deadline unless given one.
    The channel's API key, retry policy and message limits still apply.
    """

    def __init__(self, channel: aio.Channel) -> None:
        self.flows: flows_pb2_grpc.FlowServiceAsyncStub = flows_pb2_grpc.FlowServiceStub(channel)
        self.flow_runs: flow_runs_pb2_grpc.FlowRunServiceAsyncStub = (
            flow_runs_pb2_grpc.FlowRunServiceStub(channel)
        )
        self.task_runs: task_runs_pb2_grpc.TaskRunServiceAsyncStub = (
            task_runs_pb2_grpc.TaskRunServiceStub(channel)
        )
        self.deployments: deployments_pb2_grpc.DeploymentServiceAsyncStub = (
            deployments_pb2_grpc.DeploymentServiceStub(channel)
        )
        self.work: work_pb2_grpc.WorkServiceAsyncStub = work_pb2_grpc.WorkServiceStub(channel)
        self.logs: logs_pb2_grpc.LogServiceAsyncStub = logs_pb2_grpc.LogServiceStub(channel)
        self.concurrency: concurrency_pb2_grpc.ConcurrencyServiceAsyncStub = (
            concurrency_pb2_grpc.ConcurrencyServiceStub(channel)
        )
        self.variables: variables_pb2_grpc.VariableServiceAsyncStub = (
            variables_pb2_grpc.VariableServiceStub(channel)
        )
        self.artifacts: artifacts_pb2_grpc.ArtifactServiceAsyncStub = (
            artifacts_pb2_grpc.ArtifactServiceStub(channel)
        )


class Transport:
    """Owns the channel; every typed call goes through ``_unary`` or ``_stream``."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else get_settings()
        self._channel: aio.Channel | None = None
        self._blocking: grpc.Channel | None = None
        self._metadata: tuple[tuple[str, str], ...] | None = None
        self._stubs: Stubs | None = None
        # Where the channel goes, for errors that say so.
        self._address: ApiAddress | None = None

    async def open(self) -> None:
        """Creates the channel in the running event loop; ``async with`` calls it."""
        if self._channel is None:
            url = self.settings.api_url
            if not url:
                # Starting the embedded server blocks; keep this loop free meanwhile.
                url = await asyncio.to_thread(resolve_api_url, self.settings)
            if self._channel is None:
                self._channel = create_channel(self.settings, url)
                self._address = ApiAddress.of(self.settings, url)
                self._stubs = Stubs(self._channel)

    def _open_blocking(self) -> None:
        """Connects through a blocking channel instead, from any thread, loop or not.

        ``_unary`` then completes the call before returning, so a coroutine of this client
        that awaits nothing but ``_unary`` finishes at its first step: the blocking client
        drives it in the calling thread, with no hand-off to an event loop thread. Streams
        need the ``grpc.aio`` channel of ``open()``.
        """
        if self._blocking is None and self._channel is None:
            url = resolve_api_url(self.settings)
            self._blocking = create_blocking_channel(self.settings, url)
            self._address = ApiAddress.of(self.settings, url)
            self._metadata = authorization_metadata(self.settings)
            # The generated stubs bind to either kind of channel.
            self._stubs = Stubs(cast(aio.Channel, self._blocking))

    async def close(self) -> None:
        """Closes the channel, cancelling calls still in flight."""
        self._close_blocking()
        channel, self._channel, self._stubs = self._channel, None, None
        if channel is not None:
            await channel.close()

    def _close_blocking(self) -> None:
        blocking, self._blocking = self._blocking, None
        if blocking is not None:
            self._stubs = None
            blocking.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def stubs(self) -> Stubs:
        """The raw generated stubs: the only way to reach them. See ``Stubs``."""
        if self._stubs is None:
            raise RuntimeError("the client is not open: use `async with RunplaneClient() as c:`")
        return self._stubs

    async def _unary(self, method: aio.UnaryUnaryMultiCallable[Req, Resp], request: Req) -> Resp:
        try:
            if self._blocking is not None:
                call = cast("grpc.UnaryUnaryMultiCallable[Req, Resp]", method)
                return call(request, timeout=self.settings.request_timeout, metadata=self._metadata)
            return await method(request, timeout=self.settings.request_timeout)
        except grpc.RpcError as err:
            raise explain(error_from_rpc(err), self._address) from err

    async def _stream(
        self,
        method: aio.UnaryStreamMultiCallable[Req, Resp],
        request: Req,
        decode: Callable[[Resp], T | None],
    ) -> AsyncGenerator[T, None]:
        """Yields the decoded responses, skipping those ``decode`` maps to None."""
        # Streams are long-lived: no deadline; closing the iterator cancels the call.
        call = method(request)
        try:
            async for response in call:
                item = decode(response)
                if item is not None:
                    yield item
        except grpc.RpcError as err:
            raise explain(error_from_rpc(err), self._address) from err
        finally:
            call.cancel()
