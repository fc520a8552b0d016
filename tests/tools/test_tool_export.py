"""The tool definitions in each provider's format, checked with the providers' own SDK types."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anthropic.types
import mcp_types
import openai.types.chat
import pytest
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter

from claude_pm.config import load_settings
from claude_pm.errors import InvalidInput
from claude_pm.tools.export import (
    TOOL_FORMATS,
    ToolCall,
    anthropic_tool_results,
    as_anthropic,
    as_mcp,
    as_openai,
    call_tools,
    export_tools,
    openai_tool_messages,
)
from claude_pm.tools.handler import ClaudeToolHandler
from claude_pm.tools.schemas import CLAUDE_PM_TOOLS

NAME_RULE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _keys(typed_dict: Any) -> set[str]:
    return set(typed_dict.__required_keys__) | set(typed_dict.__optional_keys__)


@pytest.fixture
def handler(project: Path) -> ClaudeToolHandler:
    return ClaudeToolHandler(settings=load_settings(project_root=project, environ={}))


def test_every_format_keeps_the_four_tools_in_order() -> None:
    names = [t["name"] for t in CLAUDE_PM_TOOLS]
    assert [t["name"] for t in as_anthropic()] == names
    assert [t["function"]["name"] for t in as_openai()] == names
    assert [t["name"] for t in as_mcp()] == names
    assert set(TOOL_FORMATS) == {"anthropic", "openai", "mcp"}


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
    assert json.dumps(CLAUDE_PM_TOOLS, sort_keys=True) == before


def test_export_tools_names_the_formats_on_a_bad_one() -> None:
    assert export_tools("openai") == as_openai()
    with pytest.raises(InvalidInput) as info:
        export_tools("gemini")
    assert "anthropic, openai, mcp" in info.value.message


def test_anthropic_tool_use_blocks_become_tool_results(handler: ClaudeToolHandler) -> None:
    content = [
        anthropic.types.TextBlock(type="text", text="Filing what QA found."),
        anthropic.types.ToolUseBlock(
            type="tool_use",
            id="toolu_ok",
            name="create_tickets_from_output",
            input={"output_text": "TODO: add tests for the parser", "source_agent": "qa"},
        ),
        anthropic.types.ToolUseBlock(
            type="tool_use", id="toolu_bad", name="create_tickets_from_output", input={"x": 1}
        ),
        anthropic.types.ToolUseBlock(type="tool_use", id="toolu_unknown", name="deploy", input={}),
    ]
    blocks = anthropic_tool_results(handler, content)

    adapter = TypeAdapter(anthropic.types.ToolResultBlockParam)
    for block in blocks:
        adapter.validate_python(block, strict=True)
    assert [b["tool_use_id"] for b in blocks] == ["toolu_ok", "toolu_bad", "toolu_unknown"]
    assert [b["is_error"] for b in blocks] == [False, True, True]
    ok = json.loads(blocks[0]["content"])
    assert ok["tickets_found"] == 1
    assert blocks[1]["content"].startswith(
        "Error: Invalid arguments for create_tickets_from_output"
    )
    assert "output_text" in blocks[1]["content"]
    assert "Use one of: execute_agent_subprocess" in blocks[2]["content"]


def test_plain_dict_blocks_work_like_sdk_objects(handler: ClaudeToolHandler) -> None:
    content = [{"type": "tool_use", "id": "t1", "name": "create_tickets_from_output", "input": []}]
    [block] = anthropic_tool_results(handler, content)
    assert block["is_error"] is True
    assert "JSON object" in block["content"]


def test_openai_tool_calls_become_tool_messages(handler: ClaudeToolHandler) -> None:
    message = openai.types.chat.ChatCompletionMessage(
        role="assistant",
        content=None,
        tool_calls=[
            openai.types.chat.ChatCompletionMessageFunctionToolCall(
                id="call_ok",
                type="function",
                function={
                    "name": "create_tickets_from_output",
                    "arguments": json.dumps({"output_text": "FIXME: leak", "source_agent": "qa"}),
                },
            ),
            openai.types.chat.ChatCompletionMessageFunctionToolCall(
                id="call_broken",
                type="function",
                function={"name": "create_tickets_from_output", "arguments": "{not json"},
            ),
        ],
    )
    messages = openai_tool_messages(handler, message)

    adapter = TypeAdapter(openai.types.chat.ChatCompletionToolMessageParam)
    for item in messages:
        adapter.validate_python(item, strict=True)
    assert [m["tool_call_id"] for m in messages] == ["call_ok", "call_broken"]
    assert json.loads(messages[0]["content"])["success"] is True
    assert messages[1]["content"].startswith("Error: Invalid arguments")
    assert "not valid JSON" in messages[1]["content"]
    assert openai_tool_messages(handler, {"role": "assistant", "content": "done"}) == []


class BarrierHandler:
    """A second honest handler: every call waits until all of the turn's calls have started."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=30)

    def handle_tool_call(
        self, tool_name: str, parameters: Mapping[str, Any] | None, **_: Any
    ) -> dict[str, Any]:
        self.barrier.wait()
        return {"success": True, "tool": tool_name, "echo": dict(parameters or {})}


def test_calls_of_one_turn_run_concurrently_and_keep_their_order() -> None:
    calls = [ToolCall(f"c{i}", "discover_available_agents", {"n": i}) for i in range(3)]
    results = call_tools(BarrierHandler(3), calls, max_parallel=3)
    assert [r["echo"]["n"] for r in results] == [0, 1, 2]
