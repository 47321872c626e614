"""A run's process, and its whole process group, ends when its runner dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import anyio
from process_support import wait_exited

# A stand-in for a runner: opens the lifeline, starts a run's process in a session of its own
# with the read end, prints the pids, and waits to be killed.
RUNNER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from runplane.runner._lifeline import Lifeline

    line = Lifeline()
    child = subprocess.Popen(
        [sys.executable, "-c", sys.argv[1]],
        env={**os.environ, **line.environment()},
        pass_fds=(line.read_fd,),
        start_new_session=True,
    )
    print(child.pid, flush=True)
    time.sleep(120)
    """
)

# A run's process: starts a worker in its own process group (as a process pool would), then
# watches the runner, like ``python -m runplane.runner.execute``.
RUN = textwrap.dedent(
    """
    import subprocess, sys, time
    from runplane.runner._lifeline import watch_runner

    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    watch_runner()
    print(worker.pid, flush=True)
    time.sleep(120)
    """
)


def test_a_run_process_and_its_workers_end_when_the_runner_is_killed() -> None:
    command = [sys.executable, "-c", RUNNER, RUN]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as runner:
        assert runner.stdout is not None
        run_pid = int(runner.stdout.readline())
        worker_pid = int(runner.stdout.readline())
        os.kill(runner.pid, signal.SIGKILL)
    anyio.run(wait_exited, run_pid, 10.0)
    anyio.run(wait_exited, worker_pid, 10.0)


def test_a_run_process_started_after_its_runner_died_ends_at_once() -> None:
    # The runner is gone before the process looks: the pipe is at its end already.
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    env = {**os.environ, "RUNPLANE_RUNNER_LIFELINE_FD": str(read_fd)}
    command = [sys.executable, "-c", RUN]
    with (
        subprocess.Popen(
            command, env=env, pass_fds=(read_fd,), start_new_session=True, stdout=subprocess.PIPE
        ) as run,
    ):
        os.close(read_fd)
        assert run.stdout is not None
        worker_pid = int(run.stdout.readline() or 0)
        assert run.wait(timeout=10) == -signal.SIGKILL
    if worker_pid:
        anyio.run(wait_exited, worker_pid, 10.0)


def test_the_fork_server_exits_when_its_runner_died_before_it_asked_the_kernel() -> None:
    # A runner pid that is not its parent: the runner is taken for gone, and it exits.
    code = subprocess.call(
        [sys.executable, "-m", "runplane.runner.forkserver", "0", str(os.getpid() + 999999)]
    )
    assert code == 0
