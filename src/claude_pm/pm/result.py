"""What a PM run produces: why it stopped, what it used, what it filed, and its report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claude_pm.llm.types import LIMIT_STOPS, StopReason, Usage


@dataclass(frozen=True)
class PMResult:
    """How a PM run ended. ``final_text`` is the model's last text (its report).

    ``model`` is the model that answered (the API's id for it); ``cost_usd``
    is None when its price is unknown; ``tickets_created`` are the ids of the
    tickets the run's tool calls newly filed.
    """

    run_id: str
    goal: str
    model: str
    stop_reason: StopReason
    final_text: str
    turns: int
    tool_calls: int
    usage: Usage
    transcript_dir: Path | None = None
    message: str | None = None
    tool_errors: int = 0
    tickets_created: tuple[str, ...] = field(default=())
    cost_usd: float | None = None

    @property
    def ok(self) -> bool:
        """True when the model finished its turn (the goal handled, or reported as not doable)."""
        return self.stop_reason is StopReason.END_TURN

    @property
    def hit_limit(self) -> bool:
        """True when a limit the caller set stopped the run (turns, tokens, dollars)."""
        return self.stop_reason in LIMIT_STOPS

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "goal": self.goal,
            "model": self.model,
            "stop_reason": self.stop_reason.value,
            "ok": self.ok,
            "message": self.message,
            "final_text": self.final_text,
            "turns": self.turns,
            "tool_calls": self.tool_calls,
            "tool_errors": self.tool_errors,
            "tickets_created": list(self.tickets_created),
            "usage": self.usage.to_dict(),
            "cost_usd": self.cost_usd,
            "transcript_dir": str(self.transcript_dir) if self.transcript_dir else None,
        }


__all__ = ["PMResult"]
