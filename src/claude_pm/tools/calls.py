"""Glue between a model's tool calls and the handler, for any loop.

:func:`call_tools` runs :class:`~claude_pm.llm.types.ToolCall` values through
a :class:`ToolCallHandler` (the calls of one turn concurrently, results in the
model's order, a failure as an error dict, never an exception).
:func:`anthropic_tool_results` turns the ``tool_use`` blocks of an assistant
message into ``tool_result`` blocks (``is_error`` set for errors);
:func:`openai_tool_messages` turns a Chat Completions message's ``tool_calls``
into ``role: "tool"`` messages. Parsing and wire shapes come from the adapters
in :mod:`claude_pm.llm`, which read SDK objects and plain dicts alike and
import no SDK. :class:`HandlerToolbox` is the same handler as a toolbox of
:func:`claude_pm.llm.run_loop`: the PM loop is that loop with this toolbox.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from claude_pm.cancel import CancelToken
from claude_pm.errors import InvalidInput
from claude_pm.llm.anthropic import tool_calls_from_content, tool_result_param
from claude_pm.llm.loop import DEFAULT_MAX_PARALLEL_CALLS
from claude_pm.llm.openai import tool_calls_from_message, tool_message
from claude_pm.llm.toolbox import ToolProgress, invalid_arguments_message, run_concurrently
from claude_pm.llm.types import ToolCall, ToolOutcome, ToolResultBlock, ToolSpec
from claude_pm.tools.formats import as_tool_specs
from claude_pm.tools.results import error_result
from claude_pm.tools.services import ProgressCallback


class ToolCallHandler(Protocol):
    """What these helpers use of :class:`~claude_pm.tools.handler.ClaudeToolHandler`."""

    def handle_tool_call(
        self,
        tool_name: str,
        parameters: Mapping[str, Any] | None,
        *,
        cancel: CancelToken | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> dict[str, Any]: ...


def is_error_result(result: Mapping[str, Any]) -> bool:
    """Whether a handler result reports a failure (it carries an ``error`` key)."""
    return "error" in result


def result_text(result: Mapping[str, Any]) -> str:
    """The text a model reads for a handler result: the JSON, with an error's fix first."""
    body = json.dumps(result, indent=2, sort_keys=False, default=str)
    if is_error_result(result):
        return f"Error: {result['error']}\n{body}"
    return body


def call_tools(
    handler: ToolCallHandler,
    calls: Sequence[ToolCall],
    *,
    max_parallel: int = DEFAULT_MAX_PARALLEL_CALLS,
    cancel: CancelToken | None = None,
    on_progress: ToolProgress | None = None,
) -> list[dict[str, Any]]:
    """Run the calls through the handler, ``max_parallel`` at a time; results in the calls' order.

    Never raises for a failing call: the handler's error dict takes its place
    (a call whose arguments are not a JSON object gets an ``InvalidInput`` one).
    """

    def run(call: ToolCall) -> dict[str, Any]:
        if call.arguments is None:
            error = InvalidInput(
                invalid_arguments_message(call), field="(arguments)", expected="object"
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

    return run_concurrently(run, list(calls), max_parallel)


class HandlerToolbox:
    """A handler's tools as a :class:`~claude_pm.llm.toolbox.Toolbox` of the model loop.

    Each outcome's ``content`` is :func:`result_text` of the handler's dict,
    ``is_error`` whether it reports a failure, and ``data`` the dict itself.

    Args:
        handler: runs the calls (a :class:`~claude_pm.tools.handler.ClaudeToolHandler`).
        tools: the definitions shown to the model (the four tools by default).
    """

    def __init__(
        self, handler: ToolCallHandler, tools: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        self.handler = handler
        self._tools = as_tool_specs(tools)

    @property
    def tools(self) -> Sequence[ToolSpec]:
        return self._tools

    def run_calls(
        self,
        calls: Sequence[ToolCall],
        *,
        max_parallel: int,
        cancel: CancelToken | None,
        on_progress: ToolProgress | None,
    ) -> Sequence[ToolOutcome]:
        results = call_tools(
            self.handler, calls, max_parallel=max_parallel, cancel=cancel, on_progress=on_progress
        )
        return [ToolOutcome(result_text(r), is_error_result(r), r) for r in results]


# --- Anthropic Messages API ------------------------------------------------------------------


def anthropic_tool_calls(content: Iterable[Any]) -> list[ToolCall]:
    """The ``tool_use`` blocks of an assistant message (SDK objects or dicts), in order."""
    return tool_calls_from_content(content)


def anthropic_tool_result(call_id: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """A ``tool_result`` content block for one handler result; ``is_error`` set for errors."""
    return tool_result_param(ToolResultBlock(call_id, result_text(result), is_error_result(result)))


def anthropic_tool_results(
    handler: ToolCallHandler,
    content: Iterable[Any],
    *,
    max_parallel: int = DEFAULT_MAX_PARALLEL_CALLS,
    cancel: CancelToken | None = None,
) -> list[dict[str, Any]]:
    """Run the ``tool_use`` blocks of an assistant message; the ``tool_result`` blocks to send back.

    Send them as the content of the next ``user`` message.
    """
    calls = anthropic_tool_calls(content)
    results = call_tools(handler, calls, max_parallel=max_parallel, cancel=cancel)
    return [anthropic_tool_result(c.call_id, r) for c, r in zip(calls, results, strict=True)]


# --- OpenAI Chat Completions -----------------------------------------------------------------


def openai_tool_calls(message_or_calls: Any) -> list[ToolCall]:
    """The function calls of a Chat Completions assistant message (or of its ``tool_calls``)."""
    return tool_calls_from_message(message_or_calls)


def openai_tool_message(call_id: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """A Chat Completions ``role: "tool"`` message for one handler result."""
    return tool_message(ToolResultBlock(call_id, result_text(result), is_error_result(result)))


def openai_tool_messages(
    handler: ToolCallHandler,
    message_or_calls: Any,
    *,
    max_parallel: int = DEFAULT_MAX_PARALLEL_CALLS,
    cancel: CancelToken | None = None,
) -> list[dict[str, Any]]:
    """Run every function call of an assistant message; the ``tool`` messages to append."""
    calls = openai_tool_calls(message_or_calls)
    results = call_tools(handler, calls, max_parallel=max_parallel, cancel=cancel)
    return [openai_tool_message(c.call_id, r) for c, r in zip(calls, results, strict=True)]


__all__ = [
    "DEFAULT_MAX_PARALLEL_CALLS",
    "HandlerToolbox",
    "ToolCall",
    "ToolCallHandler",
    "anthropic_tool_calls",
    "anthropic_tool_result",
    "anthropic_tool_results",
    "call_tools",
    "is_error_result",
    "openai_tool_calls",
    "openai_tool_message",
    "openai_tool_messages",
    "result_text",
]
