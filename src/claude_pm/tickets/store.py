"""Tickets in the project's SQLite state: stable ids, deduplication by fingerprint.

Saving happens inside a ``BEGIN IMMEDIATE`` transaction, keyed on the unique
``fingerprint`` column: the first report of a finding inserts a row (its id is
``PM-<seq>``, ``seq`` from an AUTOINCREMENT column, so ids are never reused);
each later report of the same finding, from any process, bumps ``times_seen``
and ``last_seen`` on that row. Several processes saving at once therefore lose
nothing and file nothing twice. A report of a finding never changes its status.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any

from claude_pm.errors import TicketError
from claude_pm.state import Database
from claude_pm.tickets import schema as _schema  # noqa: F401 - registers the migrations
from claude_pm.tickets.model import (
    Priority,
    SavedTicket,
    StoredTicket,
    Ticket,
    TicketStatus,
    TicketType,
    format_ticket_id,
    parse_ticket_id,
)

__all__ = ["SAVE_BATCH", "SavedTicket", "StoredTicket", "TicketStore"]

log = logging.getLogger(__name__)

#: Tickets saved per transaction: short transactions keep other writers moving.
SAVE_BATCH = 500

# Inside BEGIN IMMEDIATE (the write lock is held, so nothing runs in between):
# count the finding again if its fingerprint is known, else insert it. An
# INSERT ... ON CONFLICT would burn an AUTOINCREMENT value on every duplicate,
# leaving gaps in the ids; the UNIQUE constraint stays as the backstop.
_SEEN_AGAIN = """
UPDATE tickets SET
    last_seen = max(last_seen, ?),
    times_seen = times_seen + 1,
    last_run = coalesce(?, last_run)
WHERE fingerprint = ?
RETURNING seq, times_seen
"""
_INSERT = """
INSERT INTO tickets(fingerprint, type, priority, title, context, file, line,
                    source_agent, source_run, last_run, first_seen, last_seen, times_seen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
RETURNING seq, times_seen
"""


def _enum_value(enum: type[TicketStatus | TicketType | Priority], value: str, name: str) -> str:
    try:
        return enum(str(value).strip().lower()).value
    except ValueError:
        valid = ", ".join(member.value for member in enum)
        raise TicketError(
            f"{value!r} is not a ticket {name}; use one of: {valid}.",
            field=name,
            valid_values=[member.value for member in enum],
        ) from None


def _from_row(row: sqlite3.Row) -> StoredTicket:
    return StoredTicket(
        seq=row["seq"],
        fingerprint=row["fingerprint"],
        status=TicketStatus(row["status"]),
        type=TicketType(row["type"]),
        priority=Priority(row["priority"]),
        title=row["title"],
        context=row["context"],
        file=row["file"],
        line=row["line"],
        source_agent=row["source_agent"],
        source_run=row["source_run"],
        last_run=row["last_run"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        times_seen=row["times_seen"],
        external_url=row["external_url"],
    )


class TicketStore:
    """Read and write tickets in a :class:`~claude_pm.state.Database`.

    Args:
        database: the project's state database.
        clock: seconds since the epoch, for ``first_seen`` / ``last_seen``.
    """

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.clock = clock

    def save(
        self, tickets: Iterable[Ticket], *, source_run: str | None = None
    ) -> list[SavedTicket]:
        """Store each ticket, or count it again if its fingerprint is already known.

        Returns one :class:`SavedTicket` per input ticket, in order; ``duplicate``
        is true when the finding was stored before (earlier, by another
        process, or earlier in the same call).

        Raises:
            StoreError: the database cannot be written.
        """
        saved: list[SavedTicket] = []
        batch: list[Ticket] = []
        for ticket in tickets:
            batch.append(ticket)
            if len(batch) >= SAVE_BATCH:
                saved.extend(self._save_batch(batch, source_run))
                batch = []
        if batch:
            saved.extend(self._save_batch(batch, source_run))
        return saved

    def _save_batch(self, batch: list[Ticket], source_run: str | None) -> list[SavedTicket]:
        now = self.clock()
        out: list[SavedTicket] = []
        with self.database.guard("save tickets"), self.database.transaction() as conn:
            for ticket in batch:
                key = ticket.fingerprint
                row = conn.execute(_SEEN_AGAIN, (now, source_run, key)).fetchone()
                if row is None:
                    row = conn.execute(
                        _INSERT,
                        (
                            key,
                            ticket.type.value,
                            ticket.priority.value,
                            ticket.title,
                            ticket.context,
                            ticket.file,
                            ticket.line,
                            ticket.source_agent,
                            source_run,
                            source_run,
                            now,
                            now,
                        ),
                    ).fetchone()
                seq, times_seen = int(row[0]), int(row[1])
                out.append(
                    SavedTicket(
                        id=format_ticket_id(seq),
                        duplicate=times_seen > 1,
                        ticket=ticket,
                        times_seen=times_seen,
                    )
                )
        log.debug("saved %d ticket(s), %d new", len(out), sum(not s.duplicate for s in out))
        return out

    def get(self, ticket_id: str | int) -> StoredTicket:
        """The ticket with this id (``PM-42`` or ``42``).

        Raises:
            TicketError: no ticket has this id, or the id is malformed.
        """
        seq = parse_ticket_id(ticket_id)
        with self.database.guard("read tickets"), self.database.connection() as conn:
            row = conn.execute("SELECT * FROM tickets WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            raise TicketError(
                f"No ticket {format_ticket_id(seq)}; `claude-pm tickets list` shows the ids.",
                ticket_id=format_ticket_id(seq),
            )
        return _from_row(row)

    def find(
        self,
        *,
        status: str | None = None,
        ticket_type: str | None = None,
        priority: str | None = None,
        limit: int | None = None,
    ) -> list[StoredTicket]:
        """Tickets in id order, filtered by status, type and priority when given.

        Raises:
            TicketError: a filter value is not a valid status, type or priority.
        """
        clauses: list[str] = []
        params: list[Any] = []
        for column, enum, value in (
            ("status", TicketStatus, status),
            ("type", TicketType, ticket_type),
            ("priority", Priority, priority),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(_enum_value(enum, value, column))
        sql = "SELECT * FROM tickets"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self.database.guard("read tickets"), self.database.connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_from_row(r) for r in rows]

    def count(self) -> int:
        with self.database.guard("read tickets"), self.database.connection() as conn:
            return int(conn.execute("SELECT count(*) FROM tickets").fetchone()[0])

    def update(
        self,
        ticket_id: str | int,
        *,
        status: str | None = None,
        priority: str | None = None,
        external_url: str | None = None,
    ) -> StoredTicket:
        """Change a ticket's status, priority or external link; returns the updated ticket.

        Raises:
            TicketError: unknown id, or a status / priority that is not valid.
        """
        seq = parse_ticket_id(ticket_id)
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = _enum_value(TicketStatus, status, "status")
        if priority is not None:
            changes["priority"] = _enum_value(Priority, priority, "priority")
        if external_url is not None:
            changes["external_url"] = external_url
        if changes:
            assignments = ", ".join(f"{column} = ?" for column in changes)
            with self.database.guard("update a ticket"), self.database.transaction() as conn:
                cursor = conn.execute(
                    f"UPDATE tickets SET {assignments} WHERE seq = ?", [*changes.values(), seq]
                )
                updated = cursor.rowcount
            if updated == 0:
                raise TicketError(
                    f"No ticket {format_ticket_id(seq)}; `claude-pm tickets list` shows the ids.",
                    ticket_id=format_ticket_id(seq),
                )
        return self.get(seq)
