"""claude-pm as an MCP server: the four tools over stdio or streamable HTTP.

Built on the MCP Python SDK's low-level ``Server`` rather than ``MCPServer``:
``MCPServer`` derives each tool's ``inputSchema`` from a Python signature,
while clients must see exactly the JSON Schemas of
:data:`~claude_pm.tools.schemas.CLAUDE_PM_TOOLS`, the ones the handler
validates against.

Each ``tools/call`` runs the (blocking) handler in a worker thread. A
cancelled request sets the call's cancel event, so the supervisor kills the
agent's process tree; progress the handler reports becomes MCP progress
notifications for clients that sent a progress token. On SIGINT or SIGTERM the
server cancels every call in flight, waits for them to wind down, and exits.

The MCP SDK costs about a second to import: it is imported only here, inside
functions, and only ``claude-pm mcp`` imports this module.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import os
import stat
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from claude_pm._version import __version__
from claude_pm.errors import InvalidInput
from claude_pm.process import request_shutdown
from claude_pm.tools import as_mcp, is_error_result, result_text
from claude_pm.tools.handler import ClaudeToolHandler

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server

log = logging.getLogger(__name__)

SERVER_NAME = "claude-pm"
DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 8765
HTTP_PATH = "/mcp"
#: How long a shutdown or a cancelled call waits for agents to be killed and calls to return.
SHUTDOWN_GRACE_S = 15.0
#: How long uvicorn lets open HTTP streams finish after a signal (calls are cancelled first).
HTTP_GRACEFUL_SHUTDOWN_S = 5
#: Tool calls served at once; more wait for a free worker.
MAX_CONCURRENT_CALLS = 16

INSTRUCTIONS = (
    "claude-pm delegates work to specialized agents that run as supervised processes. "
    "Call discover_available_agents to see the team, execute_agent_subprocess to run one "
    "agent on a task, and create_tickets_from_output to file what an agent reported."
)

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class InFlightCalls:
    """The cancel events of the tool calls being served, so shutdown can cancel them all."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._events: set[threading.Event] = set()
        self._shutting_down = False

    def begin(self) -> threading.Event:
        """A cancel event for a new call (already set when the server is shutting down)."""
        event = threading.Event()
        with self._lock:
            if self._shutting_down:
                event.set()
            self._events.add(event)
        return event

    def end(self, event: threading.Event) -> None:
        with self._lock:
            self._events.discard(event)
            self._lock.notify_all()

    def cancel_all(self) -> int:
        """Cancel every call in flight and refuse new ones; how many were cancelled."""
        with self._lock:
            self._shutting_down = True
            for event in self._events:
                event.set()
            return len(self._events)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no call is in flight; False when ``timeout_s`` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._events, timeout=timeout_s)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HttpOptions:
    """Where the streamable HTTP transport listens, and the bearer token it requires (if any)."""

    host: str = DEFAULT_HTTP_HOST
    port: int = DEFAULT_HTTP_PORT
    token: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise InvalidInput(f"--port must be 0-65535, got {self.port}.", field="port")
        if self.token is not None and not self.token.strip():
            raise InvalidInput("The bearer token must not be empty.", field="token")
        if not is_loopback(self.host) and self.token is None:
            raise InvalidInput(
                f"--host {self.host} exposes the server beyond this machine: pass --token "
                "(or set CLAUDE_PM_MCP_TOKEN) so every request must carry "
                "'Authorization: Bearer <token>', or bind 127.0.0.1.",
                field="token",
            )


def _progress_value(state: dict[str, float], done: float | None) -> float:
    """A progress value that increases with every notification, as MCP requires."""
    last = state.get("last", 0.0)
    value = done if done is not None and done > last else last + 1.0
    state["last"] = value
    return value


