"""Only the ``runplane`` command quiets gRPC's INFO lines; programs importing the SDK do not."""

from __future__ import annotations

import pytest

from runplane._grpc_logging import started_as_the_command


@pytest.mark.parametrize(
    ("argv", "orig_argv", "expected"),
    [
        (["/venv/bin/runplane", "flow-run", "ls"], ["python", "/venv/bin/runplane"], True),
        (["/x/runplane/cli/__main__.py"], ["python", "-m", "runplane.cli", "ls"], True),
        (["-m"], ["python", "-m", "runplane.cli"], True),
        (["-m"], ["python", "-m", "pytest"], False),
        (["my_flows.py"], ["python", "my_flows.py"], False),
        ([], [], False),
    ],
)
def test_the_command_is_told_apart_from_other_programs(
    argv: list[str], orig_argv: list[str], expected: bool
) -> None:
    assert started_as_the_command(argv, orig_argv) is expected
