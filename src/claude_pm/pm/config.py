"""How a PM run is set up: the model, its limits and its team, in one frozen value."""

from __future__ import annotations

from dataclasses import dataclass

from claude_pm.llm.loop import (
    DEFAULT_MAX_OUTPUT_TOKENS,
    DEFAULT_MAX_PARALLEL_CALLS,
    DEFAULT_MAX_TURNS,
    LoopConfig,
)
from claude_pm.llm.pricing import ModelPrice
from claude_pm.pm.team import Team

DEFAULT_MODEL = "claude-sonnet-5-5"


@dataclass(frozen=True)
class PMConfig:
    """The settings of one PM run.

    Attributes:
        model: the model playing the PM.
        max_turns: model requests at most.
        max_tokens_budget: stop once the run used more tokens than this.
        max_output_tokens: the output limit of each reply.
        max_parallel_calls: tool calls of one turn run at once.
        budget_usd: stop once the run cost more dollars than this (needs a known price).
        price: the model's price, when the table in :mod:`claude_pm.llm.pricing` lacks it.
        system_prompt: replaces the prompt built from ``team``.
        team: the agents the prompt introduces (see :func:`~claude_pm.pm.team_from_handler`);
            None tells the model to discover them.

    Raises:
        InvalidInput: a limit below 1, or a dollar budget not above 0 or for a model
            with no known price.
    """

    model: str = DEFAULT_MODEL
    max_turns: int = DEFAULT_MAX_TURNS
    max_tokens_budget: int | None = None
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
    max_parallel_calls: int = DEFAULT_MAX_PARALLEL_CALLS
    budget_usd: float | None = None
    price: ModelPrice | None = None
    system_prompt: str | None = None
    team: Team | None = None

    def __post_init__(self) -> None:
        self.loop_config("")  # the loop's own checks, at construction

    def loop_config(self, system_prompt: str) -> LoopConfig:
        """The model loop's configuration for this run, with ``system_prompt``."""
        return LoopConfig(
            model=self.model,
            system_prompt=system_prompt,
            max_turns=self.max_turns,
            max_output_tokens=self.max_output_tokens,
            max_tokens_budget=self.max_tokens_budget,
            budget_usd=self.budget_usd,
            max_parallel_calls=self.max_parallel_calls,
            price=self.price,
        )


__all__ = ["DEFAULT_MODEL", "PMConfig"]
