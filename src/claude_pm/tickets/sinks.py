"""Where stored tickets can be published besides the database (an issue tracker).

A sink is anything with :meth:`TicketSink.publish`; the only real one is
:class:`claude_pm.tickets.github.GitHubSink`. Nothing is published unless a
caller builds a sink and calls :func:`push_tickets` (the CLI's ``tickets push``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from claude_pm.tickets.model import StoredTicket
from claude_pm.tickets.store import TicketStore

log = logging.getLogger(__name__)


class TicketSink(Protocol):
    """Publishes one ticket somewhere and returns the address of what it made."""

    name: str

    def publish(self, ticket: StoredTicket) -> str: ...


@dataclass(frozen=True)
class PushResult:
    """What became of one ticket: its new external url, or the one it already had."""

    id: str
    external_url: str
    already_pushed: bool


def push_tickets(
    store: TicketStore, sink: TicketSink, tickets: Iterable[StoredTicket]
) -> list[PushResult]:
    """Publish each ticket that has no external url yet and record the url on it.

    Tickets already pushed are skipped, so running a push twice files nothing twice.

    Raises:
        TicketError: the sink refused a ticket (tickets before it stay recorded).
        StoreError: the url could not be recorded.
    """
    results: list[PushResult] = []
    for ticket in tickets:
        if ticket.external_url:
            results.append(PushResult(ticket.id, ticket.external_url, already_pushed=True))
            continue
        url = sink.publish(ticket)
        store.update(ticket.seq, external_url=url)
        log.info("pushed %s to %s: %s", ticket.id, sink.name, url)
        results.append(PushResult(ticket.id, url, already_pushed=False))
    return results
