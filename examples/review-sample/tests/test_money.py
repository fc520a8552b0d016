"""Tests of the money arithmetic."""

import pytest

from ledger.money import add_all, format_amount, split, to_cents


def test_to_cents_reads_decimal_strings():
    assert to_cents("12.34") == 1234
    assert to_cents("-3.5") == -350
    assert to_cents("7") == 700


def test_format_amount_shows_two_decimals():
    assert format_amount(-1250) == "-12.50 EUR"
    assert format_amount(5, "USD") == "0.05 USD"


def test_split_keeps_the_total():
    shares = split(1000, 3)
    assert len(shares) == 3
    assert sum(shares) == 1000


def test_split_refuses_zero_parts():
    with pytest.raises(ValueError, match="at least 1"):
        split(1000, 0)


def test_add_all_sums():
    assert add_all([100, 250]) == 350
