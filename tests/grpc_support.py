"""Calling a service method with a raw request and reading the error it must answer."""

from __future__ import annotations

import importlib
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from runplane._client.channel import contract_services

Detail = TypeVar("Detail", bound=Message)


async def invalid_argument_details(address: str, stub_class: Any, request: Message) -> str:
    """Sends ``request`` to the method it is named for (``GetFooRequest`` goes to ``GetFoo``)
    and returns the details of the INVALID_ARGUMENT it must be answered with."""
    async with grpc.aio.insecure_channel(address) as channel:
        method = getattr(stub_class(channel), type(request).__name__.removesuffix("Request"))
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await method(request)
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    return error.value.details() or ""


def status_detail(error: grpc.aio.AioRpcError, kind: type[Detail]) -> Detail:
    """The status detail of type ``kind``."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            unpacked = kind()
            detail.Unpack(unpacked)
            return unpacked
    raise AssertionError(f"no {kind.__name__} in the status")


def bad_field(error: grpc.aio.AioRpcError) -> str:
    """The field the BadRequest detail of an INVALID_ARGUMENT names."""
    (violation,) = status_detail(error, error_details_pb2.BadRequest).field_violations
    return violation.field


def contract_methods() -> dict[str, MethodDescriptor]:
    """Every RPC of the runplane contract, by full method name (``/runplane.v1.X/Y``), read
    from the service descriptors of the generated modules."""
    pool = descriptor_pool.Default()
    return {
        f"/{service}/{method.name}": method
        for service in contract_services()
        for method in pool.FindServiceByName(service).methods
    }


async def refused_field(address: str, request: Message) -> str:
    """Sends ``request`` to the method that takes it, streaming methods included, and returns
    the field that the INVALID_ARGUMENT it must be answered with names."""
    file = request.DESCRIPTOR.file
    service, method = next(
        (service, method)
        for service in file.services_by_name.values()
        for method in service.methods
        if method.input_type is request.DESCRIPTOR
    )
    stubs = importlib.import_module(f"runplane.v1.{file.name.rsplit('/', 1)[-1][:-6]}_pb2_grpc")
    async with grpc.aio.insecure_channel(address) as channel:
        call = getattr(getattr(stubs, f"{service.name}Stub")(channel), method.name)(request)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await (call.read() if isinstance(call, grpc.aio.UnaryStreamCall) else call)
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    return bad_field(error.value)
