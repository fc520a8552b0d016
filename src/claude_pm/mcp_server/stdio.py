"""MCP over this process's stdin and stdout, one JSON-RPC message per line, until EOF or a signal.

The life of a stdio server: :func:`serve_stdio` builds the server and claims
both standard streams (:func:`_claimed_stdio`): the protocol reads and writes
private duplicates, fd 0 becomes ``/dev/null`` (nothing else, an agent
included, can read the client's messages) and fd 1 points at stderr (a stray
``print`` cannot corrupt the protocol). Then three tasks run:

- the reader splits stdin into lines (:class:`_LineReader`) with readiness
  waits a cancellation interrupts. A line longer than
  :data:`~claude_pm.mcp_server.wire.MAX_MESSAGE_BYTES` is skipped as it
  arrives, never held whole, and answered with one error; every other line is
  decoded by :func:`~claude_pm.mcp_server.wire.decode`, and what does not
  decode is answered too, so no request goes unanswered;
- the SDK's server serves what was decoded;
- the writer sends what the server and the reader answer, one line each,
  through :func:`~claude_pm.mcp_server.wire.encode`, which always produces a
  line for a response.

At EOF the reader closes its side, the server finishes, and the writer drains.
On SIGINT, SIGTERM or SIGHUP the server first asks the supervisor to kill
every agent (Claude Code SIGKILLs its servers 0.5 s after SIGINT), cancels
every call in flight, waits for them to wind down, and exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from claude_pm.mcp_server import wire
from claude_pm.mcp_server.calls import SHUTDOWN_GRACE_S, InFlightCalls
from claude_pm.mcp_server.server import build_server
from claude_pm.process import request_shutdown
from claude_pm.tools import ClaudeToolHandler

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server

log = logging.getLogger(__name__)

#: Bytes asked of the pipe per read.
READ_CHUNK_BYTES = 64 * 1024
#: Lines at least this long are decoded in a worker thread (a refused one may take a scan).
THREAD_DECODE_BYTES = 256 * 1024


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


@dataclass(frozen=True)
class _Oversized:
    """A line over the limit, skipped: its size, and its first and last bytes (to find its id)."""

    size_bytes: int
    head: bytes
    tail: bytes


def _pollable(fd: int) -> bool:
    """Whether readiness waits work on ``fd`` (a pipe or a socket; not a file or a terminal)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class _LineReader:
    """Lines from a file descriptor, each at most ``limit`` bytes, read with cancellable waits.

    On a pipe or socket, reads wait for readiness (a cancellation interrupts
    them, so a server whose client keeps stdin open still exits on SIGTERM);
    on a file or terminal they run in a worker thread.
    """

    def __init__(self, fd: int | None, *, pollable: bool, limit: int = wire.MAX_MESSAGE_BYTES):
        self._fd = fd
        self._pollable = pollable
        self._limit = limit
        self._buffer = bytearray()
        self._scanned = 0
        self._eof = fd is None

    async def _read(self) -> bytes:
        import anyio
        import anyio.to_thread

        assert self._fd is not None
        if not self._pollable:
            return await anyio.to_thread.run_sync(
                os.read, self._fd, READ_CHUNK_BYTES, abandon_on_cancel=True
            )
        while True:
            await anyio.wait_readable(self._fd)
            try:
                return os.read(self._fd, READ_CHUNK_BYTES)
            except BlockingIOError:
                continue

    async def next_line(self) -> bytes | _Oversized | None:
        """The next line without its newline, an oversized one skipped, or None at EOF."""
        while True:
            newline = self._buffer.find(b"\n", self._scanned)
            if newline > self._limit:
                skipped = _Oversized(
                    newline,
                    bytes(self._buffer[: wire.OVERSIZED_HEAD_BYTES]),
                    bytes(self._buffer[max(0, newline - wire.OVERSIZED_TAIL_BYTES) : newline]),
                )
                del self._buffer[: newline + 1]
                self._scanned = 0
                return skipped
            if newline >= 0:
                line = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                self._scanned = 0
                return line
            if len(self._buffer) > self._limit:
                return await self._skip_rest_of_line()
            self._scanned = len(self._buffer)
            if self._eof:
                if not self._buffer:
                    return None
                line = bytes(self._buffer)
                self._buffer.clear()
                self._scanned = 0
                return line
            chunk = await self._read()
            if chunk:
                self._buffer += chunk
            else:
                self._eof = True

    async def _skip_rest_of_line(self) -> _Oversized:
        """Drop the line being read up to its newline, keeping only its head and tail."""
        head = bytes(self._buffer[: wire.OVERSIZED_HEAD_BYTES])
        tail = bytes(self._buffer[-wire.OVERSIZED_TAIL_BYTES :])
        size = len(self._buffer)
        self._buffer.clear()
        self._scanned = 0
        while not self._eof:
            chunk = await self._read()
            if not chunk:
                self._eof = True
                break
            newline = chunk.find(b"\n")
            end = newline if newline >= 0 else len(chunk)
            size += end
            tail = (tail + chunk[:end])[-wire.OVERSIZED_TAIL_BYTES :]
            if newline >= 0:
                self._buffer += chunk[newline + 1 :]
                break
        return _Oversized(size, head, tail)


