"""The four tool definitions in each provider's format.

:func:`as_anthropic` (Messages API ``tools``), :func:`as_openai` (Chat
Completions ``tools``) and :func:`as_mcp` (MCP ``Tool`` objects) are deep
copies built from :data:`~claude_pm.tools.schemas.CLAUDE_PM_TOOLS`, so the
schemas a model sees are the ones the handler validates against;
:func:`as_tool_specs` gives the same as the model loop's neutral
:class:`~claude_pm.llm.types.ToolSpec` values. The wire shapes come from the
adapters in :mod:`claude_pm.llm`, so the loop and a caller's own loop send the
same definitions.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_pm.llm.types import ToolSpec

# Everything else is imported inside the functions: ``claude-pm --help`` reads
# ToolFormat from this module and should pay for nothing more.


class ToolFormat(StrEnum):
    """The formats ``claude-pm tools --format`` and :func:`export_tools` produce."""

    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    MCP = "mcp"


def as_tool_specs(tools: Sequence[Mapping[str, Any]] | None = None) -> tuple[ToolSpec, ...]:
    """The definitions (the four tools by default) as neutral tool specs (copies)."""
    from claude_pm.llm.types import ToolSpec
    from claude_pm.tools.schemas import CLAUDE_PM_TOOLS

    return tuple(
        ToolSpec(t["name"], t["description"], copy.deepcopy(dict(t["parameters"])))
        for t in (CLAUDE_PM_TOOLS if tools is None else tools)
    )


def as_anthropic(tools: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Definitions for the Anthropic Messages API: ``{"name", "description", "input_schema"}``."""
    from claude_pm.llm.anthropic import tool_param

    return [tool_param(spec) for spec in as_tool_specs(tools)]


def as_openai(tools: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Tool definitions for OpenAI Chat Completions: ``{"type": "function", "function": {...}}``."""
    from claude_pm.llm.openai import tool_param

    return [tool_param(spec) for spec in as_tool_specs(tools)]


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

    Known tools also carry a ``title``, behaviour ``annotations`` and the
    ``outputSchema`` of their results (:mod:`~claude_pm.tools.result_schemas`).
    """
    from claude_pm.tools.result_schemas import output_schema

    out = []
    for spec in as_tool_specs(tools):
        tool: dict[str, Any] = {
            "name": spec.name,
            "description": spec.description,
            "inputSchema": dict(spec.input_schema),
        }
        hints = MCP_ANNOTATIONS.get(spec.name)
        if hints is not None:
            tool["title"] = hints["title"]
            tool["annotations"] = dict(hints)
        schema = output_schema(spec.name)
        if schema is not None:
            tool["outputSchema"] = copy.deepcopy(schema)
        out.append(tool)
    return out


#: Each format -> the function producing it.
TOOL_FORMATS: dict[ToolFormat, Callable[[], list[dict[str, Any]]]] = {
    ToolFormat.ANTHROPIC: as_anthropic,
    ToolFormat.OPENAI: as_openai,
    ToolFormat.MCP: as_mcp,
}


def export_tools(format_name: str) -> list[dict[str, Any]]:
    """The four definitions in one of the :class:`ToolFormat` formats.

    Raises:
        InvalidInput: ``format_name`` is not one of them.
    """
    try:
        tool_format = ToolFormat(format_name)
    except ValueError:
        from claude_pm.errors import InvalidInput

        names = ", ".join(f.value for f in ToolFormat)
        raise InvalidInput(
            f"Unknown tool format {format_name!r}; use one of: {names}.",
            field="format",
            expected=" | ".join(f.value for f in ToolFormat),
        ) from None
    return TOOL_FORMATS[tool_format]()


__all__ = [
    "MCP_ANNOTATIONS",
    "TOOL_FORMATS",
    "ToolFormat",
    "as_anthropic",
    "as_mcp",
    "as_openai",
    "as_tool_specs",
    "export_tools",
]
