"""OpenAI Chat Completions, at OpenAI or any compatible server, as a ModelClient.

:class:`OpenAIClient` wraps an ``openai.OpenAI`` client (given, or built from a
key, a ``base_url`` such as a local vLLM, llama.cpp or Ollama server's
``http://127.0.0.1:8000/v1``, ``max_retries`` and a timeout). The system
prompt becomes the first message, tools are ``function`` tools, each tool
result a ``role: "tool"`` message; the reply's ``tool_calls`` are parsed from
their JSON ``arguments`` (text that is not a JSON object becomes a call with
``argument_error`` set, which the toolbox answers with an error the model can
fix). Chat Completions has no ``is_error`` flag: an error result's text says
so itself. The SDK retries 408, 409, 429, 5xx and connection errors
``max_retries`` times; what fails after that is raised as
:class:`~claude_pm.llm.client.ModelAPIError`.

The SDK is imported only when a client is built or a request fails.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from claude_pm.llm.client import (
    APIErrorKind,
    ModelAPIError,
    ModelSDKMissing,
    connection_error,
    error_detail,
    retry_after_s,
    status_error,
)
from claude_pm.llm.types import (
    ContentBlock,
    FinishReason,
    Message,
    ModelRequest,
    ModelResponse,
    Role,
    TextBlock,
    ToolCall,
    ToolResultBlock,
    ToolSpec,
    Usage,
)

PROVIDER = "openai"
API = "Chat Completions API"
DEFAULT_MAX_RETRIES = 3
_KEY_HINT = "OPENAI_API_KEY (a local server may want its own key, or none)"

_FINISH = {
    "stop": FinishReason.END_TURN,
    "tool_calls": FinishReason.TOOL_USE,
    "function_call": FinishReason.TOOL_USE,
    "length": FinishReason.MAX_TOKENS,
    "content_filter": FinishReason.REFUSAL,
}


def _field(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


# --- neutral -> wire ---------------------------------------------------------------------


def tool_param(spec: ToolSpec) -> dict[str, Any]:
    """A Chat Completions tool: ``{"type": "function", "function": {...}}`` (a copy)."""
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": copy.deepcopy(dict(spec.input_schema)),
        },
    }


def tool_message(block: ToolResultBlock) -> dict[str, Any]:
    """The ``role: "tool"`` message answering one call."""
    return {"role": "tool", "tool_call_id": block.call_id, "content": block.content}


def _call_param(call: ToolCall) -> dict[str, Any]:
    if call.arguments is not None:
        arguments = json.dumps(dict(call.arguments), ensure_ascii=False)
    else:
        arguments = call.raw_arguments or "{}"
    return {
        "id": call.call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def message_params(system_prompt: str, messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation as Chat Completions ``messages``, the system prompt first."""
    out: list[dict[str, Any]] = []
    if system_prompt:
        out.append({"role": "system", "content": system_prompt})
    for message in messages:
        text = "\n".join(b.text for b in message.content if isinstance(b, TextBlock))
        if message.role is Role.ASSISTANT:
            calls = [_call_param(b) for b in message.content if isinstance(b, ToolCall)]
            item: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                item["tool_calls"] = calls
            elif not text:
                item["content"] = ""
            out.append(item)
            continue
        out.extend(tool_message(b) for b in message.content if isinstance(b, ToolResultBlock))
        if text:
            out.append({"role": "user", "content": text})
    return out


MaxTokensParam = Literal["max_tokens", "max_completion_tokens"]


