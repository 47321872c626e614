"""The channel's API key interceptors."""

from __future__ import annotations

from grpc import aio

from runplane._client.channel import authorization_interceptors

KINDS = (
    aio.UnaryUnaryClientInterceptor,
    aio.UnaryStreamClientInterceptor,
    aio.StreamUnaryClientInterceptor,
    aio.StreamStreamClientInterceptor,
)


def test_each_kind_of_call_gets_an_interceptor_of_its_own() -> None:
    # grpc.aio files an interceptor under the first kind it implements only.
    interceptors = authorization_interceptors("key")
    kinds = [[kind for kind in KINDS if isinstance(i, kind)] for i in interceptors]
    assert kinds == [[kind] for kind in KINDS]


def test_the_key_stays_out_of_reprs() -> None:
    assert all("s3cret" not in repr(i) for i in authorization_interceptors("s3cret"))
