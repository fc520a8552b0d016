"""The scripted model client does what its docstring shows, and fails loudly off script."""

from __future__ import annotations

import pytest

import claude_pm.testing
from claude_pm.llm import (
    APIErrorKind,
    FunctionToolbox,
    LoopConfig,
    ModelAPIError,
    ModelRequest,
    ModelResponse,
    StopReason,
    ToolOutcome,
    ToolSpec,
    run_loop,
)
from claude_pm.testing import ScriptedModelClient, ScriptExhausted, api_error, reply, tool_call


def test_docstring_example_runs() -> None:
    model = ScriptedModelClient([reply(tool_call("echo", {"text": "hi"})), reply("done")])
    echo = FunctionToolbox(
        [ToolSpec("echo", "Echo the text.", {"type": "object"})],
        lambda call, cancel, report: ToolOutcome(call.arguments["text"]),
    )
    result = run_loop("say hi", client=model, toolbox=echo, config=LoopConfig(model="m"))
    assert result.final_text == "done" and result.tool_calls == 1
    assert model.requests[1].messages[-1].content[0].content == "hi"


def test_a_scripted_error_is_raised_and_ends_the_loop() -> None:
    model = ScriptedModelClient([api_error(APIErrorKind.OVERLOADED, status_code=529)])
    result = run_loop(
        "x",
        client=model,
        toolbox=FunctionToolbox([], lambda *a: ToolOutcome("")),
        config=LoopConfig(model="m"),
    )
    assert result.stop_reason is StopReason.API_ERROR
    assert isinstance(result.error, ModelAPIError)
    assert (result.error.kind, result.error.status_code) == (APIErrorKind.OVERLOADED, 529)


def test_steps_are_used_in_order_and_requests_are_recorded() -> None:
    seen: list[int] = []

    def count(request: ModelRequest) -> ModelResponse:
        seen.append(len(request.messages))
        return reply("second")

    model = ScriptedModelClient([reply("first")])
    model.add(count)
    request = ModelRequest("m", "", (), (), 10)
    assert model.create(request).content[0].text == "first"
    assert model.create(request).content[0].text == "second"
    assert seen == [0] and model.requests == [request, request] and model.remaining == 0
    with pytest.raises(ScriptExhausted, match="request 3"):
        model.create(request)


def test_every_exported_name_resolves() -> None:
    for name in claude_pm.testing.__all__:
        assert getattr(claude_pm.testing, name) is not None, name
