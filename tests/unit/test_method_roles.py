"""Every RPC of the contract has a role in the one table the API key check reads."""

from __future__ import annotations

from grpc_reflection.v1alpha import reflection_pb2
from grpc_support import contract_methods

from runplane.server.api.method_roles import REQUIRED_ROLES, required_role
from runplane.server.api_keys import Role

REFLECTION = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]
REFLECTION_INFO = f"/{REFLECTION.full_name}/ServerReflectionInfo"


def test_every_rpc_of_the_contract_has_a_role() -> None:
    missing = sorted(set(contract_methods()) - set(REQUIRED_ROLES))
    assert missing == []


def test_every_entry_of_the_table_is_an_rpc_the_server_serves() -> None:
    served = {*contract_methods(), REFLECTION_INFO}
    assert sorted(set(REQUIRED_ROLES) - served) == []


def _short(method: str) -> str:
    return method.rpartition("/")[2]


def test_deleting_needs_admin_and_reading_needs_read() -> None:
    methods = contract_methods()
    deletes = {m: REQUIRED_ROLES[m] for m in methods if _short(m).startswith("Delete")}
    assert deletes
    assert set(deletes.values()) == {Role.ADMIN}
    reads = {
        m: REQUIRED_ROLES[m]
        for m in methods
        if _short(m).startswith(("Get", "List", "Watch", "Follow"))
    }
    assert reads
    assert set(reads.values()) == {Role.READ}


def test_health_is_open_reflection_needs_a_key_and_unknown_methods_need_admin() -> None:
    assert required_role("/grpc.health.v1.Health/Check") is None
    assert required_role("/grpc.health.v1.Health/Watch") is None
    assert required_role(REFLECTION_INFO) is Role.READ
    assert required_role("/runplane.v1.FlowService/SomethingNew") is Role.ADMIN