def request_params(
    request: ModelRequest, *, max_tokens_param: MaxTokensParam = "max_tokens"
) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` for ``request``."""
    params: dict[str, Any] = {
        "model": request.model,
        "messages": message_params(request.system_prompt, request.messages),
        max_tokens_param: request.max_output_tokens,
    }
    if request.tools:
        params["tools"] = [tool_param(t) for t in request.tools]
    return params


# --- wire -> neutral ---------------------------------------------------------------------


def _tool_call(item: Any) -> ToolCall:
    function = _field(item, "function")
    call_id = str(_field(item, "id"))
    if function is None:
        kind = _field(item, "type", "?")
        return ToolCall(call_id, "?", None, f"tool calls of type {kind!r} are not supported")
    name = str(_field(function, "name", ""))
    text = _field(function, "arguments", "") or "{}"
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError) as e:
        return ToolCall(call_id, name, None, f"arguments are not valid JSON ({e})", str(text))
    if not isinstance(parsed, dict):
        problem = f"arguments must be a JSON object, got {type(parsed).__name__}"
        return ToolCall(call_id, name, None, problem, str(text))
    return ToolCall(call_id, name, parsed)


def tool_calls_from_message(message_or_calls: Any) -> list[ToolCall]:
    """The function calls of an assistant message (or of its ``tool_calls`` list), in order."""
    if isinstance(message_or_calls, Mapping) or hasattr(message_or_calls, "tool_calls"):
        raw_calls = _field(message_or_calls, "tool_calls")
    else:
        raw_calls = message_or_calls
    return [_tool_call(item) for item in raw_calls or ()]


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    prompt = int(_field(usage, "prompt_tokens", 0) or 0)
    details = _field(usage, "prompt_tokens_details")
    cached = int(_field(details, "cached_tokens", 0) or 0) if details is not None else 0
    return Usage(
        input_tokens=max(0, prompt - cached),
        output_tokens=int(_field(usage, "completion_tokens", 0) or 0),
        cache_read_input_tokens=cached,
    )


def response_from_completion(completion: Any) -> ModelResponse:
    """A Chat Completions reply (an SDK ``ChatCompletion`` or its dict) as a neutral response.

    Raises:
        ModelAPIError: the reply has no choices.
    """
    choices = _field(completion, "choices") or []
    if not choices:
        raise ModelAPIError(
            f"the {API} answered with no choices; check that the server serves chat models.",
            kind=APIErrorKind.OTHER,
            api=API,
        )
    choice = choices[0]
    message = _field(choice, "message")
    content: list[ContentBlock] = []
    text = _field(message, "content")
    refusal = _field(message, "refusal")
    if isinstance(text, str) and text:
        content.append(TextBlock(text))
    if isinstance(refusal, str) and refusal:
        content.append(TextBlock(refusal))
    calls = tool_calls_from_message(message)
    content.extend(calls)
    raw_finish = _field(choice, "finish_reason")
    finish = _FINISH.get(str(raw_finish), FinishReason.OTHER)
    if calls:
        finish = FinishReason.TOOL_USE  # some servers say "stop" next to their tool calls
    elif refusal:
        finish = FinishReason.REFUSAL
    return ModelResponse(
        content=tuple(content),
        finish_reason=finish,
        usage=_usage(_field(completion, "usage")),
        model=str(_field(completion, "model") or ""),
        raw_finish_reason=raw_finish,
    )


# --- the client --------------------------------------------------------------------------


class OpenAIClient:
    """A :class:`~claude_pm.llm.client.ModelClient` over ``openai.OpenAI`` (Chat Completions).

    Args:
        sdk_client: a ready ``openai.OpenAI``; when None, one is built from the others.
        api_key: the key; a local server that checks none still needs a placeholder.
        base_url: an OpenAI-compatible endpoint, ending in ``/v1``.
        max_retries: the SDK's retries of 408/409/429/5xx and connection errors.
        timeout_s: the SDK's request timeout (None: the SDK's default).
        max_tokens_param: ``max_tokens`` (what compatible servers accept) or
            ``max_completion_tokens`` (what OpenAI's reasoning models require).

    Raises:
        ModelSDKMissing: the ``openai`` package is not installed.
        ModelAPIError: no key was given and the environment has none (``authentication``).
    """

    def __init__(
        self,
        sdk_client: Any | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout_s: float | None = None,
        max_tokens_param: MaxTokensParam = "max_tokens",
    ) -> None:
        if sdk_client is None:
            try:
                import openai
            except ImportError as e:
                raise ModelSDKMissing("openai", "openai") from e
            options: dict[str, Any] = {"max_retries": max_retries}
            if timeout_s is not None:
                options["timeout"] = timeout_s
            try:
                sdk_client = openai.OpenAI(api_key=api_key, base_url=base_url, **options)
            except openai.OpenAIError as e:
                raise ModelAPIError(
                    f"cannot build the {API} client: {e}. Set OPENAI_API_KEY (any "
                    "placeholder will do for a local server that checks no key).",
                    kind=APIErrorKind.AUTHENTICATION,
                    api=API,
                ) from e
        self.sdk = sdk_client
        self.max_tokens_param: MaxTokensParam = max_tokens_param

    def create(self, request: ModelRequest) -> ModelResponse:
        params = request_params(request, max_tokens_param=self.max_tokens_param)
        try:
            completion = self.sdk.chat.completions.create(**params)
        except Exception as e:
            error = self._api_error(e)
            if error is None:
                raise
            raise error from e
        return response_from_completion(completion)

    def _api_error(self, error: Exception) -> ModelAPIError | None:
        import openai

        max_retries = int(getattr(self.sdk, "max_retries", 0) or 0)
        base_url = str(getattr(self.sdk, "base_url", "") or "")
        if isinstance(error, openai.APIStatusError):
            response = getattr(error, "response", None)
            return status_error(
                api=API,
                status_code=error.status_code,
                detail=error_detail(error.body, error.message),
                retry_after=retry_after_s(getattr(response, "headers", None)),
                max_retries=max_retries,
                key_hint=_KEY_HINT,
            )
        if isinstance(error, openai.APIConnectionError):
            return connection_error(
                api=API,
                base_url=base_url,
                timed_out=isinstance(error, openai.APITimeoutError),
                detail=str(error.__cause__ or error),
                max_retries=max_retries,
                url_hint="the base URL (--base-url or CLAUDE_PM_OPENAI_BASE_URL) and the server",
            )
        if isinstance(error, openai.OpenAIError):
            return ModelAPIError(f"the {API} failed: {error}", kind=APIErrorKind.OTHER, api=API)
        return None

    def close(self) -> None:
        self.sdk.close()

    def __enter__(self) -> OpenAIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "API",
    "PROVIDER",
    "OpenAIClient",
    "message_params",
    "request_params",
    "response_from_completion",
    "tool_calls_from_message",
    "tool_message",
    "tool_param",
]
