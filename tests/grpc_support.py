"""Calling a service method with a raw request and reading the error it must answer."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf.message import Message


async def invalid_argument_details(address: str, stub_class: Any, request: Message) -> str:
    """Sends ``request`` to the method it is named for (``GetFooRequest`` goes to ``GetFoo``)
    and returns the details of the INVALID_ARGUMENT it must be answered with."""
    async with grpc.aio.insecure_channel(address) as channel:
        method = getattr(stub_class(channel), type(request).__name__.removesuffix("Request"))
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await method(request)
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    return error.value.details() or ""
