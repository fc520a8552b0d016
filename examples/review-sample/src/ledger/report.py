"""Plain-text reports over ledger entries: (account, cents) pairs."""

from __future__ import annotations

from ledger.money import format_amount


def summarize(entries: list[tuple[str, int]]) -> str:
    # TODO: group the entries by account before totalling them
    total = sum(cents for _, cents in entries)
    return f"{len(entries)} entries, total {format_amount(total)}"


def render(entries: list[tuple[str, int]]) -> str:
    """One line per entry, then the summary line."""
    lines = [f"{account}: {format_amount(cents)}" for account, cents in entries]
    lines.append(summarize(entries))
    return "\n".join(lines)
