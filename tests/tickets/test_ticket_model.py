"""Ticket values: title normalization, fingerprints, ids."""

from __future__ import annotations

import pickle

import pytest

from claude_pm.errors import TicketError
from claude_pm.tickets.model import (
    Priority,
    Ticket,
    TicketType,
    fingerprint,
    format_ticket_id,
    normalize_title,
    parse_ticket_id,
)


@pytest.mark.parametrize(
    ("title", "normalized"),
    [
        ("Fix the Loader.", "fix the loader"),
        ("  fix   the\tloader  ", "fix the loader"),
        ("`fix the loader`!", "fix the loader"),
        ("\u201cfix the loader\u201d", "fix the loader"),
        ("issue 12", "issue 12"),
    ],
)
def test_normalize_title(title: str, normalized: str) -> None:
    assert normalize_title(title) == normalized


def test_fingerprint_depends_on_type_title_and_file() -> None:
    base = fingerprint(TicketType.BUG, "Crash on save")
    assert base == fingerprint("bug", "crash on save.")
    assert base != fingerprint(TicketType.TASK, "Crash on save")
    assert base != fingerprint(TicketType.BUG, "Crash on load")
    assert base != fingerprint(TicketType.BUG, "Crash on save", "app.py")
    assert fingerprint(TicketType.BUG, "issue 12") != fingerprint(TicketType.BUG, "issue 13")


def test_ids() -> None:
    assert format_ticket_id(42) == "PM-42"
    assert parse_ticket_id("PM-42") == parse_ticket_id("pm-42") == parse_ticket_id("42") == 42
    with pytest.raises(TicketError) as info:
        parse_ticket_id("PM-x")
    assert info.value.facts["ticket_id"] == "PM-x"


def test_ticket_is_frozen_and_pickles() -> None:
    ticket = Ticket(TicketType.TASK, "t", Priority.LOW, "qa", timestamp="T", line=1)
    assert pickle.loads(pickle.dumps(ticket)) == ticket
    with pytest.raises(AttributeError):
        ticket.title = "other"  # type: ignore[misc]
