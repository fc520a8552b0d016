"""What a PM run produces: why it stopped, the tokens it used, and its result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class StopReason(StrEnum):
    """Why the PM loop stopped."""

    END_TURN = "end_turn"
    MAX_TURNS = "max_turns"
    TOKEN_BUDGET = "token_budget"
    MAX_TOKENS = "max_tokens"
    REFUSAL = "refusal"
    API_ERROR = "api_error"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TokenUsage:
    """Tokens the Messages API reported, summed over the run."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )

    def plus(self, usage: Any) -> TokenUsage:
        """This usage plus a response's ``usage`` (an SDK object or a dict)."""

        def get(name: str) -> int:
            value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, 0)
            return int(value or 0)

        return TokenUsage(
            self.input_tokens + get("input_tokens"),
            self.output_tokens + get("output_tokens"),
            self.cache_creation_input_tokens + get("cache_creation_input_tokens"),
            self.cache_read_input_tokens + get("cache_read_input_tokens"),
        )

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "total_tokens": self.total_tokens}


@dataclass(frozen=True)
class PMResult:
    """How a PM run ended. ``final_text`` is the model's last text (its report)."""

    run_id: str
    goal: str
    model: str
    stop_reason: StopReason
    final_text: str
    turns: int
    tool_calls: int
    usage: TokenUsage
    transcript_dir: Path | None = None
    message: str | None = None
    tool_errors: int = 0
    tickets_created: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when the model finished its turn (the goal handled, or reported as not doable)."""
        return self.stop_reason is StopReason.END_TURN

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
            "transcript_dir": str(self.transcript_dir) if self.transcript_dir else None,
        }


__all__ = ["PMResult", "StopReason", "TokenUsage"]
