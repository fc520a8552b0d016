"""The OpenAI adapter through the real SDK against a fake Chat Completions API on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from claude_pm.cancel import CancelToken
from claude_pm.llm import (
    APIErrorKind,
    FinishReason,
    FunctionToolbox,
    LoopConfig,
    Message,
    ModelAPIError,
    ModelRequest,
    OpenAIClient,
    StopReason,
    TextBlock,
    ToolCall,
    ToolOutcome,
    ToolSpec,
    Usage,
    run_loop,
)
from fakes.openai_api import (
    FakeChatCompletionsAPI,
    Scripted,
    api_error,
    completion,
    function_call,
    never_answers,
    overloaded,
    rate_limited,
)

LOOKUP = ToolSpec(
    "lookup",
    "Look a word up.",
    {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
)


@pytest.fixture
def fake() -> Iterator[FakeChatCompletionsAPI]:
    with FakeChatCompletionsAPI() as api:
        yield api


def _client(base_url: str, max_retries: int = 0, timeout_s: float = 30.0) -> OpenAIClient:
    sdk = openai.OpenAI(
        base_url=base_url, api_key="local-key", max_retries=max_retries, timeout=timeout_s
    )
    return OpenAIClient(sdk)


def _request(*messages: Message) -> ModelRequest:
    return ModelRequest(
        model="local-test",
        system_prompt="Be brief.",
        messages=messages or (Message.user_text("hello"),),
        tools=(LOOKUP,),
        max_output_tokens=256,
    )


def test_the_wire_format_and_the_reply(fake: FakeChatCompletionsAPI) -> None:
    fake.add(
        completion(
            "Looking.",
            function_call("lookup", {"word": "pager"}, "call_1"),
            prompt_tokens=120,
            cached_tokens=100,
        )
    )
    with _client(fake.base_url) as client:
        response = client.create(_request())

    [sent] = fake.requests
    assert sent["model"] == "local-test" and sent["max_tokens"] == 256
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
    ]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look a word up.",
                "parameters": LOOKUP.input_schema,
            },
        }
    ]
    assert fake.headers[0]["authorization"] == "Bearer local-key"

    assert response.finish_reason is FinishReason.TOOL_USE
    assert response.model == "local-test"
    # Chat Completions counts cached tokens inside prompt_tokens; the neutral usage does not.
    assert response.usage == Usage(input_tokens=20, output_tokens=20, cache_read_input_tokens=100)
    assert response.content == (
        TextBlock("Looking."),
        ToolCall("call_1", "lookup", {"word": "pager"}),
    )


def test_a_loop_sends_tool_messages_and_echoes_unparsable_arguments(
    fake: FakeChatCompletionsAPI,
) -> None:
    fake.add(
        completion(
            None,
            function_call("lookup", {"word": "a"}, "call_a"),
            function_call("lookup", "{not json", "call_b"),
        ),
        completion("a is a letter; the second call was broken."),
    )

    def lookup(call: ToolCall, cancel: CancelToken | None, report: Any) -> ToolOutcome:
        assert call.arguments is not None
        return ToolOutcome(f"{call.arguments['word']}: a letter")

    with _client(fake.base_url) as client:
        result = run_loop(
            "What is a?",
            client=client,
            toolbox=FunctionToolbox([LOOKUP], lookup),
            config=LoopConfig(model="local-test", system_prompt="Be brief."),
        )
    assert result.stop_reason is StopReason.END_TURN
    assert (result.turns, result.tool_calls, result.tool_errors) == (2, 2, 1)
    system, user, assistant, good, bad = fake.requests[1]["messages"]
    assert (system["role"], user) == ("system", {"role": "user", "content": "What is a?"})
    assert assistant == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "lookup", "arguments": json.dumps({"word": "a"})},
            },
            # The model's own text goes back verbatim, even when it is not JSON.
            {
                "id": "call_b",
                "type": "function",
                "function": {"name": "lookup", "arguments": "{not json"},
            },
        ],
    }
    assert good == {"role": "tool", "tool_call_id": "call_a", "content": "a: a letter"}
    assert bad["role"] == "tool" and bad["tool_call_id"] == "call_b"
    assert bad["content"].startswith("Error: Invalid arguments for lookup")
    assert "not valid JSON" in bad["content"]


@pytest.mark.parametrize(
    ("answer", "finish"),
    [
        (completion("done"), FinishReason.END_TURN),
        (completion("cut", finish_reason="length"), FinishReason.MAX_TOKENS),
        (completion("no", finish_reason="content_filter"), FinishReason.REFUSAL),
        # Some local servers say "stop" next to tool calls: the calls win.
        (
            completion(None, function_call("lookup", {"word": "x"}), finish_reason="stop"),
            FinishReason.TOOL_USE,
        ),
    ],
)
def test_finish_reasons_map_to_neutral_ones(
    fake: FakeChatCompletionsAPI, answer: Scripted, finish: FinishReason
) -> None:
    fake.add(answer)
    with _client(fake.base_url) as client:
        assert client.create(_request()).finish_reason is finish


def test_a_refusal_is_text_and_a_refusal(fake: FakeChatCompletionsAPI) -> None:
    answer = completion(None)
    answer.body["choices"][0]["message"]["refusal"] = "I can't help with that."
    fake.add(answer)
    with _client(fake.base_url) as client:
        response = client.create(_request())
    assert response.finish_reason is FinishReason.REFUSAL
    assert response.content == (TextBlock("I can't help with that."),)


def test_a_reply_without_choices_is_an_api_error(fake: FakeChatCompletionsAPI) -> None:
    answer = completion("x")
    answer.body["choices"].clear()
    fake.add(answer)
    with _client(fake.base_url) as client, pytest.raises(ModelAPIError) as info:
        client.create(_request())
    assert info.value.kind is APIErrorKind.OTHER and "no choices" in info.value.message


def test_max_completion_tokens_for_reasoning_models(fake: FakeChatCompletionsAPI) -> None:
    fake.add(completion("ok"))
    sdk = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
    with OpenAIClient(sdk, max_tokens_param="max_completion_tokens") as client:
        client.create(_request())
    assert fake.requests[0]["max_completion_tokens"] == 256
    assert "max_tokens" not in fake.requests[0]


def _fail(fake: FakeChatCompletionsAPI, *answers: Scripted, **client: Any) -> ModelAPIError:
    fake.add(*answers)
    with _client(fake.base_url, **client) as sdk_client, pytest.raises(ModelAPIError) as info:
        sdk_client.create(_request())
    return info.value


def test_a_429_with_retry_after_is_rate_limited(fake: FakeChatCompletionsAPI) -> None:
    error = _fail(fake, api_error(429, "requests", "Rate limit reached.", {"retry-after": "7"}))
    assert (error.kind, error.status_code, error.retry_after_s) == (
        APIErrorKind.RATE_LIMITED,
        429,
        7.0,
    )
    assert error.api == "Chat Completions API"
    assert "Rate limit reached." in error.message and "wait 7 s" in error.message


def test_a_rate_limit_is_retried_by_the_sdk(fake: FakeChatCompletionsAPI) -> None:
    fake.add(rate_limited(), completion("finally"))
    with _client(fake.base_url, max_retries=1) as client:
        assert client.create(_request()).content == (TextBlock("finally"),)
    assert len(fake.requests) == 2


def test_a_503_is_overloaded_after_the_retries(fake: FakeChatCompletionsAPI) -> None:
    error = _fail(fake, overloaded(), overloaded(), max_retries=1)
    assert (error.kind, error.status_code, error.retries) == (APIErrorKind.OVERLOADED, 503, 1)
    assert "after 1 retries" in error.message and len(fake.requests) == 2


def test_a_401_is_an_authentication_error(fake: FakeChatCompletionsAPI) -> None:
    error = _fail(
        fake, api_error(401, "invalid_request_error", "Incorrect API key provided."), max_retries=2
    )
    assert (error.kind, error.status_code) == (APIErrorKind.AUTHENTICATION, 401)
    assert "OPENAI_API_KEY" in error.message and len(fake.requests) == 1


def test_a_404_names_the_base_url_and_the_model(fake: FakeChatCompletionsAPI) -> None:
    error = _fail(fake, api_error(404, "invalid_request_error", "The model `nope` does not exist."))
    assert error.kind is APIErrorKind.BAD_REQUEST
    assert "does not exist" in error.message and "base URL and the model name" in error.message


def test_a_server_that_never_answers_is_a_connection_timeout(fake: FakeChatCompletionsAPI) -> None:
    error = _fail(fake, never_answers(), timeout_s=0.5)
    assert error.kind is APIErrorKind.CONNECTION
    assert "timed out" in error.message and fake.base_url in error.message


def test_no_key_at_all_is_an_authentication_error_that_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelAPIError) as info:
        OpenAIClient(base_url="http://127.0.0.1:9/v1")
    assert info.value.kind is APIErrorKind.AUTHENTICATION
    assert "OPENAI_API_KEY" in info.value.message
