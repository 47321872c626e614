"""API keys: every call but health checks must carry ``authorization: Bearer <key>``.

Keys are compared in constant time and never logged. Without configured keys the
interceptor is not installed at all.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
from pydantic import SecretStr

_OPEN_PREFIX = "/grpc.health."
_MESSAGE = "a valid API key is required: send the metadata 'authorization: Bearer <key>'"


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, keys: Sequence[SecretStr]) -> None:
        if not keys:
            raise ValueError("ApiKeyInterceptor needs at least one key")
        self._keys = [key.get_secret_value().encode() for key in keys]

    def _authorized(self, details: grpc.HandlerCallDetails) -> bool:
        for name, value in details.invocation_metadata or ():
            if name != "authorization":
                continue
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() != "bearer":
                return False
            presented = token.strip().encode()
            # Every key is compared, so timing does not tell which one nearly matched.
            matches = [hmac.compare_digest(presented, key) for key in self._keys]
            return any(matches)
        return False

    async def intercept_service(  # type: ignore[override]  # the stubs bind their own TypeVars
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(_OPEN_PREFIX):
            return handler
        if self._authorized(handler_call_details):
            return handler
        return _refusing(handler)


async def _refuse_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, _MESSAGE)


async def _refuse_stream(
    request: Any, context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[Any]:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, _MESSAGE)
    yield  # pragma: no cover - abort raises


def _refusing(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same kind that answers UNAUTHENTICATED and runs nothing."""
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _refuse_stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.unary_unary_rpc_method_handler(
        _refuse_unary,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
