"""What a run cost: a price table per model, in US dollars per million tokens.

:func:`cost_usd` prices a :class:`~claude_pm.llm.types.Usage` with the table
(or with a :class:`ModelPrice` the caller gives, for a model the table does not
know, a negotiated rate or a local model at 0). An unknown model has no price:
the cost is None, never a guess.

Model ids match a table entry exactly or with a date or ``-latest`` suffix
(``claude-sonnet-4-5-20250929``, ``gpt-4.1-2025-04-14``, ``claude-opus-4@20250514``);
any other variant (``gpt-4.1-nano``) is unknown unless it has its own entry.

Only the standard rates are modelled: the 5-minute cache write, no batch
discount, no long-context or long-prompt tier, no regional premium.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from claude_pm.llm.types import Usage


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens: input, output, cache read (hit) and cache write (5-minute)."""

    input: float
    output: float
    cache_read: float
    cache_write: float

    def cost_usd(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_input_tokens * self.cache_read
            + usage.cache_creation_input_tokens * self.cache_write
        ) / 1_000_000


def _anthropic(input_: float, output: float, cache_read: float | None = None) -> ModelPrice:
    # Anthropic bills a 5-minute cache write at 1.25x the input rate and, unless a
    # model's row says otherwise, a cache hit at 0.1x.
    read = round(input_ * 0.1, 6) if cache_read is None else cache_read
    return ModelPrice(input_, output, read, round(input_ * 1.25, 6))


def _openai(input_: float, output: float, cached: float) -> ModelPrice:
    # OpenAI does not charge for writing its automatic prompt cache.
    return ModelPrice(input_, output, cached, input_)


#: Model id -> price. Source: the providers' published pricing pages (Anthropic's
#: "Pricing" page of the Claude platform docs, OpenAI's API pricing page), as read
#: in December 2026. Prices change: check them before relying on a figure, and
#: pass a ModelPrice to override one.
PRICES: dict[str, ModelPrice] = {
    # Anthropic
    "claude-fable-5-1": _anthropic(10.0, 50.0, cache_read=0.25),
    "claude-fable-5": _anthropic(10.0, 50.0, cache_read=1.0),
    "claude-opus-5-5": _anthropic(4.0, 20.0, cache_read=0.20),
    "claude-opus-5": _anthropic(5.0, 25.0),
    "claude-opus-4-8": _anthropic(5.0, 25.0),
    "claude-opus-4-7": _anthropic(5.0, 25.0),
    "claude-opus-4-6": _anthropic(5.0, 25.0),
    "claude-opus-4-5": _anthropic(5.0, 25.0),
    "claude-opus-4-1": _anthropic(15.0, 75.0),
    "claude-opus-4-0": _anthropic(15.0, 75.0),
    "claude-opus-4": _anthropic(15.0, 75.0),
    "claude-sonnet-5-5": _anthropic(2.0, 10.0, cache_read=0.10),
    "claude-sonnet-5": _anthropic(2.0, 10.0),
    "claude-sonnet-4-6": _anthropic(3.0, 15.0),
    "claude-sonnet-4-5": _anthropic(3.0, 15.0),
    "claude-sonnet-4-0": _anthropic(3.0, 15.0),
    "claude-sonnet-4": _anthropic(3.0, 15.0),
    "claude-3-7-sonnet": _anthropic(3.0, 15.0),
    "claude-haiku-5-5": _anthropic(0.10, 0.50, cache_read=0.01),
    "claude-haiku-4-5": _anthropic(1.0, 5.0),
    "claude-3-5-haiku": _anthropic(0.80, 4.0),
    "claude-3-haiku": ModelPrice(0.25, 1.25, 0.03, 0.30),
    # OpenAI
    "gpt-5": _openai(1.25, 10.0, 0.125),
    "gpt-5-mini": _openai(0.25, 2.0, 0.025),
    "gpt-5-nano": _openai(0.05, 0.40, 0.005),
    "gpt-4.1": _openai(2.0, 8.0, 0.50),
    "gpt-4.1-mini": _openai(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _openai(0.10, 0.40, 0.025),
    "gpt-4o": _openai(2.50, 10.0, 1.25),
    "gpt-4o-mini": _openai(0.15, 0.60, 0.075),
}

_DATED = re.compile(r"(?:[-@](?:\d{8}|\d{4}-\d{2}-\d{2})|-latest)$")


def price_for(model: str) -> ModelPrice | None:
    """The table's price for ``model`` (exact id, or the id with a date suffix), else None."""
    price = PRICES.get(model)
    if price is not None:
        return price
    base = _DATED.sub("", model)
    return PRICES.get(base) if base != model else None


def cost_usd(model: str, usage: Usage, price: ModelPrice | None = None) -> float | None:
    """What ``usage`` cost on ``model`` in USD (``price`` wins over the table); None if unknown."""
    chosen = price if price is not None else price_for(model)
    return None if chosen is None else chosen.cost_usd(usage)


__all__ = ["PRICES", "ModelPrice", "cost_usd", "price_for"]
