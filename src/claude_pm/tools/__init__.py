"""The contract with the model: the four tool definitions, the one handler, and exports.

``as_anthropic()``, ``as_openai()`` and ``as_mcp()`` give the definitions in each
provider's format; the ``*_tool_calls`` / ``*_tool_result(s)`` / ``*_tool_message(s)``
helpers run a model's tool calls through a handler and shape the results for the
next request.
"""

from claude_pm.tools.export import (
    MCP_ANNOTATIONS,
    TOOL_FORMATS,
    ToolCall,
    ToolCallHandler,
    anthropic_tool_calls,
    anthropic_tool_result,
    anthropic_tool_results,
    as_anthropic,
    as_mcp,
    as_openai,
    call_tools,
    export_tools,
    is_error_result,
    openai_tool_calls,
    openai_tool_message,
    openai_tool_messages,
    result_text,
)
from claude_pm.tools.handler import ClaudeToolHandler
from claude_pm.tools.schemas import CLAUDE_PM_TOOLS

__all__ = [
    "CLAUDE_PM_TOOLS",
    "MCP_ANNOTATIONS",
    "TOOL_FORMATS",
    "ClaudeToolHandler",
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
