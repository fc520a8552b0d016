"""The MCP server object: the four tools, the prompts and resources, and how a call is served.

Built on the MCP Python SDK's low-level ``Server`` rather than ``MCPServer``:
``MCPServer`` derives each tool's ``inputSchema`` from a Python signature,
while clients must see exactly the JSON Schemas of
:data:`~claude_pm.tools.schemas.CLAUDE_PM_TOOLS`, the ones the handler
validates against.

A ``tools/call`` of :data:`INLINE_TOOLS` (discovery: a few ``stat`` calls
when no agent file changed) is served on the event loop, and while the
handler's result stays the same its MCP result is reused, not rebuilt. Every
other call runs the (blocking) handler in a worker thread, at most
:data:`MAX_CONCURRENT_CALLS` at once. A cancelled request sets the call's
cancel event, so the supervisor kills the agent's process tree, and waits for
the call to return; progress the handler reports becomes MCP progress
notifications for clients that sent a progress token. The result becomes a
``CallToolResult`` that always encodes (:func:`_call_result`): text that UTF-8
cannot carry is escaped, and a result JSON cannot represent becomes an error
result, so the response is never lost on the way out.

Prompts (:mod:`~claude_pm.mcp_server.prompts`) and resources
(:mod:`~claude_pm.mcp_server.resources`) read the registry and the state
database in a worker thread too; what they refuse (an unknown prompt, agent,
ticket or run, a URI claude-pm does not serve) is an MCP ``INVALID_PARAMS``
error whose message says what to fix.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from claude_pm._version import __version__
from claude_pm.errors import ClaudePMError
from claude_pm.mcp_server import wire
from claude_pm.mcp_server.calls import SHUTDOWN_GRACE_S, InFlightCalls
from claude_pm.tools import ClaudeToolHandler, as_mcp, is_error_result, result_text

if TYPE_CHECKING:
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel import Server
    from pydantic import BaseModel

log = logging.getLogger(__name__)
_T = TypeVar("_T")

SERVER_NAME = "claude-pm"
#: Tool calls served at once in worker threads; more wait for a free worker.
MAX_CONCURRENT_CALLS = 16
#: Tools served on the event loop: quick, no agent, no database write, nothing to cancel.
INLINE_TOOLS = frozenset({"discover_available_agents"})

INSTRUCTIONS = (
    "claude-pm delegates work to specialized agents that run as supervised processes. "
    "Call discover_available_agents to see the team, execute_agent_subprocess to run one "
    "agent on a task, and create_tickets_from_output to file what an agent reported. "
    "Resources serve what results leave out: claude-pm://tickets (the open tickets), "
    "claude-pm://tickets/{ticket_id}, claude-pm://runs/{run_id}/report (a run's whole "
    "report, page by page) and claude-pm://agents/{agent_type}."
)


def _progress_value(state: dict[str, float], done: float | None) -> float:
    """A progress value that increases with every notification, as MCP requires."""
    last = state.get("last", 0.0)
    value = done if done is not None and done > last else last + 1.0
    state["last"] = value
    return value


def _call_result(tool_name: str, result: dict[str, Any]) -> types.CallToolResult:
    """The MCP result for a handler result: its JSON as text and as structured content.

    Always encodable as UTF-8 JSON; a result that is not (nested beyond what
    ``json`` can walk) becomes an error result naming the tool.
    """
    import mcp_types as types

    try:
        text = result_text(result)
        body = json.dumps(result, default=str, ensure_ascii=False)
        if not body.isascii():
            try:
                body.encode("utf-8")
            except UnicodeEncodeError:
                log.warning("the %s result has text UTF-8 cannot carry; escaping it", tool_name)
                body = json.dumps(wire.encodable(result), default=str, ensure_ascii=False)
                text = wire.encodable(text)
        structured = json.loads(body)
    except (RecursionError, ValueError, TypeError) as e:
        log.exception("the %s result cannot be encoded as JSON", tool_name)
        message = (
            f"Internal error: the {tool_name} result could not be encoded as JSON "
            f"({type(e).__name__}). This is a claude-pm bug; the server's log has the details."
        )
        text = f"Error: {message}"
        structured = {"success": False, "error": message, "error_type": type(e).__name__}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=is_error_result(structured),
    )


def _wire_form(result: BaseModel) -> dict[str, Any]:
    """A result as the SDK's runner dumps one; the runner takes a dict from a handler as it is."""
    dumped: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dumped


