"""The server's reflection serves every file of the contract with its comments."""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool

from runplane.server.reflection import documented_files
from runplane.v1 import (
    artifacts_pb2,
    concurrency_pb2,
    deployments_pb2,
    flow_runs_pb2,
    flows_pb2,
    logs_pb2,
    states_pb2,
    task_runs_pb2,
    variables_pb2,
    work_pb2,
)

CONTRACT = [
    artifacts_pb2,
    concurrency_pb2,
    deployments_pb2,
    flow_runs_pb2,
    flows_pb2,
    logs_pb2,
    states_pb2,
    task_runs_pb2,
    variables_pb2,
    work_pb2,
]


def test_every_contract_file_is_served_with_its_comments() -> None:
    documented = documented_files(descriptor_pool.Default())
    assert set(documented) == {module.DESCRIPTOR.name for module in CONTRACT}
    for name, serialized in documented.items():
        file = descriptor_pb2.FileDescriptorProto.FromString(serialized)
        comments = [loc.leading_comments for loc in file.source_code_info.location]
        assert any(comment.strip() for comment in comments), name
        fields = [f for message in file.message_type for f in message.field]
        assert not any(f.json_name for f in fields), name
