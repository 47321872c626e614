"""API keys and their roles: every call but health checks must carry
``authorization: Bearer <key>``, of a key whose role the method needs.

A call without a valid key is answered UNAUTHENTICATED; one whose key's role is too low,
PERMISSION_DENIED naming the role needed and the key's (reason ``ROLE_REQUIRED``). Either way
no handler runs. Keys are compared in constant time and never logged. Without configured keys
the interceptor is not installed at all.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc

from runplane.server.api.errors import ApiError
from runplane.server.api.method_roles import required_role
from runplane.server.api_keys import ApiKey, Role

_MESSAGE = "a valid API key is required: send the metadata 'authorization: Bearer <key>'"

Refusal = Callable[[grpc.aio.ServicerContext[Any, Any]], Awaitable[None]]


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    """Lets a call reach its handler only with a key whose role the method needs; otherwise
    answers with a refusal of the same kind of call, so that a stream is refused as a stream."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        if not keys:
            raise ValueError("ApiKeyInterceptor needs at least one key")
        self._keys = [(key.secret.get_secret_value().encode(), key.role) for key in keys]

    def _role_of(self, details: grpc.HandlerCallDetails) -> Role | None:
        """The role of the key the call presents; None without a valid key."""
        for name, value in details.invocation_metadata or ():
            if name != "authorization":
                continue
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() != "bearer":
                return None
            presented = token.strip().encode()
            # Every key is compared, so timing does not tell which one nearly matched.
            matches = [role for key, role in self._keys if hmac.compare_digest(presented, key)]
            return matches[0] if matches else None
        return None

    async def intercept_service(  # type: ignore[override]  # the stubs bind their own TypeVars
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        needed = required_role(method)
        if handler is None or needed is None:
            return handler
        role = self._role_of(handler_call_details)
        if role is None:
            return _refusing(handler, _unauthenticated)
        if role < needed:
            return _refusing(handler, _permission_denied(method, needed, role))
        return handler


async def _unauthenticated(context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, _MESSAGE)


def role_required(method: str, needed: Role, role: Role) -> ApiError:
    """The error for a valid key whose role is below the one ``method`` needs."""
    name = method.rpartition("/")[2]
    return ApiError(
        grpc.StatusCode.PERMISSION_DENIED,
        f"{name} needs the {needed.label} role; this key has {role.label}",
        reason="ROLE_REQUIRED",
    )


def _permission_denied(method: str, needed: Role, role: Role) -> Refusal:
    status = role_required(method, needed, role).to_status()

    async def refuse(context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort_with_status(status)

    return refuse


def _refusing(
    handler: grpc.RpcMethodHandler[Any, Any], refuse: Refusal
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same kind that answers with ``refuse`` and runs nothing."""

    async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await refuse(context)

    async def stream(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        await refuse(context)
        yield  # pragma: no cover - the refusal aborts

    serializers: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.stream_stream is not None:
        # Reflection is the one bidirectional method; its requests are never read.
        return grpc.stream_stream_rpc_method_handler(stream, **serializers)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(unary, **serializers)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(stream, **serializers)
    return grpc.unary_unary_rpc_method_handler(unary, **serializers)