class _LastResults:
    """The last result of each inline tool, dumped, reused while the handler answers the same."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def wire_form(self, tool_name: str, result: dict[str, Any]) -> dict[str, Any]:
        last = self._last.get(tool_name)
        if last is not None and last[0] == result:
            return last[1]
        built = _wire_form(_call_result(tool_name, result))
        self._last[tool_name] = (result, built)
        return built


def _refusal(what: str, error: BaseException) -> Exception:
    """The MCP error answering a prompt or resource request that failed."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

    if isinstance(error, ClaudePMError):
        return MCPError(code=INVALID_PARAMS, message=error.message, data=error.to_dict())
    log.error("%s failed", what, exc_info=error)
    return MCPError(
        code=INTERNAL_ERROR,
        message=f"Internal error in {what}: {type(error).__name__}. This is a claude-pm bug; "
        "the server's log has the details.",
    )


def _reading_handlers(handler: ClaudeToolHandler, limiter: anyio.CapacityLimiter) -> dict[str, Any]:
    """The handlers of ``prompts/*`` and ``resources/*``: SDK types around prompts and resources."""
    import anyio.to_thread
    import mcp_types as types
    from mcp.server.context import ServerRequestContext

    from claude_pm.mcp_server import prompts, resources

    async def in_thread(what: str, work: Callable[[], _T]) -> _T:
        try:
            return await anyio.to_thread.run_sync(work, limiter=limiter)
        except Exception as e:
            raise _refusal(what, e) from e

    listed_prompts = types.ListPromptsResult(
        prompts=[
            types.Prompt(
                name=p.name,
                title=p.title,
                description=p.description,
                arguments=[
                    types.PromptArgument(
                        name=a.name, description=a.description, required=a.required
                    )
                    for a in p.arguments
                ],
            )
            for p in prompts.PROMPTS.values()
        ]
    )
    templates = types.ListResourceTemplatesResult(
        resource_templates=[
            types.ResourceTemplate(
                uri_template=t.uri_template,
                name=t.name,
                description=t.description,
                mime_type=t.mime_type,
            )
            for t in resources.TEMPLATES
        ]
    )

    async def list_prompts(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return listed_prompts

    async def get_prompt(
        ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        text = await in_thread(
            f"the {params.name[:80]!r} prompt",
            lambda: prompts.render(handler.services, params.name, params.arguments),
        )
        known = prompts.PROMPTS[params.name]
        return types.GetPromptResult(
            description=known.description,
            messages=[
                types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))
            ],
        )

    async def list_resources(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        found = await in_thread("resources/list", lambda: resources.listed(handler.services))
        return types.ListResourcesResult(
            resources=[
                types.Resource(uri=uri, name=name, description=description, mime_type=mime)
                for uri, name, description, mime in found
            ]
        )

    async def list_resource_templates(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return templates

    async def read_resource(
        ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        texts = await in_thread(
            f"reading {uri[:200]!r}", lambda: resources.read(handler.services, uri)
        )
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=t.uri, mime_type=t.mime_type, text=t.text, _meta=t.meta or None
                )
                for t in texts
            ]
        )

    return {
        "on_list_prompts": list_prompts,
        "on_get_prompt": get_prompt,
        "on_list_resources": list_resources,
        "on_list_resource_templates": list_resource_templates,
        "on_read_resource": read_resource,
    }


def build_server(handler: ClaudeToolHandler, calls: InFlightCalls | None = None) -> Server[Any]:
    """The low-level MCP server publishing the four tools, the prompts and the resources."""
    import anyio
    import anyio.from_thread
    import anyio.to_thread
    import mcp_types as types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server

    in_flight = calls if calls is not None else InFlightCalls()
    listed = _wire_form(
        types.ListToolsResult(tools=[types.Tool.model_validate(t) for t in as_mcp()])
    )
    limiter = anyio.CapacityLimiter(MAX_CONCURRENT_CALLS)
    last_results = _LastResults()

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> dict[str, Any]:
        return listed

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | dict[str, Any]:
        if params.name in INLINE_TOOLS:
            result = handler.handle_tool_call(params.name, params.arguments or {})
            return last_results.wire_form(params.name, result)
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
        return _call_result(params.name, result)

    return Server(
        SERVER_NAME,
        version=__version__,
        instructions=INSTRUCTIONS,
        # The SDK's runner serializes a BaseModel or takes a dict (its HandlerResult): the
        # tools list and repeated discoveries go out as dicts dumped once.
        on_list_tools=cast(Any, list_tools),
        on_call_tool=cast(Any, call_tool),
        **_reading_handlers(handler, limiter),
    )
