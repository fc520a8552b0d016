"""The four tools in each provider's format, and glue between a model's tool calls and the handler.

Definitions: :func:`as_anthropic` (Messages API ``tools``), :func:`as_openai`
(Chat Completions ``tools``) and :func:`as_mcp` (MCP ``Tool`` objects), all
deep copies built from :data:`~claude_pm.tools.schemas.CLAUDE_PM_TOOLS`, so the
schemas a model sees are the ones the handler validates against.

Calls: :func:`anthropic_tool_results` turns the ``tool_use`` blocks of an
assistant message into ``tool_result`` blocks (``is_error`` set for errors);
:func:`openai_tool_messages` turns a Chat Completions message's ``tool_calls``
into ``role: "tool"`` messages. Both run the calls of one turn concurrently
and keep the model's order. Neither imports a provider SDK: they read SDK
objects and plain dicts alike.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from claude_pm.errors import InvalidInput
from claude_pm.tools.results import error_result
from claude_pm.tools.schemas import CLAUDE_PM_TOOLS
from claude_pm.tools.services import ProgressCallback

#: How many tool calls of one turn run at once, by default.
DEFAULT_MAX_PARALLEL_CALLS = 4


class ToolCallHandler(Protocol):
    """What the helpers need from :class:`~claude_pm.tools.handler.ClaudeToolHandler`."""

    def handle_tool_call(
        self,
        tool_name: str,
        parameters: Mapping[str, Any] | None,
        *,
        cancel: threading.Event | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> dict[str, Any]: ...


# --- definitions ---------------------------------------------------------------------------


def _definitions(tools: Sequence[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    return list(CLAUDE_PM_TOOLS if tools is None else tools)


def as_anthropic(tools: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Definitions for the Anthropic Messages API: ``{"name", "description", "input_schema"}``."""
    return [
        {
            "name": t["name"],
            "description": t["description"],
            "input_schema": copy.deepcopy(dict(t["parameters"])),
        }
        for t in _definitions(tools)
    ]


def as_openai(tools: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Tool definitions for OpenAI Chat Completions: ``{"type": "function", "function": {...}}``."""
    return [
        {
            "type": "function",
            "function": {
                "name": t["name"],
                "description": t["description"],
                "parameters": copy.deepcopy(dict(t["parameters"])),
            },
        }
        for t in _definitions(tools)
    ]


#: MCP behaviour hints per tool (clients use them to decide what to confirm with the user).
MCP_ANNOTATIONS: dict[str, dict[str, Any]] = {
    "execute_agent_subprocess": {
        "title": "Run an agent",
        "readOnlyHint": False,
        "destructiveHint": True,
        "idempotentHint": False,
        "openWorldHint": True,
    },
    "discover_available_agents": {
        "title": "Discover agents",
        "readOnlyHint": True,
        "openWorldHint": False,
    },
    "coordinate_multi_agent_workflow": {
        "title": "Run a multi-agent workflow",
        "readOnlyHint": False,
        "destructiveHint": True,
        "idempotentHint": False,
        "openWorldHint": True,
    },
    "create_tickets_from_output": {
        "title": "Create tickets from output",
        "readOnlyHint": False,
        "destructiveHint": False,
        "idempotentHint": True,
        "openWorldHint": False,
    },
}


def as_mcp(tools: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Definitions as MCP ``Tool`` objects: ``{"name", "description", "inputSchema"}``.

    Known tools also carry a ``title`` and behaviour ``annotations``.
    """
    out = []
    for t in _definitions(tools):
        tool: dict[str, Any] = {
            "name": t["name"],
            "description": t["description"],
            "inputSchema": copy.deepcopy(dict(t["parameters"])),
        }
        hints = MCP_ANNOTATIONS.get(t["name"])
        if hints is not None:
            tool["title"] = hints["title"]
            tool["annotations"] = dict(hints)
        out.append(tool)
    return out


#: ``claude-pm tools --format NAME`` -> the function producing that format.
TOOL_FORMATS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "anthropic": as_anthropic,
    "openai": as_openai,
    "mcp": as_mcp,
}


def export_tools(format_name: str) -> list[dict[str, Any]]:
    """The definitions in one of :data:`TOOL_FORMATS`.

    Raises:
        InvalidInput: ``format_name`` is not one of them.
    """
    exporter = TOOL_FORMATS.get(format_name)
    if exporter is None:
        raise InvalidInput(
            f"Unknown tool format {format_name!r}; use one of: {', '.join(TOOL_FORMATS)}.",
            field="format",
            expected=" | ".join(TOOL_FORMATS),
        )
    return exporter()


# --- calls -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    """One tool call a model asked for, whatever the provider.

    ``arguments`` is ``None`` when the provider sent something that is not a
    JSON object (then ``argument_error`` says what was wrong).
    """

    call_id: str
    name: str
    arguments: Mapping[str, Any] | None
    argument_error: str | None = None


def _field(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def anthropic_tool_calls(content: Iterable[Any]) -> list[ToolCall]:
    """The ``tool_use`` blocks of an assistant message's content, in order."""
    calls = []
    for block in content:
        if _field(block, "type") != "tool_use":
            continue
        raw = _field(block, "input")
        arguments = dict(raw) if isinstance(raw, Mapping) else None
        problem = None if arguments is not None else "tool input is not a JSON object"
        calls.append(
            ToolCall(str(_field(block, "id")), str(_field(block, "name")), arguments, problem)
        )
    return calls


