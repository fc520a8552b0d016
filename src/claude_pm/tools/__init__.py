"""The contract with the model: the four tool definitions, the one handler, and the glue.

``as_anthropic()``, ``as_openai()`` and ``as_mcp()`` give the definitions in each
provider's format (:mod:`~claude_pm.tools.formats`); the ``*_tool_calls`` /
``*_tool_result(s)`` / ``*_tool_message(s)`` helpers run a model's tool calls
through a handler and shape the results for the next request, and
:class:`HandlerToolbox` hands the four tools to the model loop
(:mod:`~claude_pm.tools.calls`).

Names are resolved on first access, so that importing one module of the
package (``claude-pm --help`` reads :class:`ToolFormat`) does not import the
handler and its validation.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_pm.tools.calls import (
        DEFAULT_MAX_PARALLEL_CALLS,
        HandlerToolbox,
        ToolCall,
        ToolCallHandler,
        anthropic_tool_calls,
        anthropic_tool_result,
        anthropic_tool_results,
        call_tools,
        is_error_result,
        openai_tool_calls,
        openai_tool_message,
        openai_tool_messages,
        result_text,
    )
    from claude_pm.tools.formats import (
        MCP_ANNOTATIONS,
        TOOL_FORMATS,
        ToolFormat,
        as_anthropic,
        as_mcp,
        as_openai,
        as_tool_specs,
        export_tools,
    )
    from claude_pm.tools.handler import ClaudeToolHandler
    from claude_pm.tools.schemas import CLAUDE_PM_TOOLS

_EXPORTS = {
    "CLAUDE_PM_TOOLS": "claude_pm.tools.schemas",
    "ClaudeToolHandler": "claude_pm.tools.handler",
    **dict.fromkeys(
        (
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
        ),
        "claude_pm.tools.calls",
    ),
    **dict.fromkeys(
        (
            "MCP_ANNOTATIONS",
            "TOOL_FORMATS",
            "ToolFormat",
            "as_anthropic",
            "as_mcp",
            "as_openai",
            "as_tool_specs",
            "export_tools",
        ),
        "claude_pm.tools.formats",
    ),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'claude_pm.tools' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "CLAUDE_PM_TOOLS",
    "DEFAULT_MAX_PARALLEL_CALLS",
    "MCP_ANNOTATIONS",
    "TOOL_FORMATS",
    "ClaudeToolHandler",
    "HandlerToolbox",
    "ToolCall",
    "ToolCallHandler",
    "ToolFormat",
    "anthropic_tool_calls",
    "anthropic_tool_result",
    "anthropic_tool_results",
    "as_anthropic",
    "as_mcp",
    "as_openai",
    "as_tool_specs",
    "call_tools",
    "export_tools",
    "is_error_result",
    "openai_tool_calls",
    "openai_tool_message",
    "openai_tool_messages",
    "result_text",
]
