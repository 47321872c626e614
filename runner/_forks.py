"""The runner's side of the fork server (``runplane.runner.forkserver``): starts run
processes by asking it to fork, and learns their exit codes from it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping

import anyio
from anyio.abc import Process, UNIXSocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

logger = logging.getLogger("runplane.runner")

FORK_SERVER_MODULE = "runplane.runner.forkserver"
# A line is one environment; far below this even with large job variables.
_MAX_LINE = 16 * 1024 * 1024
# How long the fork server may take to import the engine before the runner does without it.
_READY_TIMEOUT = 30.0
# The exit code of a child whose fork server died before reporting it.
LOST_EXIT_CODE = 255


class ForkServerGone(Exception):
    """The fork server has exited; run processes must be started another way."""


class ForkedProcess:
    """A run's process forked by the fork server, which reaps it and reports its exit code.

    It has the part of ``anyio.abc.Process`` the runner uses: ``pid``, ``returncode``, ``wait``.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._exited = anyio.Event()

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.returncode is not None
        return self.returncode

    def exited(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
            self._exited.set()


class ForkServer:
    """A running fork server: ``start`` forks a run's process with the given environment."""

    def __init__(self, process: Process, stream: UNIXSocketStream) -> None:
        self._process = process
        self._stream = stream
        self._lines = BufferedByteReceiveStream(stream)
        self._lock = anyio.Lock()
        self._replies_in, self._replies = anyio.create_memory_object_stream[ForkedProcess | str](1)
        self._children: dict[int, ForkedProcess] = {}
        self.alive = True

    async def start(self, env: Mapping[str, str]) -> ForkedProcess:
        """Forks a run's process; ``ForkServerGone`` when the fork server has exited,
        ``OSError`` when it could not fork."""
        request = json.dumps({"env": dict(env)}).encode() + b"\n"
        async with self._lock:
            if not self.alive:
                raise ForkServerGone
            try:
                await self._stream.send(request)
                reply = await self._replies.receive()
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
                raise ForkServerGone from None
        if isinstance(reply, str):
            raise OSError(reply)
        return reply

    async def read_replies(self) -> None:
        """Delivers the fork server's answers and exit reports; runs until it hangs up."""
        try:
            while True:
                message = json.loads(await self._lines.receive_until(b"\n", _MAX_LINE))
                if "exited" in message:
                    child = self._children.pop(int(message["exited"]), None)
                    if child is not None:
                        child.exited(int(message["code"]))
                elif "pid" in message:
                    child = self._children[int(message["pid"])] = ForkedProcess(message["pid"])
                    await self._replies_in.send(child)
                elif "error" in message:
                    await self._replies_in.send(str(message["error"]))
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
            logger.error("the fork server exited; runs start as new processes")
        self.alive = False
        self._replies_in.close()
        await self._watch_orphans()

    async def wait_ready(self) -> bool:
        with anyio.move_on_after(_READY_TIMEOUT):
            try:
                message = json.loads(await self._lines.receive_until(b"\n", _MAX_LINE))
            except (anyio.EndOfStream, anyio.IncompleteRead, ValueError):
                return False
            return isinstance(message, dict) and message.get("ready") is True
        return False

    async def close(self) -> None:
        """Hangs up, which tells the fork server to exit; its children live on."""
        self.alive = False
        self._replies_in.close()
        self._replies.close()
        await self._stream.aclose()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(5):
                await self._process.wait()
            if self._process.returncode is None:
                self._process.kill()
                await self._process.wait()

    async def _watch_orphans(self) -> None:
        """Children still running when the fork server died can no longer have their exits
        reported: each is watched through a pidfd and ends with ``LOST_EXIT_CODE``."""
        async with anyio.create_task_group() as group:
            for child in self._children.values():
                group.start_soon(_watch_orphan, child)
        self._children.clear()


async def _watch_orphan(child: ForkedProcess) -> None:
    try:
        fd = os.pidfd_open(child.pid)
    except ProcessLookupError:
        child.exited(LOST_EXIT_CODE)
        return
    try:
        await anyio.wait_readable(fd)
    finally:
        os.close(fd)
    child.exited(LOST_EXIT_CODE)


async def _start_fork_server(inherited_fds: tuple[int, ...]) -> ForkServer | None:
    ours, theirs = socket.socketpair()
    with theirs:
        command = [sys.executable, "-m", FORK_SERVER_MODULE, str(theirs.fileno()), str(os.getpid())]
        try:
            process = await anyio.open_process(
                command,
                pass_fds=(theirs.fileno(), *inherited_fds),
                stdin=None,
                stdout=None,
                stderr=None,
            )
        except OSError as error:
            ours.close()
            logger.warning("cannot start the fork server (%s); runs start as new processes", error)
            return None
    server = ForkServer(process, await UNIXSocketStream.from_socket(ours))
    if not await server.wait_ready():
        await server.close()
        logger.warning("the fork server did not start; runs start as new processes")
        return None
    return server


@contextlib.asynccontextmanager
async def open_fork_server(inherited_fds: tuple[int, ...] = ()) -> AsyncIterator[ForkServer | None]:
    """A fork server for the lifetime of the block; ``None`` when it cannot start, in which
    case run processes are started as new interpreters. ``inherited_fds`` stay open in it,
    and so in every run process it forks (the runner's lifeline)."""
    server = await _start_fork_server(inherited_fds)
    if server is None:
        yield None
        return
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(server.read_replies)
            yield server
            group.cancel_scope.cancel()
    finally:
        await server.close()
