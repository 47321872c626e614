"""The contract's documented descriptors: the comments of message fields, and the string
fields that requests can carry."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from google.protobuf import descriptor_pb2

# How a field's comment states the longest value the server takes.
MAXIMUM = re.compile(r"at most ([\d,]+) (characters|bytes|KiB|MiB)", re.IGNORECASE)
_UNITS = {"kib": 1024, "mib": 1024 * 1024}
IGNORED = re.compile(r"ignored in requests", re.IGNORECASE)
_MESSAGE_TYPE = 4  # FileDescriptorProto.message_type
_FIELD = 2  # DescriptorProto.field
_NESTED = 3  # DescriptorProto.nested_type


@cache
def _files() -> tuple[descriptor_pb2.FileDescriptorProto, ...]:
    data = resources.files("runplane.v1").joinpath("descriptors.binpb").read_bytes()
    files = descriptor_pb2.FileDescriptorSet.FromString(data).file
    return tuple(file for file in files if file.package == "runplane.v1")


@cache
def _messages() -> dict[str, descriptor_pb2.DescriptorProto]:
    """Every message of the contract, nested ones included, by full name (".runplane.v1.X")."""
    found: dict[str, descriptor_pb2.DescriptorProto] = {}

    def add(prefix: str, message: descriptor_pb2.DescriptorProto) -> None:
        name = f"{prefix}.{message.name}"
        found[name] = message
        for nested in message.nested_type:
            add(name, nested)

    for file in _files():
        for message in file.message_type:
            add(f".{file.package}", message)
    return found


@cache
def field_comments() -> dict[tuple[str, str], str]:
    """The leading comment of every field, by (message full name, field name)."""
    comments: dict[tuple[str, str], str] = {}
    for file in _files():
        for location in file.source_code_info.location:
            path = list(location.path)
            if len(path) < 4 or path[0] != _MESSAGE_TYPE or path[-2] != _FIELD:
                continue
            message = file.message_type[path[1]]
            name = f".{file.package}.{message.name}"
            for step in range(2, len(path) - 2, 2):
                if path[step] != _NESTED:
                    break
                message = message.nested_type[path[step + 1]]
                name = f"{name}.{message.name}"
            else:
                field = message.field[path[-1]].name
                comments[(name, field)] = " ".join(location.leading_comments.split())
    return comments


def request_messages() -> list[str]:
    """The input message of every method of every service, by full name."""
    return [method.input_type for file in _files() for s in file.service for method in s.method]


def request_string_fields() -> list[tuple[str, str]]:
    """Every (message, field) holding text that a request can carry, however deep: string
    fields, and maps keyed by strings (their key), in the contract's own messages."""
    messages = _messages()
    seen: set[str] = set()
    found: list[tuple[str, str]] = []
    pending = request_messages()
    while pending:
        name = pending.pop()
        if name in seen or name not in messages:
            continue  # google.protobuf types carry JSON values, bounded in bytes
        seen.add(name)
        for field in messages[name].field:
            if field.type == descriptor_pb2.FieldDescriptorProto.TYPE_STRING:
                found.append((name, field.name))
            elif field.type == descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE:
                entry = messages.get(field.type_name)
                if entry is not None and entry.options.map_entry:
                    if entry.field[0].type == descriptor_pb2.FieldDescriptorProto.TYPE_STRING:
                        found.append((name, field.name))
                    pending.append(entry.field[1].type_name)
                else:
                    pending.append(field.type_name)
    return sorted(found)


def documented_maximum(message: str, field: str) -> int:
    """The maximum that the field's comment states."""
    match = MAXIMUM.search(field_comments()[(message, field)])
    assert match is not None, f"{message}.{field} states no maximum"
    return int(match[1].replace(",", "")) * _UNITS.get(match[2].lower(), 1)
