"""The tool definitions in each provider's format, checked with the providers' own SDK types."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import anthropic.types
import mcp_types
import openai.types.chat
import pytest
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter

import claude_pm.tools
from claude_pm.errors import InvalidInput
from claude_pm.llm import ToolSpec
from claude_pm.tools import (
    TOOL_FORMATS,
    ToolFormat,
    as_anthropic,
    as_mcp,
    as_openai,
    as_tool_specs,
    export_tools,
)
from claude_pm.tools.schemas import CLAUDE_PM_TOOLS

NAME_RULE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _keys(typed_dict: Any) -> set[str]:
    return set(typed_dict.__required_keys__) | set(typed_dict.__optional_keys__)


def test_every_format_keeps_the_four_tools_in_order() -> None:
    names = [t["name"] for t in CLAUDE_PM_TOOLS]
    assert [t["name"] for t in as_anthropic()] == names
    assert [t["function"]["name"] for t in as_openai()] == names
    assert [t["name"] for t in as_mcp()] == names
    assert set(TOOL_FORMATS) == set(ToolFormat) == {"anthropic", "openai", "mcp"}
    assert [s.name for s in as_tool_specs()] == names
    assert all(isinstance(s, ToolSpec) for s in as_tool_specs())


@pytest.mark.parametrize("tool", CLAUDE_PM_TOOLS, ids=lambda t: t["name"])
def test_schemas_are_valid_json_schema_2020_12_objects(tool: Mapping[str, Any]) -> None:
    schema = tool["parameters"]
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert NAME_RULE.match(tool["name"])


def test_anthropic_definitions_match_the_sdk_tool_param() -> None:
    adapter = TypeAdapter(anthropic.types.ToolParam)
    allowed = _keys(anthropic.types.ToolParam)
    for tool, source in zip(as_anthropic(), CLAUDE_PM_TOOLS, strict=True):
        adapter.validate_python(tool, strict=True)
        assert set(tool) <= allowed
        assert NAME_RULE.match(tool["name"])
        assert tool["input_schema"] == source["parameters"]
        assert tool["input_schema"]["type"] == "object"


def test_openai_definitions_match_the_sdk_function_tool_param() -> None:
    adapter = TypeAdapter(openai.types.chat.ChatCompletionFunctionToolParam)
    allowed_function = _keys(openai.types.shared_params.FunctionDefinition)
    for tool, source in zip(as_openai(), CLAUDE_PM_TOOLS, strict=True):
        adapter.validate_python(tool, strict=True)
        assert tool["type"] == "function"
        assert set(tool["function"]) <= allowed_function
        assert NAME_RULE.match(tool["function"]["name"])
        assert tool["function"]["parameters"] == source["parameters"]


def test_mcp_definitions_are_mcp_tools_with_the_same_schemas() -> None:
    for tool, source in zip(as_mcp(), CLAUDE_PM_TOOLS, strict=True):
        parsed = mcp_types.Tool.model_validate(tool)
        assert parsed.name == source["name"]
        assert parsed.input_schema == source["parameters"]
        assert parsed.annotations is not None and parsed.title
    [discover] = [t for t in as_mcp() if t["name"] == "discover_available_agents"]
    assert discover["annotations"]["readOnlyHint"] is True


def test_exports_are_copies_that_callers_may_change() -> None:
    before = json.dumps(CLAUDE_PM_TOOLS, sort_keys=True)
    for exported in (as_anthropic(), as_openai(), as_mcp()):
        exported[0].clear()
    as_anthropic()[0]["input_schema"]["properties"].clear()
    as_mcp()[0]["inputSchema"]["properties"].clear()
    as_tool_specs()[0].input_schema["properties"].clear()
    assert json.dumps(CLAUDE_PM_TOOLS, sort_keys=True) == before


def test_export_tools_names_the_formats_on_a_bad_one() -> None:
    assert export_tools("openai") == as_openai()
    with pytest.raises(InvalidInput) as info:
        export_tools("gemini")
    assert "anthropic, openai, mcp" in info.value.message


def test_every_name_the_tools_package_exports_resolves() -> None:
    for name in claude_pm.tools.__all__:
        assert getattr(claude_pm.tools, name) is not None, name
    # The names the package exported before it was split are all still there.
    assert {
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
    } <= set(claude_pm.tools.__all__)
    with pytest.raises(AttributeError, match="no_such_tool"):
        claude_pm.tools.no_such_tool  # noqa: B018
