"""The Anthropic adapter through the real SDK against a fake Messages API on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from claude_pm.cancel import CancelToken
from claude_pm.llm import (
    AnthropicClient,
    APIErrorKind,
    FinishReason,
    FunctionToolbox,
    LoopConfig,
    Message,
    ModelAPIError,
    ModelRequest,
    OpaqueBlock,
    Role,
    StopReason,
    TextBlock,
    ToolCall,
    ToolOutcome,
    ToolSpec,
    Usage,
    run_loop,
)
from fakes.messages_api import (
    FakeMessagesAPI,
    Scripted,
    api_error,
    message,
    never_answers,
    overloaded,
    rate_limited,
    text,
    tool_use,
)

LOOKUP = ToolSpec("lookup", "Look a word up.", {"type": "object", "properties": {}})
NOTE = ToolSpec("note", "Take a note.", {"type": "object", "properties": {}})


@pytest.fixture
def fake() -> Iterator[FakeMessagesAPI]:
    with FakeMessagesAPI() as api:
        yield api


def _client(fake_url: str, max_retries: int = 0, timeout_s: float = 30.0) -> AnthropicClient:
    sdk = anthropic.Anthropic(
        base_url=fake_url, api_key="test-key", max_retries=max_retries, timeout=timeout_s
    )
    return AnthropicClient(sdk)


def _request(*messages: Message, tools: tuple[ToolSpec, ...] = (LOOKUP, NOTE)) -> ModelRequest:
    return ModelRequest(
        model="claude-test",
        system_prompt="Be brief.",
        messages=messages or (Message.user_text("hello"),),
        tools=tools,
        max_output_tokens=256,
    )


def test_the_wire_format_marks_the_prompt_for_caching_and_reads_the_reply(
    fake: FakeMessagesAPI,
) -> None:
    thinking = {"type": "thinking", "thinking": "Look it up first.", "signature": "sig-1"}
    fake.add(
        message(
            thinking,
            text("Looking."),
            tool_use("lookup", {"word": "pager"}, "toolu_1"),
            cache_read_input_tokens=70,
            cache_creation_input_tokens=30,
        )
    )
    with _client(fake.url) as client:
        response = client.create(_request())

    [sent] = fake.requests
    assert sent["model"] == "claude-test" and sent["max_tokens"] == 256
    assert sent["system"] == [
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}
    ]
    assert [t["name"] for t in sent["tools"]] == ["lookup", "note"]
    assert "cache_control" not in sent["tools"][0]
    assert sent["tools"][1]["cache_control"] == {"type": "ephemeral"}
    assert sent["tools"][1]["input_schema"] == {"type": "object", "properties": {}}
    assert sent["messages"] == [{"role": "user", "content": "hello"}]
    sent_key = fake.headers[0].get("x-api-key") or fake.headers[0].get("authorization", "")
    assert sent_key.removeprefix("Bearer ") == "test-key"

    assert response.finish_reason is FinishReason.TOOL_USE
    assert response.raw_finish_reason == "tool_use" and response.model == "claude-test"
    assert response.usage == Usage(
        input_tokens=100,
        output_tokens=20,
        cache_read_input_tokens=70,
        cache_creation_input_tokens=30,
    )
    opaque, said, call = response.content
    assert isinstance(opaque, OpaqueBlock) and opaque.data == thinking
    assert said == TextBlock("Looking.")
    assert call == ToolCall("toolu_1", "lookup", {"word": "pager"})


def test_a_loop_through_the_sdk_sends_results_and_blocks_back_unchanged(
    fake: FakeMessagesAPI,
) -> None:
    thinking = {"type": "thinking", "thinking": "Two lookups.", "signature": "sig-2"}
    fake.add(
        message(
            thinking,
            tool_use("lookup", {"word": "a"}, "toolu_a"),
            tool_use("lookup", {"word": "b"}, "toolu_b"),
        ),
        message(text("a and b are letters.")),
    )

    def lookup(call: ToolCall, cancel: CancelToken | None, report: Any) -> ToolOutcome:
        assert call.arguments is not None
        word = call.arguments["word"]
        return ToolOutcome(f"{word}: a letter", is_error=word == "b")

    with _client(fake.url) as client:
        result = run_loop(
            "What are a and b?",
            client=client,
            toolbox=FunctionToolbox([LOOKUP], lookup),
            config=LoopConfig(model="claude-test", system_prompt="Be brief."),
        )
    assert result.stop_reason is StopReason.END_TURN
    assert result.final_text == "a and b are letters."
    assert (result.turns, result.tool_calls, result.tool_errors) == (2, 2, 1)
    _, reply, answers = fake.requests[1]["messages"]
    assert reply["role"] == "assistant"
    assert reply["content"][0] == thinking  # thinking blocks go back as they came
    assert [b["type"] for b in reply["content"]] == ["thinking", "tool_use", "tool_use"]
    assert answers == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_a",
                "content": "a: a letter",
                "is_error": False,
            },
            {
                "type": "tool_result",
                "tool_use_id": "toolu_b",
                "content": "b: a letter",
                "is_error": True,
            },
        ],
    }


def test_stop_reasons_map_to_neutral_ones(fake: FakeMessagesAPI) -> None:
    for raw in ("end_turn", "stop_sequence", "max_tokens", "pause_turn", "refusal"):
        fake.add(message(text("x"), stop_reason=raw))
    with _client(fake.url) as client:
        finishes = [client.create(_request()).finish_reason for _ in range(5)]
    assert finishes == [
        FinishReason.END_TURN,
        FinishReason.END_TURN,
        FinishReason.MAX_TOKENS,
        FinishReason.PAUSE_TURN,
        FinishReason.REFUSAL,
    ]


def test_without_caching_no_cache_control_is_sent(fake: FakeMessagesAPI) -> None:
    fake.add(message(text("ok")))
    sdk = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0)
    with AnthropicClient(sdk, cache_prompt=False) as client:
        client.create(_request())
    sent = fake.requests[0]
    assert sent["system"] == [{"type": "text", "text": "Be brief."}]
    assert all("cache_control" not in t for t in sent["tools"])


def _fail(fake: FakeMessagesAPI, *answers: Scripted, **client: Any) -> ModelAPIError:
    fake.add(*answers)
    with _client(fake.url, **client) as sdk_client, pytest.raises(ModelAPIError) as info:
        sdk_client.create(_request())
    return info.value


def test_a_429_with_retry_after_is_rate_limited(fake: FakeMessagesAPI) -> None:
    error = _fail(
        fake, api_error(429, "rate_limit_error", "Too many requests.", {"retry-after": "7"})
    )
    assert (error.kind, error.status_code, error.retry_after_s) == (
        APIErrorKind.RATE_LIMITED,
        429,
        7.0,
    )
    assert error.api == "Messages API"
    assert "rate limited" in error.message and "HTTP 429" in error.message
    assert "Too many requests." in error.message and "wait 7 s" in error.message


def test_a_rate_limit_is_retried_then_reported_with_the_retries(fake: FakeMessagesAPI) -> None:
    error = _fail(fake, rate_limited(), rate_limited(), max_retries=1)
    assert error.kind is APIErrorKind.RATE_LIMITED and error.retries == 1
    assert "after 1 retries" in error.message
    assert len(fake.requests) == 2 and fake.unexpected == 0


def test_a_529_is_overloaded(fake: FakeMessagesAPI) -> None:
    error = _fail(fake, overloaded(), overloaded(), max_retries=1)
    assert (error.kind, error.status_code) == (APIErrorKind.OVERLOADED, 529)
    assert "overloaded" in error.message and len(fake.requests) == 2


def test_a_401_is_an_authentication_error_and_not_retried(fake: FakeMessagesAPI) -> None:
    error = _fail(fake, api_error(401, "authentication_error", "invalid x-api-key"), max_retries=2)
    assert (error.kind, error.status_code, error.retries) == (APIErrorKind.AUTHENTICATION, 401, 0)
    assert "invalid x-api-key" in error.message and "ANTHROPIC_API_KEY" in error.message
    assert len(fake.requests) == 1


def test_a_400_is_a_bad_request(fake: FakeMessagesAPI) -> None:
    error = _fail(fake, api_error(400, "invalid_request_error", "model: unknown model 'nope'"))
    assert error.kind is APIErrorKind.BAD_REQUEST
    assert "HTTP 400" in error.message and "unknown model 'nope'" in error.message


def test_a_500_is_a_server_error(fake: FakeMessagesAPI) -> None:
    error = _fail(fake, api_error(500, "api_error", "Internal server error"))
    assert (error.kind, error.status_code) == (APIErrorKind.SERVER, 500)


def test_a_server_that_never_answers_is_a_connection_timeout(fake: FakeMessagesAPI) -> None:
    error = _fail(fake, never_answers(), timeout_s=0.5)
    assert error.kind is APIErrorKind.CONNECTION and error.status_code is None
    assert "timed out" in error.message and fake.url in error.message


def test_a_closed_port_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with _client(f"http://127.0.0.1:{port}") as client, pytest.raises(ModelAPIError) as info:
        client.create(_request())
    assert info.value.kind is APIErrorKind.CONNECTION
    assert "could not reach the Messages API" in info.value.message


def test_the_error_survives_pickling(fake: FakeMessagesAPI) -> None:
    import pickle

    error = _fail(fake, api_error(429, "rate_limit_error", "slow down", {"retry-after": "2"}))
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.status_code, copy.retry_after_s, copy.message) == (
        APIErrorKind.RATE_LIMITED,
        429,
        2.0,
        error.message,
    )


def test_a_user_message_with_several_blocks_is_sent_as_blocks(fake: FakeMessagesAPI) -> None:
    fake.add(message(text("ok")))
    other = OpaqueBlock("openai", {"type": "reasoning"})
    conversation = (
        Message(Role.USER, (TextBlock("one"), TextBlock("two"))),
        Message(Role.ASSISTANT, (TextBlock("noted"), other)),
        Message.user_text("three"),
    )
    with _client(fake.url) as client:
        client.create(_request(*conversation, tools=()))
    sent = fake.requests[0]
    assert "tools" not in sent
    assert sent["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "noted"}]},
        {"role": "user", "content": "three"},
    ]
