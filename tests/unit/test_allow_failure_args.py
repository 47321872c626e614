"""Which upstream futures ``allow_failure`` excuses, and what a wrapped argument becomes."""

from __future__ import annotations

import concurrent.futures
import uuid

from runplane import allow_failure
from runplane._client.states import StateType
from runplane._engine.outcome import Outcome
from runplane._engine.parameters import allowed_to_fail, find_futures, replace_futures
from runplane._futures import RunplaneFuture


def _done(
    outcome_type: StateType, value: object = None, error: BaseException | None = None
) -> RunplaneFuture[object]:
    """A future whose run has already ended."""
    run_id = uuid.uuid4()
    inner: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
    inner.set_result(
        Outcome(run_id, outcome_type, outcome_type.value.title(), value=value, error=error)
    )
    return RunplaneFuture[object](run_id, inner)


def test_only_futures_wrapped_everywhere_are_excused() -> None:
    failed = _done(StateType.FAILED, error=ValueError("x"))
    done = _done(StateType.COMPLETED, value=3)
    arguments = ((allow_failure(failed), [allow_failure(done)]), {"again": done})
    assert find_futures(arguments) == [failed, done, done]
    assert allowed_to_fail(arguments) == {failed}


def test_a_wrapped_future_becomes_its_exception_or_value() -> None:
    error = ValueError("broken")
    failed = _done(StateType.FAILED, error=error)
    done = _done(StateType.COMPLETED, value=3)
    resolved = replace_futures({"a": allow_failure(failed), "b": [allow_failure(done)]})
    assert resolved == {"a": error, "b": [3]}
    assert replace_futures(allow_failure(5)) == 5
