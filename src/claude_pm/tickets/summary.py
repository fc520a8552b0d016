"""What became of the findings in one text, in bounded memory whatever their number.

An agent can print a million ``BUG:`` lines. Nothing downstream needs a million
values: the caller needs counts, the ids of the tickets the text filed (each
once), and a few of them to show. A :class:`TicketTally` is fed every finding
(and, when they are stored, every batch's outcome) and keeps only that: counts
and the first ``keep`` of each list. :meth:`TicketTally.summary` freezes it
into a :class:`TicketSummary`, the value an ``AgentResult`` and the tool
results carry.

The counts:

- ``found``: findings in the text (one per marker line).
- ``created_count``: tickets new to the store (distinct ids; each finding that
  was not on file creates one, its repeats in the same text count on it).
- ``filed_count``: tickets that were on file before this text reported them
  (distinct ids).
- ``repeated_count``: findings counted again on a ticket, already filed or
  created earlier in the same text: ``found - created_count``.

:func:`describe_filing` writes the one line the CLI prints,
``2 new (PM-5, PM-6), 2 already filed (PM-3, PM-4)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from claude_pm.tickets.model import SavedTicket, Ticket, format_ticket_id

#: A ticket and how many consecutive lines repeat it (what ``iter_counted`` yields).
Counted = tuple[Ticket, int]

__all__ = ["Counted", "TicketSummary", "TicketTally", "describe_filing", "summarize"]


@dataclass(frozen=True)
class TicketSummary:
    """The findings of one text: counts, and the first ``keep`` of each list.

    ``stored`` is false when the findings were only extracted (auto-creation
    off); then only ``found`` and ``first_found`` are filled. ``run`` is the
    run the tickets were recorded under (``claude-pm tickets list --run RUN``
    lists them all).
    """

    found: int = 0
    found_entries: int = 0
    stored: bool = False
    run: str | None = None
    keep: int = 0
    created_ids: tuple[str, ...] = ()
    created_count: int = 0
    filed_ids: tuple[str, ...] = ()
    filed_count: int = 0
    first_found: tuple[Ticket, ...] = ()
    first_saved: tuple[SavedTicket, ...] = ()

    @property
    def repeated_count(self) -> int:
        """Findings counted again on a ticket (already filed, or created earlier in the text)."""
        return self.found - self.created_count if self.stored else 0

    @property
    def ids_truncated(self) -> bool:
        """Some ticket ids are counted but not listed."""
        return self.created_count > len(self.created_ids) or self.filed_count > len(self.filed_ids)

    @property
    def details_truncated(self) -> bool:
        """Some findings are counted but not kept in ``first_found``.

        Consecutive copies of a line are one entry (``found_entries``): a
        million copies of one line, all summed up by its first, hide nothing.
        """
        return self.found_entries > len(self.first_found)


class TicketTally:
    """Counts findings and keeps the first ``keep`` of each list; memory independent of count."""

    def __init__(self, keep: int, *, run: str | None = None) -> None:
        self.keep = max(0, int(keep))
        self.run = run
        self.found = 0
        self.found_entries = 0
        self.stored = False
        self.created_ids: list[str] = []
        self.created_count = 0
        self.filed_ids: list[str] = []
        self.filed_count = 0
        self.first_found: list[Ticket] = []
        self.first_saved: list[SavedTicket] = []

    def add_found(self, ticket: Ticket, copies: int = 1) -> None:
        """A finding, repeated on ``copies`` consecutive lines."""
        self.found += copies
        self.found_entries += 1
        if len(self.first_found) < self.keep:
            self.first_found.append(ticket)

    def add_created(self, seq: int) -> None:
        """A ticket this text created (``PM-<seq>``)."""
        self.stored = True
        self.created_count += 1
        if len(self.created_ids) < self.keep:
            self.created_ids.append(format_ticket_id(seq))

    def add_filed(self, seq: int) -> None:
        """A ticket on file before this text, reported by it for the first time."""
        self.stored = True
        self.filed_count += 1
        if len(self.filed_ids) < self.keep:
            self.filed_ids.append(format_ticket_id(seq))

    def wants_saved(self) -> bool:
        return len(self.first_saved) < self.keep

    def add_saved(self, saved: SavedTicket) -> None:
        self.stored = True
        if len(self.first_saved) < self.keep:
            self.first_saved.append(saved)

    def summary(self) -> TicketSummary:
        return TicketSummary(
            found=self.found,
            found_entries=self.found_entries,
            stored=self.stored,
            run=self.run,
            keep=self.keep,
            created_ids=tuple(self.created_ids),
            created_count=self.created_count,
            filed_ids=tuple(self.filed_ids),
            filed_count=self.filed_count,
            first_found=tuple(self.first_found),
            first_saved=tuple(self.first_saved),
        )


def summarize(
    findings: Iterable[Counted], keep: int, *, tally: TicketTally | None = None
) -> TicketSummary:
    """Count findings that are not stored (``(ticket, copies)`` items); keep the first ``keep``."""
    tally = tally if tally is not None else TicketTally(keep)
    for ticket, copies in findings:
        tally.add_found(ticket, copies)
    return tally.summary()


def _ids(ids: Sequence[str], count: int, max_ids: int) -> str:
    if count == 0:
        return ""
    shown = list(ids[:max_ids])
    more = count - len(shown)
    text = ", ".join(shown)
    if more > 0:
        text += f" and {more} more" if shown else f"{more} not listed"
    return f" ({text})"


def describe_filing(
    created_ids: Sequence[str],
    created_count: int,
    filed_ids: Sequence[str],
    filed_count: int,
    *,
    max_ids: int = 10,
) -> str:
    """``2 new (PM-5, PM-6), 2 already filed (PM-3, PM-4)``: at most ``max_ids`` ids of each."""
    return (
        f"{created_count} new{_ids(created_ids, created_count, max_ids)}, "
        f"{filed_count} already filed{_ids(filed_ids, filed_count, max_ids)}"
    )
