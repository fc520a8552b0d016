"""The PM loop: a model as the project manager, delegating through the four tools.

:func:`run_pm` is one configuration of :func:`claude_pm.llm.run_loop`: the
system prompt introduces the team (:mod:`~claude_pm.pm.team`) and the tools,
the toolbox runs the four tools through the handler
(:class:`~claude_pm.tools.HandlerToolbox`), and every event goes to the run's
transcript (:mod:`~claude_pm.pm.transcript`) and to ``on_event``. The loop
decides when to stop (the model finished, a turn, token or dollar limit, an
API error after the client's retries, cancellation); the PM adds what it
filed: the ids in the ``tickets_created`` lists of its tool results.

The caller builds the model client (:class:`~claude_pm.llm.AnthropicClient`,
:class:`~claude_pm.llm.OpenAIClient`, or any
:class:`~claude_pm.llm.ModelClient`), so retries, keys and endpoints are the
caller's choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claude_pm.cancel import CancelToken
from claude_pm.errors import InvalidInput
from claude_pm.llm.client import ModelClient
from claude_pm.llm.loop import EventCallback, run_loop
from claude_pm.llm.types import EventKind, LoopEvent, LoopResult
from claude_pm.pm.config import PMConfig
from claude_pm.pm.prompt import build_system_prompt
from claude_pm.pm.result import PMResult
from claude_pm.pm.team import Team
from claude_pm.pm.transcript import TranscriptWriter
from claude_pm.tools.calls import HandlerToolbox, ToolCallHandler

#: The reason the prompt gives when the caller passed no team.
NO_TEAM = "no team was given to the PM"


def run_pm(
    goal: str,
    *,
    handler: ToolCallHandler,
    client: ModelClient,
    config: PMConfig | None = None,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
    transcript_dir: Path | None = None,
    run_id: str | None = None,
) -> PMResult:
    """Run the PM loop for ``goal``.

    API failures do not raise: they end the run with ``StopReason.API_ERROR``
    and a message saying what to check. With ``transcript_dir``, the
    transcript and ``result.json`` are written there, also when the process
    is interrupted (the run is then recorded as cancelled).

    Raises:
        InvalidInput: an empty goal.
    """
    config = config or PMConfig()
    if not goal.strip():
        raise InvalidInput("The goal is empty; say what the team should achieve.", field="goal")
    if run_id is None:
        from claude_pm.agents.runs import new_run_id

        run_id = transcript_dir.name if transcript_dir else new_run_id()
    system_prompt = config.system_prompt
    if system_prompt is None:
        system_prompt = build_system_prompt(config.team or Team.unknown(NO_TEAM))
    writer = TranscriptWriter(transcript_dir)
    run = _Record(goal, run_id, transcript_dir, writer, on_event)
    try:
        loop_result = run_loop(
            goal,
            client=client,
            toolbox=HandlerToolbox(handler),
            config=config.loop_config(system_prompt),
            on_event=run,
            cancel=cancel,
            labels={"run_id": run_id},
        )
    finally:
        writer.close()
    return run.result or run.pm_result(loop_result)


def _ticket_ids(result: Mapping[str, Any]) -> list[str]:
    """Ids of the tickets a tool result newly filed (an agent run, or ticket creation).

    A finding reported again updates its existing ticket and is listed under
    ``duplicate_tickets`` instead.
    """
    created = result.get("tickets_created")
    return [str(t) for t in created] if isinstance(created, list) else []


class _Record:
    """The loop's event callback: the transcript, the tickets filed, the caller's callback."""

    def __init__(
        self,
        goal: str,
        run_id: str,
        transcript_dir: Path | None,
        writer: TranscriptWriter,
        on_event: EventCallback | None,
    ) -> None:
        self.goal = goal
        self.run_id = run_id
        self.transcript_dir = transcript_dir
        self.writer = writer
        self.on_event = on_event
        self.tickets: list[str] = []
        self.result: PMResult | None = None

    def pm_result(self, loop: LoopResult) -> PMResult:
        return PMResult(
            run_id=self.run_id,
            goal=self.goal,
            model=loop.model,
            stop_reason=loop.stop_reason,
            final_text=loop.final_text,
            turns=loop.turns,
            tool_calls=loop.tool_calls,
            usage=loop.usage,
            transcript_dir=self.transcript_dir,
            message=loop.message,
            tool_errors=loop.tool_errors,
            tickets_created=tuple(dict.fromkeys(self.tickets)),
            cost_usd=loop.cost_usd,
        )

    def __call__(self, event: LoopEvent) -> None:
        # The loop calls this under its own lock, one event at a time.
        if event.kind is EventKind.TOOL_RESULT:
            self.tickets.extend(_ticket_ids(event.data.get("result") or {}))
        self.writer.write(event)
        if event.kind is EventKind.STOP and event.result is not None:
            self.result = self.pm_result(event.result)
            self.writer.write_result(self.result.to_dict())
        if self.on_event is not None:
            self.on_event(event)


__all__ = ["run_pm"]