def build_server(handler: ClaudeToolHandler, calls: InFlightCalls | None = None) -> Server[Any]:
    """The low-level MCP server publishing the four tools and calling ``handler``."""
    import anyio
    import anyio.from_thread
    import anyio.to_thread
    import mcp_types as types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server

    in_flight = calls if calls is not None else InFlightCalls()
    listed = types.ListToolsResult(tools=[types.Tool.model_validate(t) for t in as_mcp()])
    limiter = anyio.CapacityLimiter(MAX_CONCURRENT_CALLS)

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return listed

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        cancel = in_flight.begin()
        finished = threading.Event()
        progress_state: dict[str, float] = {}

        def on_progress(message: str, done: float | None, total: float | None) -> None:
            if cancel.is_set():
                # The client has forgotten this request's token: progress would be an error.
                return
            value = _progress_value(progress_state, done)
            try:
                anyio.from_thread.run(ctx.session.report_progress, value, total, message)
            except Exception as e:  # the request may be gone; progress is best effort
                log.debug("progress for %s not delivered: %s", params.name, e)

        def work() -> dict[str, Any]:
            try:
                return handler.handle_tool_call(
                    params.name, params.arguments or {}, cancel=cancel, on_progress=on_progress
                )
            finally:
                finished.set()

        try:
            result = await anyio.to_thread.run_sync(work, abandon_on_cancel=True, limiter=limiter)
        except anyio.get_cancelled_exc_class():
            log.info("tool call %s cancelled by the client; stopping its agents", params.name)
            cancel.set()
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(finished.wait, SHUTDOWN_GRACE_S)
            raise
        finally:
            in_flight.end(cancel)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result_text(result))],
            structured_content=json.loads(json.dumps(result, default=str)),
            is_error=is_error_result(result),
        )

    return Server(
        SERVER_NAME,
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


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


_AUTH_HELP = "Missing or wrong bearer token: send 'Authorization: Bearer <token>'."


def require_bearer_token(app: ASGIApp, token: str) -> ASGIApp:
    """Wrap an ASGI app so every HTTP request must carry ``Authorization: Bearer <token>``."""
    expected = token.encode()

    async def guarded(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope.get("type") == "http":
            headers = dict(scope.get("headers") or [])
            scheme, _, value = headers.get(b"authorization", b"").partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(value.strip(), expected):
                body = json.dumps({"error": _AUTH_HELP}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="claude-pm"'),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


def run_http(
    handler: ClaudeToolHandler,
    options: HttpOptions,
    *,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve MCP over streamable HTTP at ``http://host:port/mcp`` until SIGINT/SIGTERM.

    No CORS headers are sent. ``on_listening(url)`` is called once the socket
    is bound (with the real port when ``options.port`` is 0).
    """
    import uvicorn

    calls = InFlightCalls()
    server = build_server(handler, calls)
    app: Any = server.streamable_http_app(streamable_http_path=HTTP_PATH, host=options.host)
    if options.token is not None:
        app = require_bearer_token(app, options.token)

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # Kill the agents first so the open streams can finish and uvicorn stop.
            request_shutdown()
            calls.cancel_all()
            super().handle_exit(sig, frame)

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if on_listening is not None and self.servers:
                port = self.servers[0].sockets[0].getsockname()[1]
                host = f"[{options.host}]" if ":" in options.host else options.host
                on_listening(f"http://{host}:{port}{HTTP_PATH}")

    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level="warning",
        timeout_graceful_shutdown=HTTP_GRACEFUL_SHUTDOWN_S,
        lifespan="on",
    )
    try:
        _Server(config).run()
    finally:
        calls.cancel_all()
        calls.wait_idle(SHUTDOWN_GRACE_S)


__all__ = [
    "DEFAULT_HTTP_HOST",
    "DEFAULT_HTTP_PORT",
    "HTTP_PATH",
    "SERVER_NAME",
    "HttpOptions",
    "InFlightCalls",
    "build_server",
    "is_loopback",
    "require_bearer_token",
    "run_http",
    "run_stdio",
    "serve_stdio",
]
