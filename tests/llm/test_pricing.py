"""The price table: exact ids, dated ids, unknown models, caller prices."""

from __future__ import annotations

import pytest

from claude_pm.llm import ModelPrice, Usage, cost_usd, price_for
from claude_pm.llm.pricing import PRICES

MILLION = 1_000_000


def test_every_kind_of_token_has_its_own_rate() -> None:
    usage = Usage(
        input_tokens=MILLION,
        output_tokens=MILLION,
        cache_read_input_tokens=MILLION,
        cache_creation_input_tokens=MILLION,
    )
    # claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read, $3.75 cache write.
    assert cost_usd("claude-sonnet-4-5", usage) == pytest.approx(3 + 15 + 0.30 + 3.75)


@pytest.mark.parametrize(
    ("model", "entry"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("claude-opus-4@20250514", "claude-opus-4"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("gpt-4o-mini", "gpt-4o-mini"),
    ],
)
def test_dated_ids_take_their_models_price(model: str, entry: str) -> None:
    assert price_for(model) is PRICES[entry]


def test_a_newer_model_of_a_family_is_not_priced_as_an_older_one() -> None:
    assert price_for("claude-opus-4-5") != price_for("claude-opus-4")
    assert price_for("claude-opus-4-9") is None  # not claude-opus-4's $15


@pytest.mark.parametrize("model", ["local-llama", "gpt-4.1-turbo", "claude", ""])
def test_an_unknown_model_has_no_cost(model: str) -> None:
    assert price_for(model) is None
    assert cost_usd(model, Usage(input_tokens=10)) is None


def test_a_given_price_wins_over_the_table() -> None:
    free = ModelPrice(0.0, 0.0, 0.0, 0.0)
    assert cost_usd("claude-sonnet-4-5", Usage(input_tokens=MILLION), free) == 0.0
    assert cost_usd("local-llama", Usage(output_tokens=MILLION), ModelPrice(0, 2, 0, 0)) == 2.0


def test_the_default_pm_model_has_a_price() -> None:
    from claude_pm.pm import DEFAULT_MODEL

    assert price_for(DEFAULT_MODEL) is not None
