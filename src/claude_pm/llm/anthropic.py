"""The Anthropic Messages API as a :class:`~claude_pm.llm.client.ModelClient`.

:class:`AnthropicClient` wraps an ``anthropic.Anthropic`` client (given, or
built from an API key, a base URL, ``max_retries`` and a timeout). Each request
translates the neutral conversation to Messages API parameters, marks the
system prompt and the last tool definition with ``cache_control`` (so the
stable prefix of every turn is read from the prompt cache), and translates the
reply back. The SDK retries 408, 409, 429, 5xx (529 overloaded included) and
connection errors ``max_retries`` times, honouring ``retry-after``; what fails
after that is raised as :class:`~claude_pm.llm.client.ModelAPIError`.

The SDK is imported only when a client is built or a request fails: the
translation functions (:func:`tool_calls_from_content`, :func:`tool_param`,
:func:`tool_result_param`) read SDK objects and plain dicts alike.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

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
    OpaqueBlock,
    Role,
    TextBlock,
    ToolCall,
    ToolResultBlock,
    ToolSpec,
    Usage,
)

PROVIDER = "anthropic"
API = "Messages API"
DEFAULT_MAX_RETRIES = 3
_EPHEMERAL = {"type": "ephemeral"}
_KEY_HINT = "ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN)"

_FINISH = {
    "end_turn": FinishReason.END_TURN,
    "stop_sequence": FinishReason.END_TURN,
    "tool_use": FinishReason.TOOL_USE,
    "max_tokens": FinishReason.MAX_TOKENS,
    "model_context_window_exceeded": FinishReason.MAX_TOKENS,
    "pause_turn": FinishReason.PAUSE_TURN,
    "refusal": FinishReason.REFUSAL,
}


def _field(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


# --- neutral -> wire ---------------------------------------------------------------------


def tool_param(spec: ToolSpec) -> dict[str, Any]:
    """A Messages API tool definition: ``{"name", "description", "input_schema"}`` (a copy)."""
    return {
        "name": spec.name,
        "description": spec.description,
        "input_schema": copy.deepcopy(dict(spec.input_schema)),
    }


def tool_result_param(block: ToolResultBlock) -> dict[str, Any]:
    """A ``tool_result`` content block; ``is_error`` set for a failed call."""
    return {
        "type": "tool_result",
        "tool_use_id": block.call_id,
        "content": block.content,
        "is_error": block.is_error,
    }


def _block_param(block: ContentBlock) -> dict[str, Any] | None:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ToolCall):
        arguments = dict(block.arguments) if block.arguments is not None else {}
        return {"type": "tool_use", "id": block.call_id, "name": block.name, "input": arguments}
    if isinstance(block, ToolResultBlock):
        return tool_result_param(block)
    if block.provider == PROVIDER:
        return copy.deepcopy(dict(block.data))
    return None  # another provider's block means nothing here


def message_params(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation as Messages API ``messages`` (a lone user text stays a string)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if (
            message.role is Role.USER
            and len(message.content) == 1
            and isinstance(message.content[0], TextBlock)
        ):
            out.append({"role": "user", "content": message.content[0].text})
            continue
        blocks = [p for b in message.content if (p := _block_param(b)) is not None]
        out.append({"role": message.role.value, "content": blocks})
    return out


def request_params(request: ModelRequest, *, cache_prompt: bool = True) -> dict[str, Any]:
    """The keyword arguments of ``messages.create`` for ``request``."""
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_output_tokens,
        "messages": message_params(request.messages),
    }
    if request.system_prompt:
        system: dict[str, Any] = {"type": "text", "text": request.system_prompt}
        if cache_prompt:
            system["cache_control"] = dict(_EPHEMERAL)
        params["system"] = [system]
    if request.tools:
        tools = [tool_param(t) for t in request.tools]
        if cache_prompt:
            # A breakpoint on the last tool caches every definition before it too.
            tools[-1]["cache_control"] = dict(_EPHEMERAL)
        params["tools"] = tools
    return params


# --- wire -> neutral ---------------------------------------------------------------------


def _tool_call(block: Any) -> ToolCall:
    raw = _field(block, "input")
    arguments = dict(raw) if isinstance(raw, Mapping) else None
    problem = None if arguments is not None else "tool input is not a JSON object"
    return ToolCall(str(_field(block, "id")), str(_field(block, "name")), arguments, problem)


def tool_calls_from_content(content: Iterable[Any]) -> list[ToolCall]:
    """The ``tool_use`` blocks of an assistant message's content, in order.

    Reads SDK objects and plain dicts alike.
    """
    return [_tool_call(b) for b in content if _field(b, "type") == "tool_use"]


def _dump(block: Any) -> dict[str, Any]:
    if isinstance(block, Mapping):
        return dict(block)
    dumped: dict[str, Any] = block.model_dump(mode="json", exclude_none=True)
    return dumped


def _content(content: Iterable[Any]) -> tuple[ContentBlock, ...]:
    blocks: list[ContentBlock] = []
    for block in content:
        kind = _field(block, "type")
        if kind == "text":
            blocks.append(TextBlock(str(_field(block, "text", ""))))
        elif kind == "tool_use":
            blocks.append(_tool_call(block))
        else:
            blocks.append(OpaqueBlock(PROVIDER, _dump(block)))
    return tuple(blocks)


def _usage(usage: Any) -> Usage:
    def get(name: str) -> int:
        return int(_field(usage, name, 0) or 0)

    return Usage(
        input_tokens=get("input_tokens"),
        output_tokens=get("output_tokens"),
        cache_read_input_tokens=get("cache_read_input_tokens"),
        cache_creation_input_tokens=get("cache_creation_input_tokens"),
    )


def response_from_message(message: Any) -> ModelResponse:
    """A Messages API reply (an SDK ``Message`` or its dict) as a neutral response."""
    raw_finish = _field(message, "stop_reason")
    return ModelResponse(
        content=_content(_field(message, "content") or ()),
        finish_reason=_FINISH.get(str(raw_finish), FinishReason.OTHER),
        usage=_usage(_field(message, "usage")),
        model=str(_field(message, "model") or ""),
        raw_finish_reason=raw_finish,
    )


# --- the client --------------------------------------------------------------------------


class AnthropicClient:
    """A :class:`~claude_pm.llm.client.ModelClient` over ``anthropic.Anthropic``.

    Args:
        sdk_client: a ready ``anthropic.Anthropic``; when None, one is built from
            the other arguments (the SDK reads ``ANTHROPIC_API_KEY`` when no key is given).
        max_retries: the SDK's retries of 408/409/429/5xx and connection errors.
        timeout_s: the SDK's request timeout (None: the SDK's default).
        cache_prompt: mark the system prompt and the tools for prompt caching.

    Raises:
        ModelSDKMissing: the ``anthropic`` package is not installed.
    """

    def __init__(
        self,
        sdk_client: Any | None = None,
        *,
        api_key: str | None = None,
        auth_token: str | None = None,
        base_url: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout_s: float | None = None,
        cache_prompt: bool = True,
    ) -> None:
        if sdk_client is None:
            try:
                import anthropic
            except ImportError as e:
                raise ModelSDKMissing("anthropic", "anthropic") from e
            options: dict[str, Any] = {"max_retries": max_retries}
            if timeout_s is not None:
                options["timeout"] = timeout_s
            sdk_client = anthropic.Anthropic(
                api_key=api_key, auth_token=auth_token, base_url=base_url, **options
            )
        self.sdk = sdk_client
        self.cache_prompt = cache_prompt

    def create(self, request: ModelRequest) -> ModelResponse:
        params = request_params(request, cache_prompt=self.cache_prompt)
        try:
            message = self.sdk.messages.create(**params)
        except Exception as e:
            error = self._api_error(e)
            if error is None:
                raise
            raise error from e
        return response_from_message(message)

    def _api_error(self, error: Exception) -> ModelAPIError | None:
        import anthropic

        max_retries = int(getattr(self.sdk, "max_retries", 0) or 0)
        base_url = str(getattr(self.sdk, "base_url", "") or "")
        if isinstance(error, anthropic.APIStatusError):
            response = getattr(error, "response", None)
            return status_error(
                api=API,
                status_code=error.status_code,
                detail=error_detail(error.body, error.message),
                retry_after=retry_after_s(getattr(response, "headers", None)),
                max_retries=max_retries,
                key_hint=_KEY_HINT,
            )
        if isinstance(error, anthropic.APIConnectionError):
            return connection_error(
                api=API,
                base_url=base_url,
                timed_out=isinstance(error, anthropic.APITimeoutError),
                detail=str(error.__cause__ or error),
                max_retries=max_retries,
                url_hint="ANTHROPIC_BASE_URL (or --base-url) and the network",
            )
        if isinstance(error, anthropic.APIError):
            return ModelAPIError(
                f"the {API} answered something the SDK could not read: {error}",
                kind=APIErrorKind.OTHER,
                api=API,
            )
        if isinstance(error, ValueError) and "streaming" in str(error).lower():
            # The SDK refuses a non-streaming request it expects to outlast its timeout.
            return ModelAPIError(
                f"the Anthropic SDK refused the request: {error}. Lower max_output_tokens, "
                "or give the client an explicit timeout.",
                kind=APIErrorKind.BAD_REQUEST,
                api=API,
            )
        return None

    def close(self) -> None:
        self.sdk.close()

    def __enter__(self) -> AnthropicClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "API",
    "PROVIDER",
    "AnthropicClient",
    "message_params",
    "request_params",
    "response_from_message",
    "tool_calls_from_content",
    "tool_param",
    "tool_result_param",
]
