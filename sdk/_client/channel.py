"""Builds the ``grpc.aio`` channel a client talks through: limits, keepalive, retries, TLS, auth."""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

import grpc
from grpc import aio

import runplane.v1
from runplane._client.settings import Endpoint, Settings, parse_api_url

Req = TypeVar("Req")
Resp = TypeVar("Resp")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def contract_services() -> tuple[str, ...]:
    """Every service of the ``runplane.v1`` contract, read from its generated modules, so that
    a service added to the contract is retried like the others without a list to update."""
    names: list[str] = []
    for module in pkgutil.iter_modules(runplane.v1.__path__):
        if module.name.endswith("_pb2"):
            generated = importlib.import_module(f"runplane.v1.{module.name}")
            names.extend(s.full_name for s in generated.DESCRIPTOR.services_by_name.values())
    return tuple(sorted(names))


SERVICES = contract_services()

# gRPC retries UNAVAILABLE itself; state-changing calls carry client-generated ids, so a
# retried call never applies twice.
SERVICE_CONFIG = {
    "methodConfig": [
        {
            "name": [{"service": service} for service in SERVICES],
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.1s",
                "maxBackoff": "5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}

CHANNEL_OPTIONS: tuple[tuple[str, int | str], ...] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # The server accepts client pings every 10 s or more; 30 s keeps idle streams alive
    # through proxies without risking a GOAWAY for pinging too often.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
)


def _with_authorization(details: aio.ClientCallDetails, value: str) -> aio.ClientCallDetails:
    metadata = aio.Metadata(*(details.metadata or ()))
    metadata["authorization"] = value
    return aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=metadata,
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class _Authorization:
    """Adds ``authorization: Bearer <key>`` to the calls of the one kind its subclass intercepts."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<hidden>)"

    def _details(self, details: aio.ClientCallDetails) -> aio.ClientCallDetails:
        return _with_authorization(details, self._value)


class _UnaryUnaryAuthorization(_Authorization, aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self,
        continuation: Callable[
            [aio.ClientCallDetails, Req], Awaitable[aio.UnaryUnaryCall[Req, Resp]]
        ],
        client_call_details: aio.ClientCallDetails,
        request: Req,
    ) -> aio.UnaryUnaryCall[Req, Resp]:
        return await continuation(self._details(client_call_details), request)


class _UnaryStreamAuthorization(_Authorization, aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self,
        continuation: Callable[
            [aio.ClientCallDetails, Req], Awaitable[aio.UnaryStreamCall[Req, Resp]]
        ],
        client_call_details: aio.ClientCallDetails,
        request: Req,
    ) -> AsyncIterator[Resp] | aio.UnaryStreamCall[Req, Resp]:
        return await continuation(self._details(client_call_details), request)


class _StreamUnaryAuthorization(_Authorization, aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self,
        continuation: Callable[
            [aio.ClientCallDetails, AsyncIterable[Req] | Iterable[Req]],
            Awaitable[aio.StreamUnaryCall[Req, Resp]],
        ],
        client_call_details: aio.ClientCallDetails,
        request_iterator: AsyncIterable[Req] | Iterable[Req],
    ) -> aio.StreamUnaryCall[Req, Resp]:
        return await continuation(self._details(client_call_details), request_iterator)


class _StreamStreamAuthorization(_Authorization, aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self,
        continuation: Callable[
            [aio.ClientCallDetails, AsyncIterable[Req] | Iterable[Req]],
            Awaitable[aio.StreamStreamCall[Req, Resp]],
        ],
        client_call_details: aio.ClientCallDetails,
        request_iterator: AsyncIterable[Req] | Iterable[Req],
    ) -> AsyncIterator[Resp] | aio.StreamStreamCall[Req, Resp]:
        return await continuation(self._details(client_call_details), request_iterator)


def authorization_interceptors(api_key: str) -> list[aio.ClientInterceptor]:
    """Interceptors that send the key on every call, raw stub calls included.

    One object per kind of call: ``grpc.aio`` files an interceptor under the first kind it
    implements only, so one object implementing them all would skip every stream.
    """
    value = f"Bearer {api_key}"
    return [
        _UnaryUnaryAuthorization(value),
        _UnaryStreamAuthorization(value),
        _StreamUnaryAuthorization(value),
        _StreamStreamAuthorization(value),
    ]


def _uses_tls(settings: Settings, endpoint: Endpoint) -> bool:
    """TLS for an ``https://`` URL, a CA file or a client certificate (which only TLS can carry)."""
    return endpoint.tls or settings.tls_ca_file is not None or settings.tls_cert_file is not None


def _credentials(settings: Settings) -> grpc.ChannelCredentials:
    def read(path: Path | None) -> bytes | None:
        return None if path is None else path.read_bytes()

    return grpc.ssl_channel_credentials(
        root_certificates=read(settings.tls_ca_file),
        private_key=read(settings.tls_key_file),
        certificate_chain=read(settings.tls_cert_file),
    )


def create_channel(settings: Settings, api_url: str) -> aio.Channel:
    """Opens a channel to ``api_url``; must run inside the event loop that will use it.

    TLS is used when the URL is ``https://`` or a CA file or a client certificate is set.
    """
    asyncio.get_running_loop()  # raises outside a loop: aio channels bind to the current loop
    endpoint = parse_api_url(api_url)
    interceptors: list[aio.ClientInterceptor] = []
    if settings.api_key is not None:
        interceptors = authorization_interceptors(settings.api_key.get_secret_value())
    if _uses_tls(settings, endpoint):
        return aio.secure_channel(
            endpoint.target, _credentials(settings), CHANNEL_OPTIONS, interceptors=interceptors
        )
    return aio.insecure_channel(endpoint.target, CHANNEL_OPTIONS, interceptors=interceptors)


def create_blocking_channel(settings: Settings, api_url: str) -> grpc.Channel:
    """A blocking channel to ``api_url`` with the same options and TLS as ``create_channel``.

    Calls on it run in the calling thread, with no event loop in between. It carries no
    interceptor: callers pass ``authorization_metadata`` on each call. The SDK makes only
    unary calls on it; its streams go through ``create_channel``'s channel.
    """
    endpoint = parse_api_url(api_url)
    if _uses_tls(settings, endpoint):
        return grpc.secure_channel(endpoint.target, _credentials(settings), CHANNEL_OPTIONS)
    return grpc.insecure_channel(endpoint.target, CHANNEL_OPTIONS)


def authorization_metadata(settings: Settings) -> tuple[tuple[str, str], ...] | None:
    """The metadata that authenticates a call, None without an API key."""
    if settings.api_key is None:
        return None
    return (("authorization", f"Bearer {settings.api_key.get_secret_value()}"),)
