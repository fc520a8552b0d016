"""The MCP server object: the four tools, and how one ``tools/call`` is served.

Built on the MCP Python SDK's low-level ``Server`` rather than ``MCPServer``:
``MCPServer`` derives each tool's ``inputSchema`` from a Python signature,
while clients must see exactly the JSON Schemas of
:data:`~claude_pm.tools.schemas.CLAUDE_PM_TOOLS`, the ones the handler
validates against.

Each ``tools/call`` runs the (blocking) handler in a worker thread, at most
:data:`MAX_CONCURRENT_CALLS` at once. A cancelled request sets the call's
cancel event, so the supervisor kills the agent's process tree, and waits for
the call to return; progress the handler reports becomes MCP progress
notifications for clients that sent a progress token.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from claude_pm._version import __version__
from claude_pm.mcp_server.calls import SHUTDOWN_GRACE_S, InFlightCalls
from claude_pm.tools import ClaudeToolHandler, as_mcp, is_error_result, result_text

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server

log = logging.getLogger(__name__)

SERVER_NAME = "claude-pm"
#: Tool calls served at once; more wait for a free worker.
MAX_CONCURRENT_CALLS = 16

INSTRUCTIONS = (
    "claude-pm delegates work to specialized agents that run as supervised processes. "
    "Call discover_available_agents to see the team, execute_agent_subprocess to run one "
    "agent on a task, and create_tickets_from_output to file what an agent reported."
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
