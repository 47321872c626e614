"""Hostile and odd requests, generated from a request's descriptor with a seeded generator.

A request is built field by field: odd strings (empty, huge, NUL, control sequences, unicode,
UUID-like and not), boundary numbers, unknown enum values, deep and malformed JSON text, none
or many repeated items; or it is raw bytes that may not decode at all. Some of the time a field
that names an object gets the id or name of a real one, so that requests get past lookups into
the code behind them.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import message_factory, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

INT32 = (0, 1, -1, 2**31 - 1, -(2**31))
INT64 = (*INT32, 2**53 + 1, 2**63 - 1, -(2**63))
UINT32 = (0, 1, 2**32 - 1)
UINT64 = (0, 1, 2**64 - 1)
FLOATS = (0.0, -0.0, -1.0, 0.5, 1e308, -1e308, 5e-324, float("nan"), float("inf"), float("-inf"))
ODD_STRINGS = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x01\x07\x1b[2J\x1b]0;title\x07",
    "\t\r\n",
    "\u202eevil",
    "名前",
    "😀",
    "\U0010ffff",
    "%",
    "_",
    "*",
    "\\",
    "' OR '1'='1",
    "../../etc/passwd",
    "00000000-0000-0000-0000-000000000000",
    "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
    "{00000000-0000-0000-0000-000000000000}",
    "00000000000000000000000000000000",
    "not-a-uuid",
    "null",
    "-1",
    "1e400",
    "NaN",
    "2020-01-01T00:00:00Z",
    "* * * * *",
    "FREQ=SECONDLY",
    "Mars/Olympus",
    "pickle",
    "json",
    "file:///etc",
)
JSON_TEXTS = (
    "",
    "null",
    "NaN",
    "Infinity",
    "-Infinity",
    '{"x": NaN}',
    "[1e400]",
    "123456789012345678901234567890",
    "-0",
    "1.0",
    '{"a":',
    "{'a': 1}",
    "[1,]",
    '"\\u0000"',
    '{"\\u0000": "a\\u0000b"}',
    '"\\ud800"',
    '{"a": 1, "a": 2}',
    '{"type": "object", "properties": {"x": {"type": "integer"}}}',
    '{"type": 5}',
    '{"$ref": "#/definitions/nope"}',
    '{"x": 1}',
    "[]",
    "{}",
    '"text"',
    "true",
    " \n",
    "\x00",
)


@dataclass
class KnownObjects:
    """Ids and names of real objects, by the field names that refer to them."""

    by_field: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_service: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, service: str, value: str, *fields: str) -> None:
        self.by_service[service].append(value)
        for name in fields:
            self.by_field[name].append(value)

    def lookup(self, service: str, field_name: str) -> list[str]:
        """Real values for ``field_name``; ``id``, ``name`` and ``key`` mean the service's own
        objects."""
        values = self.by_field.get(field_name.removesuffix("s"), [])
        if values:
            return values
        if field_name in ("id", "name", "key", "names"):
            return self.by_service.get(service, [])
        return []


class RequestGenerator:
    """Builds one request message at random, field by field from its descriptor."""

    def __init__(self, rng: random.Random, known: KnownObjects, service: str) -> None:
        self.rng = rng
        self.known = known
        self.service = service
        # The share of values that are odd; the others are plausible, so that a request with
        # one odd value gets past the validation of the rest.
        self.hostility = rng.choice((0.05, 0.2, 1.0))

    def _plausible(self) -> bool:
        return self.rng.random() >= self.hostility

    def message(self, descriptor: Descriptor, depth: int = 0, small: bool = False) -> Message:
        """A message of type ``descriptor``; ``small`` ones (items of a repeated field) get no
        huge strings, so that a request stays under the message size limit."""
        message = message_factory.GetMessageClass(descriptor)()
        if descriptor.full_name in ("google.protobuf.Struct", "google.protobuf.Value"):
            values = struct_pb2.Struct()
            values.update({"v": self.json_like(depth)})
            message.CopyFrom(
                values if descriptor.full_name.endswith("Struct") else values.fields["v"]
            )
            return message
        for one in descriptor.fields:
            if depth > 3 or self.rng.random() < 0.25:
                continue
            self._set(message, one, depth, small)
        return message

    def _set(self, message: Message, one: FieldDescriptor, depth: int, small: bool) -> None:
        target = getattr(message, one.name)
        if _is_map(one):
            key_field, value_field = one.message_type.fields
            for _ in range(self._count(depth)):
                key = self.scalar(key_field, small=True)
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    item = self.message(value_field.message_type, depth + 1, small=True)
                    target[key].CopyFrom(item)
                else:
                    target[key] = self.scalar(value_field, small=True)
        elif one.is_repeated:
            for _ in range(self._count(depth)):
                if one.type == FieldDescriptor.TYPE_MESSAGE:
                    target.add().CopyFrom(self.message(one.message_type, depth + 1, small=True))
                else:
                    target.append(self.scalar(one, small=True))
        elif one.type == FieldDescriptor.TYPE_MESSAGE:
            target.CopyFrom(self._nested(one, message.DESCRIPTOR, depth, small))
        else:
            setattr(message, one.name, self.scalar(one, small))

    def _nested(self, one: FieldDescriptor, parent: Descriptor, depth: int, small: bool) -> Message:
        if one.message_type.full_name != "google.protobuf.FieldMask":
            return self.message(one.message_type, depth + 1, small)
        # Paths name the fields of the message the mask updates, and some that do not exist.
        mask = message_factory.GetMessageClass(one.message_type)()
        updated = self._first_message_field(parent, one.name)
        paths = [f.name for f in updated.fields] if updated is not None else []
        for _ in range(self._count(depth)):
            mask.paths.append(self.rng.choice([*paths, *ODD_STRINGS[:6], "a.b.c"]))
        return mask

    @staticmethod
    def _first_message_field(parent: Descriptor, skip: str) -> Descriptor | None:
        for one in parent.fields:
            if one.type == FieldDescriptor.TYPE_MESSAGE and one.name != skip:
                return one.message_type  # type: ignore[no-any-return]
        return None

    def _count(self, depth: int) -> int:
        return self.rng.choice((0, 1, 1, 2, 3, 50, 300 if depth == 0 else 20))

    def scalar(self, one: FieldDescriptor, small: bool) -> Any:
        kind = one.type
        if kind == FieldDescriptor.TYPE_STRING:
            return self.string(one.name, small)
        if self._plausible():
            return self.plausible(one)
        if kind == FieldDescriptor.TYPE_BYTES:
            return self.rng.randbytes(self.rng.choice((0, 1, 16, 1000)))
        if kind == FieldDescriptor.TYPE_BOOL:
            return self.rng.random() < 0.5
        if kind == FieldDescriptor.TYPE_ENUM:
            known = [v.number for v in one.enum_type.values]
            return self.rng.choice([*known, *known, 999, -1, 2**31 - 1, -(2**31)])
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return self.rng.choice((*FLOATS, self.rng.uniform(-1e6, 1e6)))
        return self.rng.choice((*_integers(kind), self.rng.randint(-1000, 1000)))

    def plausible(self, one: FieldDescriptor) -> Any:
        """A value of the field's type that is likely valid."""
        kind = one.type
        if kind == FieldDescriptor.TYPE_BYTES:
            return b"fuzz"
        if kind == FieldDescriptor.TYPE_BOOL:
            return self.rng.random() < 0.5
        if kind == FieldDescriptor.TYPE_ENUM:
            return self.rng.choice([v.number for v in one.enum_type.values])
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return self.rng.choice((0.5, 1.0, 30.0))
        if one.name == "seconds":  # of a Timestamp or a Duration
            return self.rng.randint(1, 2_000_000_000)
        return self.rng.choice((1, 2, 10, 100))

    def string(self, name: str, small: bool) -> str:
        real = self.known.lookup(self.service, name)
        if self._plausible():
            if name.endswith("_json"):
                return self.rng.choice(('{"x": 1}', "{}", "1", '"text"', "[1, 2.5]"))
            if real:
                return self.rng.choice(real)
            return self.rng.choice(("fuzz", f"fuzz-{self.rng.randrange(1000)}", "x", "a b"))
        if name.endswith("_json"):
            return self.json_text()
        roll = self.rng.random()
        if real and roll < 0.45:
            return self.rng.choice(real)
        if roll < 0.75:
            return self.rng.choice(ODD_STRINGS)
        if roll < 0.85 and not small:
            return self.rng.choice("ax\x00é😀") * self.rng.choice((256, 1025, 70_000))
        return "".join(chr(self.rng.randint(1, 0xD7FF)) for _ in range(self.rng.randint(1, 12)))

    def json_text(self) -> str:
        roll = self.rng.random()
        if roll < 0.5:
            return self.rng.choice(JSON_TEXTS)
        if roll < 0.65:
            depth = self.rng.choice((50, 1000, 100_000))
            return "[" * depth + "]" * depth
        if roll < 0.75:
            return '{"a":' * 2000 + "1" + "}" * 2000
        return self.rng.choice(('{"p": %s}', "[%s]", "%s")) % self.rng.choice(
            ("1", "1.0", str(2**64 + 1), "1e-400", '"\\u001b[2J"', "[" + "1," * 10_000 + "1]")
        )

    def json_like(self, depth: int) -> Any:
        roll = self.rng.random()
        if roll < 0.3 and depth < 40:
            return {self.rng.choice(ODD_STRINGS[:8]): self.json_like(depth + 1)}
        if roll < 0.45 and depth < 40:
            return [self.json_like(depth + 1) for _ in range(self.rng.randint(0, 3))]
        return self.rng.choice((*FLOATS, 2**53 + 1, 1, "a\x00b", "", True, None))

    def raw_bytes(self, descriptor: Descriptor) -> bytes:
        """Bytes that may not decode as the request: random, truncated or with bits flipped."""
        roll = self.rng.random()
        if roll < 0.4:
            return self.rng.randbytes(self.rng.choice((1, 5, 64, 1000)))
        encoded = bytearray(self.message(descriptor).SerializeToString())
        if not encoded:
            return b"\xff\xff\xff\xff\xff\x0f"
        if roll < 0.7:
            return bytes(encoded[: self.rng.randrange(len(encoded))])
        for _ in range(self.rng.randint(1, 4)):
            encoded[self.rng.randrange(len(encoded))] ^= 1 << self.rng.randrange(8)
        return bytes(encoded)


def _integers(kind: int) -> tuple[int, ...]:
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return UINT32
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return UINT64
    if kind in (
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED64,
    ):
        return INT64
    return INT32


def _is_map(one: FieldDescriptor) -> bool:
    return (
        one.type == FieldDescriptor.TYPE_MESSAGE
        and one.is_repeated
        and one.message_type.GetOptions().map_entry
    )
