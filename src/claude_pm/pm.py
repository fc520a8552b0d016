"""The PM loop: Claude as the project manager, delegating through the four tools.

:func:`run_pm` sends the goal to the Messages API with the team and the tools
in the system prompt, runs the tool calls of each turn through the handler
(several calls of one turn run concurrently), feeds the results back, and
stops when the model ends its turn, at the turn limit, when the token budget
is spent, or on an API error (after the SDK's own retries of 429 and 5xx
answers). Every event goes to ``on_event`` and to the run's transcript.

The caller builds the client (``anthropic.Anthropic(max_retries=...)``), so
retries, the API key and the base URL are the caller's choice; this module
imports the SDK only when a run starts, to recognise its errors.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_pm.agents.runs import new_run_id
from claude_pm.errors import InvalidInput
from claude_pm.pm_prompt import build_system_prompt, team_from_registry
from claude_pm.pm_result import PMResult, StopReason, TokenUsage
from claude_pm.pm_transcript import EventKind, TranscriptEvent, TranscriptWriter
from claude_pm.tools.export import (
    DEFAULT_MAX_PARALLEL_CALLS,
    ToolCall,
    ToolCallHandler,
    anthropic_tool_calls,
    anthropic_tool_result,
    as_anthropic,
    call_tools,
    is_error_result,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "claude-sonnet-5-5"
DEFAULT_MAX_TURNS = 20
DEFAULT_MAX_OUTPUT_TOKENS = 4096

EventCallback = Callable[[TranscriptEvent], None]


def describe_api_error(error: BaseException, *, max_retries: int | None = None) -> str:
    """What went wrong with the Messages API, and what to do about it."""
    import anthropic

    retried = f" after {max_retries} retries" if max_retries else ""
    if isinstance(error, anthropic.RateLimitError):
        return (
            f"rate limited by the Messages API (HTTP 429){retried}: {_api_message(error)}. "
            "Wait and run again, or raise the SDK's max_retries."
        )
    if isinstance(error, anthropic.AuthenticationError):
        return (
            f"the Messages API refused the credentials (HTTP 401): {_api_message(error)}. "
            "Check ANTHROPIC_API_KEY."
        )
    if isinstance(error, anthropic.APIStatusError):
        return f"the Messages API answered HTTP {error.status_code}{retried}: {_api_message(error)}"
    if isinstance(error, anthropic.APIConnectionError):
        return f"could not reach the Messages API{retried}: {error}. Check ANTHROPIC_BASE_URL."
    return f"Messages API error: {error}"


def _api_message(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping) and inner.get("message"):
            return f"{inner.get('type', 'error')}: {inner['message']}"
    return str(getattr(error, "message", error))


def _project_root(handler: Any) -> Path | None:
    try:
        root: Path = handler.services.settings.project_root
    except Exception:  # the registry's own check reports a bad root in the prompt
        return None
    return root


def _block_param(block: Any) -> dict[str, Any]:
    """An assistant content block as a request parameter, to send the turn back."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return {"type": "text", "text": block.text}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    dumped: dict[str, Any] = block.model_dump(mode="json", exclude_none=True)
    return dumped


