"""Running a model's tool calls through the handler, for any loop and for the model loop."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anthropic.types
import openai.types.chat
import pytest
from pydantic import TypeAdapter

from claude_pm.config import load_settings
from claude_pm.llm import LoopConfig, ToolCall, run_loop
from claude_pm.testing import ScriptedModelClient, reply, tool_call
from claude_pm.tools import (
    HandlerToolbox,
    anthropic_tool_calls,
    anthropic_tool_results,
    as_tool_specs,
    call_tools,
    openai_tool_calls,
    openai_tool_messages,
)
from claude_pm.tools.handler import ClaudeToolHandler


@pytest.fixture
def handler(project: Path) -> ClaudeToolHandler:
    return ClaudeToolHandler(settings=load_settings(project_root=project, environ={}))


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


def test_parsing_reads_sdk_objects_and_dicts_alike() -> None:
    block = anthropic.types.ToolUseBlock(type="tool_use", id="t1", name="x", input={"a": 1})
    as_dict = {"type": "tool_use", "id": "t1", "name": "x", "input": {"a": 1}}
    assert anthropic_tool_calls([block]) == anthropic_tool_calls([as_dict])
    assert anthropic_tool_calls([as_dict]) == [ToolCall("t1", "x", {"a": 1})]
    raw = [{"id": "c1", "type": "function", "function": {"name": "x", "arguments": "[1]"}}]
    [call] = openai_tool_calls(raw)
    assert call.arguments is None
    assert call.argument_error == "arguments must be a JSON object, got list"


def test_the_handler_as_the_model_loops_toolbox(handler: ClaudeToolHandler) -> None:
    model = ScriptedModelClient(
        [
            reply(
                tool_call(
                    "create_tickets_from_output",
                    {"output_text": "TODO: add tests", "source_agent": "qa"},
                    "c1",
                ),
                tool_call("deploy", {}, "c2"),
            ),
            reply("One TODO, and no deploy tool."),
        ]
    )
    toolbox = HandlerToolbox(handler)
    assert tuple(toolbox.tools) == as_tool_specs()
    result = run_loop("triage", client=model, toolbox=toolbox, config=LoopConfig(model="m"))
    assert result.ok and (result.tool_calls, result.tool_errors) == (2, 1)
    assert model.requests[0].tools == as_tool_specs()
    found, unknown = model.requests[1].messages[-1].content
    assert json.loads(found.content)["tickets_found"] == 1 and not found.is_error
    assert unknown.is_error and unknown.content.startswith("Error: Unknown tool 'deploy'")
