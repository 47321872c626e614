"""Server reflection that serves the contract with its comments.

The generated ``*_pb2`` modules register descriptors without source information, so the
stock reflection servicer answers ``grpcurl describe`` with bare messages. This servicer
answers with the descriptors ``scripts/gen_protos.py`` keeps in ``runplane/v1/descriptors.binpb``
(comments included) and falls back to the stock answer for every other file.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import grpc
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from runplane.server.registration import generic_only

DESCRIPTOR_SET = "descriptors.binpb"


def documented_files(pool: Any) -> dict[str, bytes]:
    """The serialized descriptors of the contract's files, with comments, by file name.

    A file whose descriptor differs from the one ``pool`` holds, besides its comments (a
    descriptor set older than the generated modules), is left out and served without them.
    """
    data = resources.files("runplane.v1").joinpath(DESCRIPTOR_SET).read_bytes()
    documented: dict[str, bytes] = {}
    for file in descriptor_pb2.FileDescriptorSet.FromString(data).file:
        try:
            registered = descriptor_pb2.FileDescriptorProto()
            pool.FindFileByName(file.name).CopyToProto(registered)
        except KeyError:
            continue
        served = _without_json_names(file)
        bare = descriptor_pb2.FileDescriptorProto()
        bare.CopyFrom(served)
        bare.ClearField("source_code_info")
        if bare == registered:
            documented[file.name] = served.SerializeToString()
    return documented


def _without_json_names(
    file: descriptor_pb2.FileDescriptorProto,
) -> descriptor_pb2.FileDescriptorProto:
    """The file without the JSON names that protoc writes into descriptor sets.

    The generated modules register none, and grpcurl then prints the fields by their proto
    names; serving the names would switch its output to lowerCamelCase.
    """
    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(file)
    messages = list(copy.message_type)
    while messages:
        message = messages.pop()
        for field in message.field:
            field.ClearField("json_name")
        messages.extend(message.nested_type)
    return copy


class DocumentedReflectionServicer(reflection.aio.ReflectionServicer):  # type: ignore[misc]  # untyped library
    """The stock reflection servicer, answering file requests with documented descriptors."""

    @functools.cached_property
    def _documented(self) -> dict[str, bytes]:
        # Read on the first file request, not at every server start: most servers are never
        # asked, and the embedded one starts with each process that runs a flow.
        return documented_files(self._pool)

    def _file_by_filename(self, request: Any, filename: str) -> Any:
        try:
            descriptor = self._pool.FindFileByName(filename)
        except KeyError:
            return super()._file_by_filename(request, filename)
        return self._files_response(descriptor, request)

    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        try:
            descriptor = self._pool.FindFileContainingSymbol(fully_qualified_name)
        except KeyError:
            descriptor = self._file_containing_method(fully_qualified_name)
            if descriptor is None:
                return super()._file_containing_symbol(request, fully_qualified_name)
        return self._files_response(descriptor, request)

    def _file_containing_method(self, fully_qualified_name: str) -> Any:
        """The file of a method named ``package.Service.Method``, which the pool does not
        look up as a symbol of its own (``grpcurl describe`` asks for methods by name)."""
        service_name, _, method_name = fully_qualified_name.rpartition(".")
        try:
            service = self._pool.FindServiceByName(service_name)
        except KeyError:
            return None
        return service.file if method_name in service.methods_by_name else None

    def _files_response(self, descriptor: Any, request: Any) -> Any:
        """The file and everything it imports, as the reflection protocol wants them."""
        files: dict[str, Any] = {}
        pending = [descriptor]
        while pending:
            current = pending.pop()
            if current.name not in files:
                files[current.name] = current
                pending.extend(current.dependencies)
        return reflection_pb2.ServerReflectionResponse(
            file_descriptor_response=reflection_pb2.FileDescriptorResponse(
                file_descriptor_proto=[self._serialized(file) for file in files.values()]
            ),
            original_request=request,
        )

    def _serialized(self, file: Any) -> bytes:
        documented = self._documented.get(file.name)
        if documented is not None:
            return documented
        plain = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(plain)
        return plain.SerializeToString()


def enable_documented_reflection(service_names: list[str], server: grpc.aio.Server) -> None:
    """Registers reflection for ``service_names`` on ``server``, comments included."""
    servicer = DocumentedReflectionServicer(service_names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, generic_only(server))