@dataclass(frozen=True)
class _Limits:
    model: str
    max_turns: int
    max_tokens_budget: int | None
    max_output_tokens: int
    max_parallel_calls: int

    def __post_init__(self) -> None:
        for name in ("max_turns", "max_output_tokens", "max_parallel_calls", "max_tokens_budget"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidInput(f"{name} must be at least 1, got {value}.", field=name)


class _Run:
    """The mutable state of one run, kept out of the loop's body."""

    def __init__(self, run_id: str, writer: TranscriptWriter, on_event: EventCallback | None):
        self.run_id = run_id
        self.writer = writer
        self.on_event = on_event
        self.turn = 0
        self.tool_calls = 0
        self.tool_errors = 0
        self.usage = TokenUsage()
        self.final_text = ""
        self.tickets: list[str] = []

    def emit(self, kind: EventKind, **data: Any) -> None:
        event = TranscriptEvent(kind, self.turn, data)
        self.writer.write(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("PM event callback failed")


def run_pm(
    goal: str,
    *,
    handler: ToolCallHandler,
    client: Any,
    model: str = DEFAULT_MODEL,
    max_turns: int = DEFAULT_MAX_TURNS,
    max_tokens_budget: int | None = None,
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
    transcript_dir: Path | None = None,
    run_id: str | None = None,
    system_prompt: str | None = None,
    on_event: EventCallback | None = None,
    max_parallel_calls: int = DEFAULT_MAX_PARALLEL_CALLS,
    cancel: threading.Event | None = None,
) -> PMResult:
    """Run the PM loop for ``goal`` with an ``anthropic.Anthropic`` client.

    API failures do not raise: they end the run with ``StopReason.API_ERROR``
    and a message saying what to check.

    Raises:
        InvalidInput: an empty goal, or a limit below 1.
    """
    if not goal.strip():
        raise InvalidInput("The goal is empty; say what the team should achieve.", field="goal")
    limits = _Limits(model, max_turns, max_tokens_budget, max_output_tokens, max_parallel_calls)

    run_id = run_id or (transcript_dir.name if transcript_dir else new_run_id())
    if system_prompt is None:
        team, problem = team_from_registry(handler)
        project_root = _project_root(handler)
        system_prompt = build_system_prompt(
            team, project_root=project_root, registry_problem=problem
        )
    writer = TranscriptWriter(transcript_dir)
    state = _Run(run_id, writer, on_event)
    state.emit(EventKind.GOAL, goal=goal, model=model, run_id=run_id, system_prompt=system_prompt)
    try:
        try:
            reason, message = _loop(state, goal, handler, client, system_prompt, limits, cancel)
        except (KeyboardInterrupt, SystemExit):
            # The agents in flight are being killed; record how the run ended, then go on.
            _finish(state, goal, model, transcript_dir, StopReason.CANCELLED, "interrupted")
            raise
        return _finish(state, goal, model, transcript_dir, reason, message)
    finally:
        writer.close()


def _finish(
    state: _Run,
    goal: str,
    model: str,
    transcript_dir: Path | None,
    reason: StopReason,
    message: str | None,
) -> PMResult:
    result = PMResult(
        run_id=state.run_id,
        goal=goal,
        model=model,
        stop_reason=reason,
        final_text=state.final_text,
        turns=state.turn,
        tool_calls=state.tool_calls,
        usage=state.usage,
        transcript_dir=transcript_dir,
        message=message,
        tool_errors=state.tool_errors,
        tickets_created=tuple(dict.fromkeys(state.tickets)),
    )
    state.emit(
        EventKind.STOP,
        reason=reason.value,
        message=message,
        turns=state.turn,
        tool_calls=state.tool_calls,
        usage=state.usage.to_dict(),
    )
    state.writer.write_result(result.to_dict())
    return result


def _loop(
    state: _Run,
    goal: str,
    handler: ToolCallHandler,
    client: Any,
    system_prompt: str,
    limits: _Limits,
    cancel: threading.Event | None,
) -> tuple[StopReason, str | None]:
    import anthropic

    max_turns, max_tokens_budget = limits.max_turns, limits.max_tokens_budget

    tools = as_anthropic()
    messages: list[dict[str, Any]] = [{"role": "user", "content": goal}]
    while True:
        if cancel is not None and cancel.is_set():
            return StopReason.CANCELLED, "cancelled before the next request"
        if state.turn >= max_turns:
            return StopReason.MAX_TURNS, f"stopped at the turn limit ({max_turns})"
        state.turn += 1
        try:
            response = client.messages.create(
                model=limits.model,
                max_tokens=limits.max_output_tokens,
                system=system_prompt,
                tools=tools,
                messages=messages,
            )
        except anthropic.APIError as e:
            text = describe_api_error(e, max_retries=getattr(client, "max_retries", None))
            state.emit(EventKind.API_ERROR, message=text, error_type=type(e).__name__)
            return StopReason.API_ERROR, text
        state.usage = state.usage.plus(response.usage)
        state.emit(EventKind.USAGE, stop_reason=response.stop_reason, usage=state.usage.to_dict())
        messages.append(
            {"role": "assistant", "content": [_block_param(b) for b in response.content]}
        )
        texts = [b.text for b in response.content if getattr(b, "type", None) == "text"]
        if any(t.strip() for t in texts):
            state.final_text = "\n".join(texts).strip()
            state.emit(EventKind.ASSISTANT_TEXT, text=state.final_text)
        calls = anthropic_tool_calls(response.content)
        pending = f"; {len(calls)} requested tool call(s) not run" if calls else ""
        if max_tokens_budget is not None and state.usage.total_tokens > max_tokens_budget:
            used = state.usage.total_tokens
            return (
                StopReason.TOKEN_BUDGET,
                f"token budget spent ({used} > {max_tokens_budget}){pending}",
            )
        if response.stop_reason == "tool_use" and calls:
            if state.turn >= max_turns:
                return StopReason.MAX_TURNS, f"stopped at the turn limit ({max_turns}){pending}"
            messages.append(
                {
                    "role": "user",
                    "content": _run_calls(state, handler, calls, limits.max_parallel_calls, cancel),
                }
            )
            continue
        if response.stop_reason == "pause_turn":
            continue
        if response.stop_reason == "max_tokens":
            return StopReason.MAX_TOKENS, (
                f"the model's reply hit max_output_tokens ({limits.max_output_tokens}){pending}"
            )
        if response.stop_reason == "refusal":
            return StopReason.REFUSAL, "the model declined to continue"
        return StopReason.END_TURN, None


def _ticket_ids(result: Mapping[str, Any]) -> list[str]:
    """Ids of the tickets a tool result newly filed (agent runs and ticket creation).

    A finding reported again updates its existing ticket and is not counted.
    """
    created = result.get("tickets_created")
    if isinstance(created, list):
        return [str(t) for t in created]
    stored = result.get("created_tickets")
    if isinstance(stored, list):
        return [
            str(t["id"])
            for t in stored
            if isinstance(t, Mapping) and t.get("id") and not t.get("duplicate")
        ]
    return []


def _run_calls(
    state: _Run,
    handler: ToolCallHandler,
    calls: list[ToolCall],
    max_parallel_calls: int,
    cancel: threading.Event | None,
) -> list[dict[str, Any]]:
    for call in calls:
        state.emit(EventKind.TOOL_CALL, id=call.call_id, name=call.name, input=call.arguments)

    def progress(call: ToolCall, message: str, done: float | None, total: float | None) -> None:
        state.emit(
            EventKind.TOOL_PROGRESS,
            id=call.call_id,
            name=call.name,
            message=message,
            progress=done,
            total=total,
        )

    results = call_tools(
        handler, calls, max_parallel=max_parallel_calls, cancel=cancel, on_progress=progress
    )
    blocks = []
    for call, result in zip(calls, results, strict=True):
        state.tool_calls += 1
        if is_error_result(result):
            state.tool_errors += 1
        state.tickets.extend(_ticket_ids(result))
        state.emit(EventKind.TOOL_RESULT, id=call.call_id, name=call.name, result=result)
        blocks.append(anthropic_tool_result(call.call_id, result))
    return blocks


__all__ = [
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "DEFAULT_MAX_TURNS",
    "DEFAULT_MODEL",
    "PMResult",
    "StopReason",
    "TokenUsage",
    "describe_api_error",
    "new_run_id",
    "run_pm",
]
