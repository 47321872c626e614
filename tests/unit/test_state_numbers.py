"""The orchestration enums are the protobuf enums: the same names with the same numbers.

The server stores and compares these numbers (in SQL too), so a member added or renumbered on
one side only would mean a different state on the other.
"""

from __future__ import annotations

import enum

import pytest
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from runplane.server.orchestration import OrchestrationStatus, StateType
from runplane.v1 import states_pb2

PAIRS = [
    (StateType, states_pb2.StateType, "STATE_TYPE_"),
    (OrchestrationStatus, states_pb2.OrchestrationStatus, "ORCHESTRATION_STATUS_"),
]


def _proto_numbers(proto: EnumTypeWrapper, prefix: str) -> dict[str, int]:
    """The proto enum's values by their short name, without the UNSPECIFIED zero value."""
    numbers = {name.removeprefix(prefix): int(number) for name, number in proto.items()}
    assert numbers.pop("UNSPECIFIED") == 0
    return numbers


@pytest.mark.parametrize(("ours", "proto", "prefix"), PAIRS)
def test_every_member_is_the_proto_value_of_its_name(
    ours: type[enum.IntEnum], proto: EnumTypeWrapper, prefix: str
) -> None:
    numbers = _proto_numbers(proto, prefix)
    assert {member.name: member.value for member in ours} == numbers


@pytest.mark.parametrize(("ours", "proto", "prefix"), PAIRS)
def test_every_proto_value_has_a_member(
    ours: type[enum.IntEnum], proto: EnumTypeWrapper, prefix: str
) -> None:
    for name, number in _proto_numbers(proto, prefix).items():
        assert ours[name] == number
        assert ours(number).name == name
