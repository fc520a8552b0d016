"""The one model loop: ask the model, run the tools it calls, feed the results back, stop.

The life of one run of :func:`run_loop`:

1. The goal becomes the first user message; a ``goal`` event records it with
   the model and the system prompt.
2. Each turn checks the cancel token and the turn limit, then sends the whole
   conversation, the system prompt and the toolbox's tools to the
   :class:`~claude_pm.llm.client.ModelClient`. A
   :class:`~claude_pm.llm.client.ModelAPIError` (what is left after the
   client's own retries) ends the run with ``api_error``: it never raises.
3. The reply's usage is added up and priced (``usage`` event); its text
   becomes the run's latest answer (``assistant_text``).
4. Past the token budget or the dollar budget, the run stops there, and the
   tool calls of that reply are not run (the message says how many).
5. Tool calls (``tool_use``) go to the toolbox, all the calls of the turn at
   once, ``max_parallel_calls`` at a time (``tool_call``, ``tool_progress``,
   ``tool_result`` events); a failed call is an error result the model reads,
   not an exception. A reply asking for tools on the last allowed turn stops
   the run at the turn limit instead. ``pause_turn`` (a server-side tool paused
   a long turn) sends the reply back as it is, to let the model go on.
6. Anything else ends the run: the model finished (``end_turn``), was cut off
   at ``max_output_tokens`` (``max_tokens``) or declined (``refusal``).

Every ending emits one ``stop`` event carrying the :class:`LoopResult`, also
when the process is interrupted (KeyboardInterrupt, SystemExit: recorded as
``cancelled``, then re-raised). A request already in flight when the cancel
token is set finishes first (the client's timeout bounds it); tool calls get
the token and stop their work. ``on_event`` is called from the loop's thread
and, for progress, from tool threads: it must be thread-safe, and an exception
it raises is logged and ignored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from claude_pm.cancel import CancelToken
from claude_pm.errors import InvalidInput
from claude_pm.llm.client import ModelAPIError, ModelClient
from claude_pm.llm.pricing import ModelPrice, price_for
from claude_pm.llm.toolbox import Toolbox
from claude_pm.llm.types import (
    EventKind,
    FinishReason,
    LoopEvent,
    LoopResult,
    Message,
    ModelRequest,
    Role,
    StopReason,
    ToolCall,
    ToolResultBlock,
    Usage,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_TURNS = 20
DEFAULT_MAX_OUTPUT_TOKENS = 4096
#: How many tool calls of one turn run at once, by default.
DEFAULT_MAX_PARALLEL_CALLS = 4

EventCallback = Callable[[LoopEvent], None]


@dataclass(frozen=True)
class LoopConfig:
    """The limits of one run.

    Attributes:
        model: the model id sent with every request.
        system_prompt: the system prompt ('' for none).
        max_turns: model requests at most.
        max_output_tokens: the output limit of each reply.
        max_tokens_budget: stop once the run used more tokens than this (all kinds).
        budget_usd: stop once the run cost more than this many dollars; needs a price.
        max_parallel_calls: tool calls of one turn run at once.
        price: the model's price; None takes it from the table in :mod:`~claude_pm.llm.pricing`.

    Raises:
        InvalidInput: a limit below 1, no model, a dollar budget not above 0 or one
            for a model with no known price.
    """

    model: str
    system_prompt: str = ""
    max_turns: int = DEFAULT_MAX_TURNS
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
    max_tokens_budget: int | None = None
    budget_usd: float | None = None
    max_parallel_calls: int = DEFAULT_MAX_PARALLEL_CALLS
    price: ModelPrice | None = None

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise InvalidInput("No model given; name the model to use.", field="model")
        for name in ("max_turns", "max_output_tokens", "max_parallel_calls", "max_tokens_budget"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidInput(f"{name} must be at least 1, got {value}.", field=name)
        if self.budget_usd is not None and not self.budget_usd > 0:
            raise InvalidInput(
                f"budget_usd must be above 0, got {self.budget_usd}.", field="budget_usd"
            )
        if self.budget_usd is not None and self.price is None and price_for(self.model) is None:
            raise InvalidInput(
                f"No price is known for model {self.model!r}, so a dollar budget cannot be "
                "enforced. Give the model's price (price=ModelPrice(...)), or use a token "
                "budget instead.",
                field="budget_usd",
            )


def run_loop(
    goal: str,
    *,
    client: ModelClient,
    toolbox: Toolbox,
    config: LoopConfig,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
    labels: Mapping[str, Any] | None = None,
) -> LoopResult:
    """Run the loop for ``goal``; see the module docstring for the life of a run.

    ``labels`` are the caller's facts recorded in the ``goal`` event (a run id, say).

    Raises:
        InvalidInput: an empty goal.
    """
    if not goal.strip():
        raise InvalidInput("The goal is empty; say what should be achieved.", field="goal")
    price = config.price or price_for(config.model)
    return _Run(goal, client, toolbox, config, price, on_event, cancel).execute(labels or {})


class _Run:
    """The mutable state of one run, kept out of the loop's body."""

    def __init__(
        self,
        goal: str,
        client: ModelClient,
        toolbox: Toolbox,
        config: LoopConfig,
        price: ModelPrice | None,
        on_event: EventCallback | None,
        cancel: CancelToken | None,
    ) -> None:
        self.goal = goal
        self.client = client
        self.toolbox = toolbox
        self.config = config
        self.price = price
        self.on_event = on_event
        self.cancel = cancel
        self.turn = 0
        self.tool_calls = 0
        self.tool_errors = 0
        self.usage = Usage()
        self.final_text = ""
        self.model = config.model
        self.messages: list[Message] = [Message.user_text(goal)]
        self._emit_lock = threading.Lock()

    def emit(
        self, kind: EventKind, data: Mapping[str, Any], result: LoopResult | None = None
    ) -> None:
        if self.on_event is None:
            return
        event = LoopEvent(kind, self.turn, data, result=result)
        try:
            with self._emit_lock:
                self.on_event(event)
        except Exception:
            log.exception("loop event callback failed on a %s event", kind.value)

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def cost_usd(self) -> float | None:
        return None if self.price is None else self.price.cost_usd(self.usage)

    def execute(self, labels: Mapping[str, Any]) -> LoopResult:
        config = self.config
        self.emit(
            EventKind.GOAL,
            {
                "goal": self.goal,
                "model": config.model,
                "system_prompt": config.system_prompt,
                **labels,
            },
        )
        try:
            reason, message, error = self._turns()
        except (KeyboardInterrupt, SystemExit):
            # Whatever was in flight is being torn down; record how the run ended, then go on.
            self._finish(StopReason.CANCELLED, "interrupted", None)
            raise
        return self._finish(reason, message, error)

    def _finish(
        self, reason: StopReason, message: str | None, error: ModelAPIError | None
    ) -> LoopResult:
        result = LoopResult(
            stop_reason=reason,
            final_text=self.final_text,
            turns=self.turn,
            tool_calls=self.tool_calls,
            tool_errors=self.tool_errors,
            usage=self.usage,
            cost_usd=self.cost_usd(),
            model=self.model,
            message=message,
            error=error,
            messages=tuple(self.messages),
        )
        self.emit(
            EventKind.STOP,
            {
                "reason": reason.value,
                "message": message,
                "turns": self.turn,
                "tool_calls": self.tool_calls,
                "tool_errors": self.tool_errors,
                "usage": self.usage.to_dict(),
                "cost_usd": result.cost_usd,
            },
            result=result,
        )
        return result

    def _turns(self) -> tuple[StopReason, str | None, ModelAPIError | None]:
        config = self.config
        tools = tuple(self.toolbox.tools)
        while True:
            if self.cancelled():
                return StopReason.CANCELLED, "cancelled before the next request", None
            if self.turn >= config.max_turns:
                return StopReason.MAX_TURNS, f"stopped at the turn limit ({config.max_turns})", None
            self.turn += 1
            request = ModelRequest(
                model=config.model,
                system_prompt=config.system_prompt,
                messages=tuple(self.messages),
                tools=tools,
                max_output_tokens=config.max_output_tokens,
            )
            try:
                response = self.client.create(request)
            except ModelAPIError as e:
                self.emit(
                    EventKind.API_ERROR,
                    {
                        "message": e.message,
                        "error_type": type(e).__name__,
                        "kind": e.kind.value,
                        "status_code": e.status_code,
                        "retry_after_s": e.retry_after_s,
                        "api": e.api,
                    },
                )
                return StopReason.API_ERROR, e.message, e

            self.usage = self.usage + response.usage
            if response.model:
                self.model = response.model
            if self.price is None and config.price is None:
                self.price = price_for(response.model)
            cost = self.cost_usd()
            self.emit(
                EventKind.USAGE,
                {
                    "finish_reason": response.finish_reason.value,
                    "stop_reason": response.raw_finish_reason,
                    "usage": self.usage.to_dict(),
                    "cost_usd": cost,
                },
            )
            reply = Message(Role.ASSISTANT, response.content)
            self.messages.append(reply)
            if reply.text:
                self.final_text = reply.text
                self.emit(EventKind.ASSISTANT_TEXT, {"text": reply.text})

            calls = reply.tool_calls
            pending = f"; {len(calls)} requested tool call(s) not run" if calls else ""
            budget = config.max_tokens_budget
            if budget is not None and self.usage.total_tokens > budget:
                used = self.usage.total_tokens
                return (
                    StopReason.TOKEN_BUDGET,
                    f"token budget spent ({used} > {budget}){pending}",
                    None,
                )
            if config.budget_usd is not None and cost is not None and cost > config.budget_usd:
                return (
                    StopReason.BUDGET_USD,
                    f"dollar budget spent (${cost:.4f} > ${config.budget_usd:.4f}){pending}",
                    None,
                )
            finish = response.finish_reason
            if finish is FinishReason.TOOL_USE and calls:
                if self.turn >= config.max_turns:
                    limit = config.max_turns
                    return (
                        StopReason.MAX_TURNS,
                        f"stopped at the turn limit ({limit}){pending}",
                        None,
                    )
                self.messages.append(Message(Role.USER, self._run_calls(calls)))
                if self.cancelled():
                    return StopReason.CANCELLED, "cancelled while the tool calls ran", None
                continue
            if finish is FinishReason.PAUSE_TURN:
                continue
            if finish is FinishReason.MAX_TOKENS:
                limit = config.max_output_tokens
                text = f"the model's reply hit max_output_tokens ({limit}){pending}"
                return StopReason.MAX_TOKENS, text, None
            if finish is FinishReason.REFUSAL:
                return StopReason.REFUSAL, "the model declined to continue", None
            return StopReason.END_TURN, None, None

    def _run_calls(self, calls: Sequence[ToolCall]) -> tuple[ToolResultBlock, ...]:
        for call in calls:
            arguments = dict(call.arguments) if call.arguments is not None else call.raw_arguments
            self.emit(
                EventKind.TOOL_CALL, {"id": call.call_id, "name": call.name, "input": arguments}
            )

        def progress(call: ToolCall, message: str, done: float | None, total: float | None) -> None:
            self.emit(
                EventKind.TOOL_PROGRESS,
                {
                    "id": call.call_id,
                    "name": call.name,
                    "message": message,
                    "progress": done,
                    "total": total,
                },
            )

        outcomes = list(
            self.toolbox.run_calls(
                calls,
                max_parallel=self.config.max_parallel_calls,
                cancel=self.cancel,
                on_progress=progress,
            )
        )
        if len(outcomes) != len(calls):
            raise RuntimeError(
                f"the toolbox returned {len(outcomes)} outcome(s) for {len(calls)} call(s); "
                "a Toolbox must return one outcome per call, in order"
            )
        blocks = []
        for call, outcome in zip(calls, outcomes, strict=True):
            self.tool_calls += 1
            if outcome.is_error:
                self.tool_errors += 1
            data = dict(outcome.data) if outcome.data is not None else {"content": outcome.content}
            self.emit(
                EventKind.TOOL_RESULT,
                {
                    "id": call.call_id,
                    "name": call.name,
                    "is_error": outcome.is_error,
                    "result": data,
                },
            )
            blocks.append(ToolResultBlock(call.call_id, outcome.content, outcome.is_error))
        return tuple(blocks)


__all__ = [
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "DEFAULT_MAX_PARALLEL_CALLS",
    "DEFAULT_MAX_TURNS",
    "EventCallback",
    "LoopConfig",
    "run_loop",
]
