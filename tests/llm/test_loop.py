"""The model loop against the scripted model: limits, budgets, concurrency, cancellation, errors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from claude_pm.cancel import CancelToken
from claude_pm.errors import InvalidInput
from claude_pm.llm import (
    APIErrorKind,
    EventKind,
    FinishReason,
    FunctionToolbox,
    LoopConfig,
    LoopEvent,
    LoopResult,
    Message,
    ModelPrice,
    OpaqueBlock,
    Role,
    StopReason,
    TextBlock,
    ToolCall,
    ToolOutcome,
    ToolResultBlock,
    ToolSpec,
    Usage,
    run_loop,
)
from claude_pm.testing import ScriptedModelClient, ScriptExhausted, api_error, reply, tool_call

ECHO = ToolSpec(
    "echo",
    "Echo the text back.",
    {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
)

Report = Callable[[str, float | None, float | None], None]


def echo(call: ToolCall, cancel: CancelToken | None, report: Report) -> ToolOutcome:
    assert call.arguments is not None
    report("echoing", 1, 1)
    return ToolOutcome(str(call.arguments["text"]), data={"echo": call.arguments["text"]})


def _run(
    client: ScriptedModelClient,
    function: Any = echo,
    *,
    goal: str = "say hi",
    events: list[LoopEvent] | None = None,
    cancel: CancelToken | None = None,
    **limits: Any,
) -> LoopResult:
    config = LoopConfig(model=limits.pop("model", "scripted-model"), **limits)
    return run_loop(
        goal,
        client=client,
        toolbox=FunctionToolbox([ECHO], function),
        config=config,
        on_event=events.append if events is not None else None,
        cancel=cancel,
    )


def test_a_run_sends_the_conversation_and_ends_when_the_model_finishes() -> None:
    model = ScriptedModelClient(
        [reply("Echoing.", tool_call("echo", {"text": "hi"}, "c1")), reply("It said hi.")]
    )
    events: list[LoopEvent] = []
    result = _run(model, events=events, system_prompt="You echo.", max_output_tokens=300)

    assert result.stop_reason is StopReason.END_TURN and result.ok
    assert (result.final_text, result.turns, result.tool_calls, result.tool_errors) == (
        "It said hi.",
        2,
        1,
        0,
    )
    assert result.usage == Usage(input_tokens=200, output_tokens=40)
    assert result.cost_usd is None  # no price for "scripted-model"
    first, second = model.requests
    assert (first.model, first.system_prompt, first.tools, first.max_output_tokens) == (
        "scripted-model",
        "You echo.",
        (ECHO,),
        300,
    )
    assert first.messages == (Message(Role.USER, (TextBlock("say hi"),)),)
    assert second.messages[1].role is Role.ASSISTANT
    assert second.messages[2] == Message(Role.USER, (ToolResultBlock("c1", "hi", False),))
    assert result.messages == (
        *second.messages,
        Message(Role.ASSISTANT, (TextBlock("It said hi."),)),
    )

    kinds = [e.kind for e in events]
    assert kinds == [
        EventKind.GOAL,
        EventKind.USAGE,
        EventKind.ASSISTANT_TEXT,
        EventKind.TOOL_CALL,
        EventKind.TOOL_PROGRESS,
        EventKind.TOOL_RESULT,
        EventKind.USAGE,
        EventKind.ASSISTANT_TEXT,
        EventKind.STOP,
    ]
    assert events[0].data["system_prompt"] == "You echo."
    [tool_result] = [e for e in events if e.kind is EventKind.TOOL_RESULT]
    assert tool_result.data == {
        "id": "c1",
        "name": "echo",
        "is_error": False,
        "result": {"echo": "hi"},
    }
    assert events[-1].result == result and events[-1].data["reason"] == "end_turn"


def test_the_turn_limit_stops_the_loop_without_running_unseen_calls() -> None:
    model = ScriptedModelClient(
        [reply(tool_call("echo", {"text": "1"})), reply(tool_call("echo", {"text": "2"}))]
    )
    result = _run(model, max_turns=2)
    assert result.stop_reason is StopReason.MAX_TURNS and not result.ok
    assert (result.turns, result.tool_calls, len(model.requests)) == (2, 1, 2)
    assert result.message == "stopped at the turn limit (2); 1 requested tool call(s) not run"


def test_the_token_budget_stops_the_loop_and_counts_every_kind_of_token() -> None:
    cached = Usage(input_tokens=20, output_tokens=10, cache_read_input_tokens=20)
    model = ScriptedModelClient(
        [
            reply(tool_call("echo", {"text": "1"}), usage=cached),
            reply(tool_call("echo", {"text": "2"}), input_tokens=80, output_tokens=20),
        ]
    )
    result = _run(model, max_tokens_budget=100)
    assert result.stop_reason is StopReason.TOKEN_BUDGET
    assert result.usage.total_tokens == 150 and result.tool_calls == 1
    assert result.message == "token budget spent (150 > 100); 1 requested tool call(s) not run"


def test_the_dollar_budget_uses_the_price_table() -> None:
    # claude-sonnet-4-5: $3 in, $15 out per million: 100k in + 10k out = $0.45 a reply.
    heavy = {"input_tokens": 100_000, "output_tokens": 10_000}
    model = ScriptedModelClient(
        [
            reply(tool_call("echo", {"text": "1"}), **heavy),
            reply(tool_call("echo", {"text": "2"}), **heavy),
        ]
    )
    result = _run(model, model="claude-sonnet-4-5-20250929", budget_usd=0.5)
    assert result.stop_reason is StopReason.BUDGET_USD
    assert result.cost_usd == pytest.approx(0.90)
    assert result.tool_calls == 1
    assert (
        result.message
        == "dollar budget spent ($0.9000 > $0.5000); 1 requested tool call(s) not run"
    )


def test_a_given_price_prices_an_unknown_model() -> None:
    model = ScriptedModelClient([reply("done", input_tokens=1_000_000, output_tokens=500_000)])
    result = _run(model, model="local-llama", price=ModelPrice(0.5, 2.0, 0.0, 0.0))
    assert result.ok and result.cost_usd == pytest.approx(1.5)


def test_a_dollar_budget_for_a_model_without_a_price_is_refused_up_front() -> None:
    with pytest.raises(InvalidInput) as info:
        LoopConfig(model="local-llama", budget_usd=1.0)
    assert info.value.field == "budget_usd"
    assert "No price is known for model 'local-llama'" in info.value.message


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"max_turns": 0}, "max_turns"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"max_parallel_calls": 0}, "max_parallel_calls"),
        ({"max_tokens_budget": 0}, "max_tokens_budget"),
        ({"budget_usd": 0.0, "model": "claude-sonnet-4-5"}, "budget_usd"),
        ({"model": " "}, "model"),
    ],
)
def test_nonsense_limits_are_refused(limits: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        LoopConfig(**{"model": "m", **limits})
    assert info.value.field == field


def test_an_empty_goal_is_refused() -> None:
    with pytest.raises(InvalidInput, match="goal is empty"):
        _run(ScriptedModelClient(), goal="  ")


def test_the_calls_of_one_turn_really_run_at_the_same_time() -> None:
    barrier = threading.Barrier(3, timeout=30)

    def meet(call: ToolCall, cancel: CancelToken | None, report: Report) -> ToolOutcome:
        barrier.wait()  # breaks (and the call fails) unless all three are running at once
        return ToolOutcome(f"met {call.call_id}")

    model = ScriptedModelClient(
        [reply(*(tool_call("echo", {"text": str(i)}, f"c{i}") for i in range(3))), reply("ok")]
    )
    result = _run(model, meet, max_parallel_calls=3)
    assert result.ok and result.tool_errors == 0
    answers = model.requests[1].messages[-1].content
    assert answers == tuple(ToolResultBlock(f"c{i}", f"met c{i}") for i in range(3))


def test_no_more_calls_run_at_once_than_the_bound() -> None:
    lock = threading.Condition()
    running = {"now": 0, "peak": 0}

    def pair(call: ToolCall, cancel: CancelToken | None, report: Report) -> ToolOutcome:
        with lock:
            running["now"] += 1
            running["peak"] = max(running["peak"], running["now"])
            lock.notify_all()
            # Wait for a partner, so that two calls are in flight before either ends.
            lock.wait_for(lambda: running["peak"] >= 2, timeout=30)
            running["now"] -= 1
        return ToolOutcome("done")

    model = ScriptedModelClient(
        [reply(*(tool_call("echo", {"text": str(i)}) for i in range(6))), reply("ok")]
    )
    result = _run(model, pair, max_parallel_calls=2)
    assert result.ok and result.tool_calls == 6
    assert running["peak"] == 2


def test_pause_turn_sends_the_paused_reply_back_to_continue() -> None:
    search = OpaqueBlock("anthropic", {"type": "server_tool_use", "id": "s1", "name": "web_search"})
    model = ScriptedModelClient(
        [reply("Searching.", search, finish=FinishReason.PAUSE_TURN), reply("Found it.")]
    )
    result = _run(model)
    assert result.ok and result.turns == 2 and result.tool_calls == 0
    paused = model.requests[1].messages[-1]
    assert paused == Message(Role.ASSISTANT, (TextBlock("Searching."), search))
    assert result.final_text == "Found it."


@pytest.mark.parametrize(
    ("finish", "reason", "message"),
    [
        (
            FinishReason.MAX_TOKENS,
            StopReason.MAX_TOKENS,
            "the model's reply hit max_output_tokens (64)",
        ),
        (FinishReason.REFUSAL, StopReason.REFUSAL, "the model declined to continue"),
        (FinishReason.OTHER, StopReason.END_TURN, None),
    ],
)
def test_how_a_reply_ends_decides_how_the_run_ends(
    finish: FinishReason, reason: StopReason, message: str | None
) -> None:
    result = _run(ScriptedModelClient([reply("partial", finish=finish)]), max_output_tokens=64)
    assert (result.stop_reason, result.message, result.final_text) == (reason, message, "partial")


def test_a_cancel_token_set_before_the_run_sends_nothing() -> None:
    model = ScriptedModelClient([reply("never")])
    cancelled = threading.Event()
    cancelled.set()
    result = _run(model, cancel=cancelled)
    assert result.stop_reason is StopReason.CANCELLED and result.turns == 0
    assert model.requests == []


def test_cancelling_during_the_tool_calls_stops_before_the_next_request() -> None:
    cancelled = threading.Event()
    seen: list[CancelToken | None] = []

    def stop(call: ToolCall, cancel: CancelToken | None, report: Report) -> ToolOutcome:
        seen.append(cancel)
        cancelled.set()  # as if the user pressed stop while the tool ran
        return ToolOutcome("stopped early", is_error=True)

    model = ScriptedModelClient([reply(tool_call("echo", {"text": "x"}, "c1")), reply("never")])
    result = _run(model, stop, cancel=cancelled)
    assert seen == [cancelled]  # the tool got the run's token
    assert result.stop_reason is StopReason.CANCELLED
    assert result.message == "cancelled while the tool calls ran"
    assert len(model.requests) == 1 and model.remaining == 1
    assert result.messages[-1] == Message(
        Role.USER, (ToolResultBlock("c1", "stopped early", True),)
    )


def test_a_failing_tool_is_a_result_the_model_reads() -> None:
    def broken(call: ToolCall, cancel: CancelToken | None, report: Report) -> ToolOutcome:
        raise RuntimeError("disk on fire")

    model = ScriptedModelClient(
        [
            reply(
                tool_call("echo", {"text": "x"}, "c1"),
                tool_call("deploy", {}, "c2"),
                ToolCall("c3", "echo", None, "arguments are not valid JSON (bad)", "{bad"),
            ),
            reply("I could not echo."),
        ]
    )
    result = _run(model, broken)
    assert result.ok and (result.tool_calls, result.tool_errors) == (3, 3)
    failed, unknown, invalid = model.requests[1].messages[-1].content
    assert isinstance(failed, ToolResultBlock) and failed.is_error
    assert failed.content == "Error: echo failed: RuntimeError: disk on fire"
    assert isinstance(unknown, ToolResultBlock) and unknown.is_error
    assert unknown.content == "Error: Unknown tool 'deploy'. Use one of: echo."
    assert isinstance(invalid, ToolResultBlock) and invalid.is_error
    assert "Invalid arguments for echo: arguments are not valid JSON" in invalid.content


def test_an_api_error_ends_the_run_and_says_what_happened() -> None:
    error = api_error(APIErrorKind.RATE_LIMITED, "rate limited; wait", status_code=429)
    events: list[LoopEvent] = []
    result = _run(ScriptedModelClient([error]), events=events)
    assert result.stop_reason is StopReason.API_ERROR and result.error is error
    assert result.message == "rate limited; wait" and result.turns == 1
    [failure] = [e for e in events if e.kind is EventKind.API_ERROR]
    assert failure.data["kind"] == "rate_limited" and failure.data["status_code"] == 429


def test_an_interrupt_is_recorded_as_cancelled_then_raised() -> None:
    def interrupted(call: ToolCall, cancel: CancelToken | None, report: Report) -> ToolOutcome:
        raise KeyboardInterrupt

    events: list[LoopEvent] = []
    model = ScriptedModelClient([reply(tool_call("echo", {"text": "x"})), reply("never")])
    with pytest.raises(KeyboardInterrupt):
        _run(model, interrupted, events=events, max_parallel_calls=1)
    stop = events[-1]
    assert stop.kind is EventKind.STOP and stop.result is not None
    assert (stop.result.stop_reason, stop.result.message) == (StopReason.CANCELLED, "interrupted")


def test_a_failing_event_callback_does_not_stop_the_run() -> None:
    def explode(event: LoopEvent) -> None:
        raise ValueError("callback bug")

    model = ScriptedModelClient([reply(tool_call("echo", {"text": "x"})), reply("done")])
    result = run_loop(
        "go",
        client=model,
        toolbox=FunctionToolbox([ECHO], echo),
        config=LoopConfig(model="m"),
        on_event=explode,
    )
    assert result.ok and result.tool_calls == 1


def test_a_request_beyond_the_script_fails_the_test_loudly() -> None:
    model = ScriptedModelClient([reply(tool_call("echo", {"text": "x"}))])
    with pytest.raises(ScriptExhausted, match="request 2"):
        _run(model)


def test_a_step_may_compute_its_reply_from_the_request() -> None:
    def count(request: Any) -> Any:
        return reply(f"{len(request.messages)} message(s) so far")

    model = ScriptedModelClient([count])
    result = _run(model)
    assert result.final_text == "1 message(s) so far" and len(model.requests) == 1