class _Writer:
    """Writes whole lines to a file descriptor: readiness waits on a pipe, a thread otherwise."""

    def __init__(self, fd: int, *, pollable: bool) -> None:
        self._fd = fd
        self._pollable = pollable

    async def write(self, data: bytes) -> None:
        import anyio
        import anyio.to_thread

        view = memoryview(data)
        while view:
            if not self._pollable:
                written = await anyio.to_thread.run_sync(os.write, self._fd, view)
            else:
                try:
                    written = os.write(self._fd, view)
                except BlockingIOError:
                    await anyio.wait_writable(self._fd)
                    continue
            view = view[written:]


@contextlib.contextmanager
def _claimed(fd: int, diversion: int, *, nonblocking: bool) -> Iterator[int]:
    """Move ``fd`` to a private descriptor and point ``fd`` at ``diversion``; undo it after."""
    private = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    flags = fcntl.fcntl(private, fcntl.F_GETFL)
    try:
        os.dup2(diversion, fd)
        if nonblocking:
            fcntl.fcntl(private, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        yield private
    finally:
        fcntl.fcntl(private, fcntl.F_SETFL, flags)
        os.dup2(private, fd)
        os.close(private)


def _same_file(a: int, b: int) -> bool:
    try:
        first, second = os.fstat(a), os.fstat(b)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


@contextlib.contextmanager
def _claimed_stdio() -> Iterator[tuple[_LineReader, _Writer]]:
    """Take stdin and stdout for the protocol: fd 0 reads ``/dev/null``, fd 1 writes to stderr.

    Non-blocking mode is set only on a pipe or socket, and not on stdout when
    stderr shares its pipe (log lines would then fail with EAGAIN).
    """
    with contextlib.ExitStack() as stack:
        devnull = os.open(os.devnull, os.O_RDONLY)
        stack.callback(os.close, devnull)
        try:
            os.fstat(0)
        except OSError:
            reader = _LineReader(None, pollable=False)  # no stdin: an empty session
        else:
            in_pollable = _pollable(0)
            private_in = stack.enter_context(_claimed(0, devnull, nonblocking=in_pollable))
            reader = _LineReader(private_in, pollable=in_pollable)
        out_pollable = _pollable(1) and not _same_file(1, 2)
        private_out = stack.enter_context(_claimed(1, 2, nonblocking=out_pollable))
        yield reader, _Writer(private_out, pollable=out_pollable)


async def _serve_lines(server: Server[Any], reader: _LineReader, writer: _Writer) -> None:
    """Serve JSON-RPC lines from ``reader`` with ``server``, answering on ``writer``."""
    import anyio
    import anyio.to_thread
    from mcp.shared.message import SessionMessage

    to_server, server_reads = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    to_client, client_gets = anyio.create_memory_object_stream[SessionMessage | wire.WireError](0)

    async def read_lines() -> None:
        async with to_server, to_client.clone() as answers:
            while (line := await reader.next_line()) is not None:
                if isinstance(line, _Oversized):
                    log.warning("refused a %d-byte message (over the limit)", line.size_bytes)
                    await answers.send(wire.oversized(line.size_bytes, line.head, line.tail))
                    continue
                if not line.strip():
                    continue  # a blank line is no message
                if len(line) < THREAD_DECODE_BYTES:
                    decoded = wire.decode(line)
                else:
                    decoded = await anyio.to_thread.run_sync(wire.decode, line)
                if isinstance(decoded, wire.WireError):
                    log.info("refused a message: %s", decoded.message)
                    await answers.send(decoded)
                else:
                    await to_server.send(SessionMessage(decoded))

    async def write_lines() -> None:
        async with client_gets:
            async for item in client_gets:
                data = (
                    item.to_bytes()
                    if isinstance(item, wire.WireError)
                    else wire.encode(item.message)
                )
                if data is not None:
                    await writer.write(data + b"\n")

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_lines)
        tg.start_soon(write_lines)
        await server.run(server_reads, to_client, server.create_initialization_options())


async def serve_stdio(handler: ClaudeToolHandler) -> None:
    """Serve MCP over this process's stdin and stdout until EOF or SIGINT/SIGTERM."""
    import anyio
    import anyio.to_thread

    calls = InFlightCalls()
    server = build_server(handler, calls)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_on_signal, calls, tg.cancel_scope)
            with _claimed_stdio() as (reader, writer):
                await _serve_lines(server, reader, writer)
            tg.cancel_scope.cancel()
    finally:
        calls.cancel_all()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(calls.wait_idle, SHUTDOWN_GRACE_S)


def run_stdio(handler: ClaudeToolHandler) -> None:
    """Blocking :func:`serve_stdio`."""
    import anyio

    anyio.run(serve_stdio, handler)