def openai_tool_calls(message_or_calls: Any) -> list[ToolCall]:
    """The function calls of a Chat Completions assistant message (or of its ``tool_calls``)."""
    if isinstance(message_or_calls, Mapping) or hasattr(message_or_calls, "tool_calls"):
        raw_calls = _field(message_or_calls, "tool_calls")
    else:
        raw_calls = message_or_calls
    calls = []
    for item in raw_calls or ():
        function = _field(item, "function")
        name = str(_field(function, "name", ""))
        text = _field(function, "arguments", "") or "{}"
        arguments: dict[str, Any] | None = None
        problem = None
        try:
            parsed = json.loads(text)
        except (TypeError, ValueError) as e:
            problem = f"arguments are not valid JSON ({e})"
        else:
            if isinstance(parsed, dict):
                arguments = parsed
            else:
                problem = f"arguments must be a JSON object, got {type(parsed).__name__}"
        calls.append(ToolCall(str(_field(item, "id")), name, arguments, problem))
    return calls


def call_tools(
    handler: ToolCallHandler,
    calls: Sequence[ToolCall],
    *,
    max_parallel: int = DEFAULT_MAX_PARALLEL_CALLS,
    cancel: threading.Event | None = None,
    on_progress: Callable[[ToolCall, str, float | None, float | None], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the calls through the handler, ``max_parallel`` at a time; results in the calls' order.

    Never raises for a failing call: the handler's error dict takes its place.
    """

    def run(call: ToolCall) -> dict[str, Any]:
        if call.arguments is None:
            problem = call.argument_error or "tool input is not a JSON object"
            error = InvalidInput(
                f"Invalid arguments for {call.name}: {problem}. "
                "Send the arguments as a JSON object.",
                field="(arguments)",
                expected="object",
            )
            return error_result(error, call.name, None)
        forward: ProgressCallback | None = None
        if on_progress is not None:
            report = on_progress

            def forward(message: str, done: float | None, total: float | None) -> None:
                report(call, message, done, total)

        return handler.handle_tool_call(
            call.name, call.arguments, cancel=cancel, on_progress=forward
        )

    if len(calls) <= 1 or max_parallel <= 1:
        return [run(c) for c in calls]
    with ThreadPoolExecutor(max_workers=min(max_parallel, len(calls))) as pool:
        return list(pool.map(run, calls))


def is_error_result(result: Mapping[str, Any]) -> bool:
    """Whether a handler result reports a failure (it carries an ``error`` key)."""
    return "error" in result


def result_text(result: Mapping[str, Any]) -> str:
    """The text a model reads for a handler result: the JSON, with an error's fix first."""
    body = json.dumps(result, indent=2, sort_keys=False, default=str)
    if is_error_result(result):
        return f"Error: {result['error']}\n{body}"
    return body


def anthropic_tool_result(call_id: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """A ``tool_result`` content block for one handler result; ``is_error`` set for errors."""
    return {
        "type": "tool_result",
        "tool_use_id": call_id,
        "content": result_text(result),
        "is_error": is_error_result(result),
    }


def openai_tool_message(call_id: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """A Chat Completions ``role: "tool"`` message for one handler result."""
    return {"role": "tool", "tool_call_id": call_id, "content": result_text(result)}


def anthropic_tool_results(
    handler: ToolCallHandler,
    content: Iterable[Any],
    *,
    max_parallel: int = DEFAULT_MAX_PARALLEL_CALLS,
    cancel: threading.Event | None = None,
) -> list[dict[str, Any]]:
    """Run the ``tool_use`` blocks of an assistant message; the ``tool_result`` blocks to send back.

    Send them as the content of the next ``user`` message.
    """
    calls = anthropic_tool_calls(content)
    results = call_tools(handler, calls, max_parallel=max_parallel, cancel=cancel)
    return [anthropic_tool_result(c.call_id, r) for c, r in zip(calls, results, strict=True)]


def openai_tool_messages(
    handler: ToolCallHandler,
    message_or_calls: Any,
    *,
    max_parallel: int = DEFAULT_MAX_PARALLEL_CALLS,
    cancel: threading.Event | None = None,
) -> list[dict[str, Any]]:
    """Run every function call of an assistant message; the ``tool`` messages to append."""
    calls = openai_tool_calls(message_or_calls)
    results = call_tools(handler, calls, max_parallel=max_parallel, cancel=cancel)
    return [openai_tool_message(c.call_id, r) for c, r in zip(calls, results, strict=True)]


__all__ = [
    "DEFAULT_MAX_PARALLEL_CALLS",
    "MCP_ANNOTATIONS",
    "TOOL_FORMATS",
    "ToolCall",
    "ToolCallHandler",
    "anthropic_tool_calls",
    "anthropic_tool_result",
    "anthropic_tool_results",
    "as_anthropic",
    "as_mcp",
    "as_openai",
    "call_tools",
    "export_tools",
    "is_error_result",
    "openai_tool_calls",
    "openai_tool_message",
    "openai_tool_messages",
    "result_text",
]
