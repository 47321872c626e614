"""Drives a flow call through its steps, for synchronous and asynchronous flows."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from runplane._engine.errors import FlowSuspended, LeaseLost
from runplane._engine.flow_call import FlowCall
from runplane._engine.off_loop import off_loop
from runplane._engine.signals import sigterm_raises
from runplane._engine.timeouts import sync_timeout, with_timeout

if TYPE_CHECKING:
    from runplane._client.models import FlowRun
    from runplane._flows import Flow


def _signals(call: FlowCall) -> AbstractContextManager[bool]:
    return sigterm_raises() if call.top_level else nullcontext(False)


def run_flow(
    flow: Flow[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    return_state: bool,
    existing: FlowRun | None = None,
    lease_id: uuid.UUID | None = None,
) -> Any:
    """Runs a synchronous flow to its final state; returns its value (or the state)."""
    call = FlowCall(flow, args, kwargs, existing, lease_id)
    with _signals(call) as interruptible:
        call.interruptible = interruptible
        try:
            if call.start():
                while call.begin_attempt():
                    call_args, call_kwargs = call.call_arguments()
                    try:
                        with call.context(), sync_timeout(flow.timeout_seconds):
                            value = flow.fn(*call_args, **call_kwargs)
                    except Exception as error:
                        wait = call.failed(error)
                    else:
                        wait = call.succeeded(value)
                    if wait is None:
                        break
                    time.sleep(wait)
        except FlowSuspended:
            call.suspended()
        except LeaseLost:
            call.lease_lost()
            raise
        except BaseException as error:
            call.crashed(error)
            raise
    return call.outcome(return_state)


async def run_flow_async(
    flow: Flow[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    return_state: bool,
    existing: FlowRun | None = None,
    lease_id: uuid.UUID | None = None,
) -> Any:
    """Runs an async flow to its final state in the running event loop.

    The flow's code runs in the loop; each step around it that talks to the server (and
    may wait: a WAIT answer, the task runs to finish, the reports to be acknowledged)
    runs in a worker thread, so that the loop keeps running other coroutines meanwhile.
    """
    call = FlowCall(flow, args, kwargs, existing, lease_id)
    with _signals(call) as interruptible:
        call.interruptible = interruptible
        try:
            # One hand-off for the start and the first attempt: each costs a thread switch.
            running = await off_loop(_start_first_attempt, call)
            while running:
                call_args, call_kwargs = call.call_arguments()
                try:
                    with call.context():
                        value = await with_timeout(
                            flow.fn(*call_args, **call_kwargs), flow.timeout_seconds
                        )
                except Exception as error:
                    wait = await off_loop(call.failed, error)
                else:
                    wait = await off_loop(call.succeeded, value)
                if wait is None:
                    break
                await asyncio.sleep(wait)
                running = await off_loop(call.begin_attempt)
        except FlowSuspended:
            await off_loop(call.suspended)
        except LeaseLost:
            call.lease_lost()
            raise
        except BaseException as error:
            # Blocking, on purpose: the loop may be stopping (a cancelled task, an
            # interrupt), and the crash must be reported all the same.
            call.crashed(error)
            raise
    return call.outcome(return_state)


def _start_first_attempt(call: FlowCall) -> bool:
    return call.start() and call.begin_attempt()
