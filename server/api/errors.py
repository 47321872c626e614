"""Errors as gRPC statuses with ``google.rpc`` details, and the interceptor that sends them.

Handlers raise :class:`ApiError`; the interceptor turns it into a status with an
``ErrorInfo`` (and ``BadRequest`` or ``PreconditionFailure`` when they apply). A database
that cannot be reached (restarting, failing over, locked for too long) is no bug: the call is
answered UNAVAILABLE with a ``RetryInfo``, which clients retry. Any other exception is a
bug: it is logged with its traceback and answered INTERNAL.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from runplane.server.db.engine import database_unreachable
from runplane.server.db.upsert import InsertRaced

logger = logging.getLogger(__name__)

ERROR_DOMAIN = "runplane.dev"


class ApiError(Exception):
    """A client-facing error: a status code, a message and machine-readable details."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str,
        field: str | None = None,
        precondition: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.field = field
        self.precondition = precondition
        self.retry_after = retry_after

    def to_status(self) -> grpc.Status:
        details = [error_details_pb2.ErrorInfo(reason=self.reason, domain=ERROR_DOMAIN)]
        if self.field is not None:
            violation = error_details_pb2.BadRequest.FieldViolation(
                field=self.field, description=self.message
            )
            details.append(error_details_pb2.BadRequest(field_violations=[violation]))
        if self.precondition is not None:
            failure = error_details_pb2.PreconditionFailure.Violation(
                type=self.precondition, description=self.message
            )
            details.append(error_details_pb2.PreconditionFailure(violations=[failure]))
        if self.retry_after is not None:
            delay = duration_pb2.Duration()
            delay.FromTimedelta(timedelta(seconds=self.retry_after))
            details.append(error_details_pb2.RetryInfo(retry_delay=delay))
        packed = []
        for detail in details:
            holder = any_pb2.Any()
            holder.Pack(detail)
            packed.append(holder)
        status = status_pb2.Status(
            code=getattr(code_pb2, self.code.name), message=self.message, details=packed
        )
        converted: grpc.Status = rpc_status.to_status(status)
        return converted


def invalid_argument(field: str, message: str) -> ApiError:
    return ApiError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"{field}: {message}",
        reason="INVALID_ARGUMENT",
        field=field,
    )


def not_found(kind: str, key: object) -> ApiError:
    return ApiError(
        grpc.StatusCode.NOT_FOUND,
        f"{kind} {key} not found",
        reason=f"{kind.upper().replace(' ', '_')}_NOT_FOUND",
    )


def already_exists(kind: str, key: object) -> ApiError:
    return ApiError(
        grpc.StatusCode.ALREADY_EXISTS,
        f"{kind} {key} already exists",
        reason=f"{kind.upper().replace(' ', '_')}_ALREADY_EXISTS",
    )


def failed_precondition(reason: str, message: str) -> ApiError:
    return ApiError(
        grpc.StatusCode.FAILED_PRECONDITION, message, reason=reason, precondition=reason
    )


DATABASE_RETRY_SECONDS = 1.0


def database_unavailable() -> ApiError:
    return ApiError(
        grpc.StatusCode.UNAVAILABLE,
        "the server's database is unavailable; retry shortly",
        reason="DATABASE_UNAVAILABLE",
        retry_after=DATABASE_RETRY_SECONDS,
    )


def concurrent_change(message: str) -> ApiError:
    """Another call changed the same resource in a way that this one could not settle."""
    return ApiError(grpc.StatusCode.ABORTED, message, reason="CONCURRENT_CHANGE")


def shutting_down() -> ApiError:
    """A new stream on a server that is stopping: the client subscribes elsewhere, or later."""
    return ApiError(
        grpc.StatusCode.UNAVAILABLE,
        "the server is shutting down; subscribe again shortly",
        reason="SHUTTING_DOWN",
        retry_after=DATABASE_RETRY_SECONDS,
    )


Handler = Callable[[Any, Any], Any]
_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any], method: str, error: Exception
) -> None:
    if isinstance(error, grpc.aio.AbortError):
        raise error
    if isinstance(error, ApiError):
        await context.abort_with_status(error.to_status())
    if isinstance(error, InsertRaced):
        await context.abort_with_status(concurrent_change(str(error)).to_status())
    if database_unreachable(error):
        # The cause alone, not the statement and its parameters, which may hold user data.
        cause = getattr(error, "orig", None) or error
        logger.warning("%s: the database is unavailable (%s)", method, type(cause).__name__)
        await context.abort_with_status(database_unavailable().to_status())
    logger.error("unexpected error in %s", method, exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, "internal server error (logged on the server)")


class _UnreadableRequest:
    """Stands in for a request whose bytes are not the expected message."""

    def __init__(self, error: str) -> None:
        self.error = error

    def to_error(self) -> ApiError:
        return ApiError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"request: not a valid message of this method ({self.error})",
            reason="MALFORMED_REQUEST",
            field="request",
        )


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """A deserializer that turns undecodable bytes into INVALID_ARGUMENT instead of INTERNAL."""
    if deserializer is None:
        return None

    def read(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as error:
            return _UnreadableRequest(str(error))

    return read


def _guard_unary(behavior: Handler, method: str) -> Handler:
    async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            if isinstance(request, _UnreadableRequest):
                raise request.to_error()
            return await behavior(request, context)
        except Exception as error:
            await _abort(context, method, error)

    return guarded


def _guard_stream(behavior: Handler, method: str) -> Handler:
    async def guarded(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        try:
            if isinstance(request, _UnreadableRequest):
                raise request.to_error()
            async for item in behavior(request, context):
                yield item
        except Exception as error:
            await _abort(context, method, error)

    return guarded


def _guard_bidi(behavior: Handler, method: str) -> Handler:
    async def guarded(
        requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        async def readable() -> AsyncIterator[Any]:
            async for request in requests:
                if isinstance(request, _UnreadableRequest):
                    raise request.to_error()
                yield request

        try:
            async for item in behavior(readable(), context):
                yield item
        except Exception as error:
            await _abort(context, method, error)

    return guarded


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Answers :class:`ApiError` with its status and anything unexpected with INTERNAL.

    Health checking and reflection are guarded too: they need no API key, so anyone can send
    them bytes that do not decode, and that must cost an INVALID_ARGUMENT, not a traceback in
    the server's log.

    The guarded handler of each method is built once and reused for every call.
    """

    def __init__(self) -> None:
        self._guarded: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    async def intercept_service(  # type: ignore[override]  # the stubs bind their own TypeVars
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method = handler_call_details.method
        cached = self._guarded.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        guarded = _guard(handler, method)
        self._guarded[method] = guarded
        return guarded


def _guard(
    handler: grpc.RpcMethodHandler[Any, Any], method: str
) -> grpc.RpcMethodHandler[Any, Any]:
    deserializer = _tolerant(handler.request_deserializer)
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _guard_unary(handler.unary_unary, method),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _guard_stream(handler.unary_stream, method),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            _guard_bidi(handler.stream_stream, method),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler
