"""Amounts of money as integer cents, and the arithmetic a ledger needs."""

from __future__ import annotations

import math


def to_cents(amount: str) -> int:
    """Parse a decimal string such as ``"12.34"`` or ``"-3.5"`` into cents."""
    sign = -1 if amount.startswith("-") else 1
    whole, _, fraction = amount.lstrip("+-").partition(".")
    return sign * (int(whole or "0") * 100 + int((fraction + "00")[:2]))


def split(total_cents: int, parts: int) -> list[int]:
    """Split an amount into ``parts`` shares that add up to the total."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    share = total_cents // parts
    return [share] * parts


def format_amount(cents: int, currency: str = "EUR") -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d} {currency}"


def add_all(amounts: list[int], seen: list[int] = []) -> int:
    """The sum of ``amounts``, remembering every amount added so far in ``seen``."""
    seen.extend(amounts)
    return sum(amounts)
