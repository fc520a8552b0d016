"""MCP over this process's stdin and stdout, until EOF or a signal.

The life of a stdio server: :func:`serve_stdio` builds the server, claims
stdin (:func:`_claimed_stdin`: the protocol reads a private duplicate, and fd 0
becomes ``/dev/null`` so that nothing else, an agent included, can read the
client's messages), and serves until the client closes stdin. On SIGINT,
SIGTERM or SIGHUP it first asks the supervisor to kill every agent (Claude Code
SIGKILLs its servers 0.5 s after SIGINT), cancels every call in flight, waits
for them to wind down, and exits; at EOF it does the same without the signal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator
from typing import Any, cast

from claude_pm.mcp_server.calls import SHUTDOWN_GRACE_S, InFlightCalls
from claude_pm.mcp_server.server import build_server
from claude_pm.process import request_shutdown
from claude_pm.tools import ClaudeToolHandler

log = logging.getLogger(__name__)


async def _cancel_on_signal(calls: InFlightCalls, scope: Any) -> None:
    """On SIGINT/SIGTERM/SIGHUP: cancel the calls in flight, let them end, stop serving."""
    import signal

    import anyio
    import anyio.to_thread

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async for signum in signals:
            # Kill the agents first and fast: Claude Code SIGKILLs us 0.5 s after its SIGINT.
            await anyio.to_thread.run_sync(request_shutdown)
            count = calls.cancel_all()
            log.info("signal %d: cancelling %d tool call(s) and stopping", signum, count)
            await anyio.to_thread.run_sync(calls.wait_idle, SHUTDOWN_GRACE_S)
            scope.cancel()
            return


class _PipeLines:
    """Lines from a pipe, read with readiness waits that a cancellation interrupts.

    The SDK reads stdin in a worker thread that no cancellation can stop: a
    server whose client keeps stdin open would never exit on SIGTERM.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""
        self._eof = False

    def __aiter__(self) -> _PipeLines:
        return self

    async def __anext__(self) -> str:
        import anyio

        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0 or (self._eof and self._buffer):
                end = newline + 1 if newline >= 0 else len(self._buffer)
                line, self._buffer = self._buffer[:end], self._buffer[end:]
                return line.decode("utf-8", errors="replace")
            if self._eof:
                raise StopAsyncIteration
            await anyio.wait_readable(self._fd)
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                continue
            if chunk:
                self._buffer += chunk
            else:
                self._eof = True


@contextlib.contextmanager
def _claimed_stdin() -> Iterator[_PipeLines | None]:
    """Take stdin for the protocol when it is a pipe or socket, leaving /dev/null on fd 0.

    Yields None (let the SDK read stdin its own way) for a file or a terminal.
    """
    import fcntl

    try:
        mode = os.fstat(0).st_mode
    except OSError:
        yield None
        return
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        yield None
        return
    private = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    flags = fcntl.fcntl(private, fcntl.F_GETFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(devnull, 0)
        fcntl.fcntl(private, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        yield _PipeLines(private)
    finally:
        fcntl.fcntl(private, fcntl.F_SETFL, flags)
        os.dup2(private, 0)
        os.close(private)
        os.close(devnull)


async def serve_stdio(handler: ClaudeToolHandler) -> None:
    """Serve MCP over this process's stdin and stdout until EOF or SIGINT/SIGTERM."""
    import anyio
    import anyio.to_thread
    from mcp.server.stdio import stdio_server

    calls = InFlightCalls()
    server = build_server(handler, calls)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_on_signal, calls, tg.cancel_scope)
            with _claimed_stdin() as lines:
                async with stdio_server(stdin=cast(Any, lines)) as (read_stream, write_stream):
                    await server.run(
                        read_stream, write_stream, server.create_initialization_options()
                    )
            tg.cancel_scope.cancel()
    finally:
        calls.cancel_all()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(calls.wait_idle, SHUTDOWN_GRACE_S)


def run_stdio(handler: ClaudeToolHandler) -> None:
    """Blocking :func:`serve_stdio`."""
    import anyio

    anyio.run(serve_stdio, handler)
