"""The exit codes the CLI uses are the ones the operations guide lists."""

from __future__ import annotations

import re
from pathlib import Path

from runplane._client.models import State, StateType
from runplane.cli.exit_codes import ExitCode, for_final_states

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_the_guide_lists_every_exit_code() -> None:
    section = GUIDE.read_text(encoding="utf-8").split('<a id="exit-codes"></a>', 1)[1]
    table = section.split("\n\n", 2)[1]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.M)}
    assert documented == {code.value for code in ExitCode}


def test_only_completed_runs_exit_zero() -> None:
    def states(*types: StateType | None) -> list[State | None]:
        return [None if kind is None else State(type=kind) for kind in types]

    assert for_final_states(states(StateType.COMPLETED, StateType.COMPLETED)) is ExitCode.OK
    assert for_final_states(states(StateType.COMPLETED, StateType.FAILED)) == 3
    assert for_final_states(states(StateType.CRASHED)) is ExitCode.RUN_NOT_COMPLETED
    assert for_final_states(states(StateType.RUNNING)) is ExitCode.WATCH_TIMED_OUT
    assert for_final_states(states(None)) is ExitCode.WATCH_TIMED_OUT
