"""Tickets in the project's SQLite state: stable ids, deduplication by fingerprint.

Findings are saved in batches of ``SAVE_BATCH``, each inside one
``BEGIN IMMEDIATE`` transaction keyed on the unique ``fingerprint`` column:
the first report of a finding inserts a row (its id is ``PM-<seq>``, ``seq``
from an AUTOINCREMENT column, so ids are never reused); each later report of
the same finding, from any process, bumps ``times_seen`` and ``last_seen`` on
that row. Several processes saving at once therefore lose nothing and file
nothing twice. A report of a finding never changes its status.

Every save belongs to a run (an agent run's id, or ``extract-<hex>`` made up
for a save that names none). Two side tables keep what a row cannot:

- ``ticket_runs``: which tickets each run reported, how often, and whether the
  run created them. It makes ``claude-pm tickets list --run RUN`` exact and
  lets a save count each ticket once however often the text repeats it. (A
  run id given to several saves makes them one report: a ticket the first
  created is a repeat in the second, not "already filed".)
- ``ticket_lines``: every source line a ticket was reported on, with counts
  (two identical findings in one file are one ticket with two lines).

The row's ``line``, ``output_line`` and ``context`` are those of the first
report in the latest run that reported it: a finding that moved shows where
it is now.

:meth:`TicketStore.save_stream` consumes any number of findings in bounded
memory and returns a :class:`~claude_pm.tickets.summary.TicketSummary`;
:meth:`TicketStore.save` returns one :class:`SavedTicket` per finding, for
small inputs. Ids merged into another ticket (migration 6: two old tickets
that turned out to be the same finding) still resolve, to the ticket they
joined.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from claude_pm.errors import TicketError
from claude_pm.state import Database
from claude_pm.tickets import schema as _schema  # noqa: F401 - registers the migrations
from claude_pm.tickets.model import (
    Priority,
    SavedTicket,
    StoredTicket,
    Ticket,
    TicketLine,
    TicketStatus,
    TicketType,
    format_ticket_id,
    parse_ticket_id,
)
from claude_pm.tickets.summary import Counted, TicketSummary, TicketTally

__all__ = ["SAVE_BATCH", "SavedTicket", "StoredTicket", "TicketStore", "new_extraction_run"]

log = logging.getLogger(__name__)

#: Findings saved per transaction: short transactions keep other writers moving.
SAVE_BATCH = 500
#: Rows read per query when listing (memory stays bounded on a million tickets).
PAGE_ROWS = 1000

_LOOKUP = """
SELECT t.seq, t.fingerprint, t.times_seen, r.new
FROM tickets AS t LEFT JOIN ticket_runs AS r ON r.run = ? AND r.seq = t.seq
WHERE t.fingerprint IN ({marks})
"""
_FIRST_IN_RUN = """
UPDATE tickets SET last_seen = max(last_seen, ?), times_seen = times_seen + ?, last_run = ?,
    line = ?, output_line = ?, context = ?
WHERE seq = ?
"""
_AGAIN_IN_RUN = """
UPDATE tickets SET last_seen = max(last_seen, ?), times_seen = times_seen + ?, last_run = ?
WHERE seq = ?
"""
_INSERT = """
INSERT INTO tickets(fingerprint, type, priority, title, context, file, line, output_line,
                    source_agent, source_run, last_run, first_seen, last_seen, times_seen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_INSERTED = "SELECT seq, fingerprint FROM tickets WHERE fingerprint IN ({marks})"
_RUN_REPORTED = """
INSERT INTO ticket_runs(run, seq, times_seen, new) VALUES (?, ?, ?, ?)
ON CONFLICT(run, seq) DO UPDATE SET times_seen = times_seen + excluded.times_seen
"""
_LINE_REPORTED = """
INSERT INTO ticket_lines(seq, line, times_seen, first_seen, last_seen, last_run)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT(seq, line) DO UPDATE SET times_seen = times_seen + excluded.times_seen,
    last_seen = max(last_seen, excluded.last_seen), last_run = excluded.last_run
"""


def new_extraction_run() -> str:
    """A run id for a save that is not an agent run (a tool call, ``tickets extract``)."""
    return "extract-" + uuid.uuid4().hex[:12]


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
        output_line=row["output_line"],
    )


def _missing(seq: int) -> TicketError:
    return TicketError(
        f"No ticket {format_ticket_id(seq)}; `claude-pm tickets list` shows the ids.",
        ticket_id=format_ticket_id(seq),
    )


@dataclass(slots=True)
class _Finding:
    """One distinct fingerprint of a batch: its first report, counts, and what the store said."""

    fingerprint: str
    ticket: Ticket
    count: int = 0
    lines: dict[int, int] | None = None
    seq: int = 0
    times_seen_before: int = 0
    created: bool = False
    first_in_run: bool = False
    emitted: int = 0


def _write_batch(
    conn: sqlite3.Connection, batch: list[Counted], run: str, now: float
) -> tuple[list[_Finding], list[_Finding]]:
    """Save one batch (inside the caller's transaction): its distinct findings, and each item's."""
    by_fingerprint: dict[str, _Finding] = {}
    # A text that repeats a finding hashes it once per batch.
    by_identity: dict[tuple[str, str, str | None], _Finding] = {}
    per_input: list[_Finding] = []
    finding: _Finding | None = None
    for ticket, copies in batch:
        # The extractor hands the same title object to copies of a line: no lookup for them.
        if (
            finding is None
            or ticket.title is not finding.ticket.title
            or ticket.type is not finding.ticket.type
            or ticket.file != finding.ticket.file
        ):
            identity = (ticket.type, ticket.title, ticket.file)
            finding = by_identity.get(identity)
            if finding is None:
                key = ticket.fingerprint
                finding = by_fingerprint.get(key)
                if finding is None:
                    finding = by_fingerprint[key] = _Finding(key, ticket)
                by_identity[identity] = finding
        finding.count += copies
        if ticket.line is not None:
            if finding.lines is None:
                finding.lines = {}
            finding.lines[ticket.line] = finding.lines.get(ticket.line, 0) + copies
        per_input.append(finding)
    distinct = list(by_fingerprint.values())
    marks = ",".join("?" * len(distinct))
    for seq, key, times_seen, new in conn.execute(
        _LOOKUP.format(marks=marks), [run, *by_fingerprint]
    ):
        finding = by_fingerprint[key]
        finding.seq, finding.times_seen_before = int(seq), int(times_seen)
        finding.first_in_run = new is None
    known = [f for f in distinct if f.seq]
    conn.executemany(
        _FIRST_IN_RUN,
        [
            (now, f.count, run, f.ticket.line, f.ticket.output_line, f.ticket.context, f.seq)
            for f in known
            if f.first_in_run
        ],
    )
    conn.executemany(
        _AGAIN_IN_RUN, [(now, f.count, run, f.seq) for f in known if not f.first_in_run]
    )
    fresh = [f for f in distinct if not f.seq]
    if fresh:
        conn.executemany(
            _INSERT,
            [
                (
                    f.fingerprint,
                    f.ticket.type.value,
                    f.ticket.priority.value,
                    f.ticket.title,
                    f.ticket.context,
                    f.ticket.file,
                    f.ticket.line,
                    f.ticket.output_line,
                    f.ticket.source_agent,
                    run,
                    run,
                    now,
                    now,
                    f.count,
                )
                for f in fresh
            ],
        )
        marks = ",".join("?" * len(fresh))
        for seq, key in conn.execute(_INSERTED.format(marks=marks), [f.fingerprint for f in fresh]):
            finding = by_fingerprint[key]
            finding.seq, finding.created, finding.first_in_run = int(seq), True, True
    conn.executemany(_RUN_REPORTED, [(run, f.seq, f.count, int(f.created)) for f in distinct])
    conn.executemany(
        _LINE_REPORTED,
        [
            (f.seq, line, n, now, now, run)
            for f in distinct
            if f.lines
            for line, n in f.lines.items()
        ],
    )
    return distinct, per_input


class TicketStore:
    """Read and write tickets in a :class:`~claude_pm.state.Database`.

    Args:
        database: the project's state database.
        clock: seconds since the epoch, for ``first_seen`` / ``last_seen``.
    """

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.clock = clock

    # -- writing -------------------------------------------------------------------------

    def save_counted(
        self,
        findings: Iterable[Counted],
        *,
        source_run: str | None = None,
        keep: int = 50,
        tally: TicketTally | None = None,
        on_saved: Callable[[SavedTicket], None] | None = None,
    ) -> TicketSummary:
        """Store any number of findings in batches; returns counts and the first ``keep``.

        ``findings`` are ``(ticket, copies)`` items (what
        :func:`~claude_pm.tickets.extractor.iter_counted` yields): ``copies``
        reports of the same finding. Memory does not grow with their number:
        they are consumed ``SAVE_BATCH`` items at a time. ``source_run`` names
        the run they come from (default: a new ``extract-<hex>`` id, in the
        summary's ``run``). Give a ``tally`` to read what was counted even if
        a batch fails; ``on_saved`` is called with a :class:`SavedTicket` per
        item.

        Raises:
            StoreError: the database cannot be written (batches before the
                failing one stay saved and counted in ``tally``).
        """
        run = source_run or new_extraction_run()
        tally = tally if tally is not None else TicketTally(keep)
        tally.run = run
        tally.stored = True
        batch: list[Counted] = []
        # The connection opens with the first batch: output without findings costs nothing.
        with self.database.guard("save tickets"), ExitStack() as stack:
            conn: sqlite3.Connection | None = None
            for ticket, copies in findings:
                tally.add_found(ticket, copies)
                batch.append((ticket, copies))
                if len(batch) >= SAVE_BATCH:
                    conn = conn or stack.enter_context(self.database.connection())
                    self._save_batch(conn, batch, run, tally, on_saved)
                    batch = []
            if batch:
                conn = conn or stack.enter_context(self.database.connection())
                self._save_batch(conn, batch, run, tally, on_saved)
        log.debug(
            "run %s: %d finding(s), %d new ticket(s), %d already filed",
            run,
            tally.found,
            tally.created_count,
            tally.filed_count,
        )
        return tally.summary()

    def save_stream(
        self,
        tickets: Iterable[Ticket],
        *,
        source_run: str | None = None,
        keep: int = 50,
        tally: TicketTally | None = None,
        on_saved: Callable[[SavedTicket], None] | None = None,
    ) -> TicketSummary:
        """:meth:`save_counted` for tickets one per finding (``on_saved`` gets one per ticket)."""
        return self.save_counted(
            ((ticket, 1) for ticket in tickets),
            source_run=source_run,
            keep=keep,
            tally=tally,
            on_saved=on_saved,
        )

    def save(
        self, tickets: Iterable[Ticket], *, source_run: str | None = None
    ) -> list[SavedTicket]:
        """Store each ticket, or count it again if its fingerprint is already known.

        Returns one :class:`SavedTicket` per input ticket, in order (so: for
        small inputs; :meth:`save_stream` for any size); ``duplicate`` is true
        when the finding was stored before (earlier, by another process, or
        earlier in the same call).

        Raises:
            StoreError: the database cannot be written.
        """
        saved: list[SavedTicket] = []
        self.save_stream(tickets, source_run=source_run, keep=0, on_saved=saved.append)
        return saved

    def _save_batch(
        self,
        conn: sqlite3.Connection,
        batch: list[Counted],
        run: str,
        tally: TicketTally,
        on_saved: Callable[[SavedTicket], None] | None,
    ) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            distinct, per_input = _write_batch(conn, batch, run, self.clock())
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        for finding in distinct:
            if finding.created:
                tally.add_created(finding.seq)
            elif finding.first_in_run:
                tally.add_filed(finding.seq)
        if on_saved is None and not tally.wants_saved():
            return
        for (ticket, copies), finding in zip(batch, per_input, strict=True):
            first_copy = finding.times_seen_before + finding.emitted + 1
            finding.emitted += copies
            saved = SavedTicket(
                id=format_ticket_id(finding.seq),
                duplicate=first_copy > 1,
                ticket=ticket,
                times_seen=finding.times_seen_before + finding.emitted,
            )
            tally.add_saved(saved)
            if on_saved is not None:
                on_saved(saved)

    # -- reading -------------------------------------------------------------------------

    def _resolve(self, conn: sqlite3.Connection, seq: int) -> int:
        """The ticket an id stands for now: itself, or the one it was merged into."""
        for _ in range(100):
            row = conn.execute(
                "SELECT into_seq FROM ticket_merges WHERE merged_seq = ?", (seq,)
            ).fetchone()
            if row is None:
                return seq
            seq = int(row[0])
        return seq

    def get(self, ticket_id: str | int) -> StoredTicket:
        """The ticket with this id (``PM-42`` or ``42``); a merged id gives the ticket it joined.

        Raises:
            TicketError: no ticket has this id, or the id is malformed.
        """
        seq = parse_ticket_id(ticket_id)
        with self.database.guard("read tickets"), self.database.connection() as conn:
            row = conn.execute("SELECT * FROM tickets WHERE seq = ?", (seq,)).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT * FROM tickets WHERE seq = ?", (self._resolve(conn, seq),)
                ).fetchone()
        if row is None:
            raise _missing(seq)
        return _from_row(row)

    def _query(
        self,
        status: str | None,
        ticket_type: str | None,
        priority: str | None,
        run: str | None,
    ) -> tuple[list[str], list[Any]]:
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
        if run is not None:
            clauses.append("seq IN (SELECT seq FROM ticket_runs WHERE run = ?)")
            params.append(run)
        return clauses, params

    def iter_find(
        self,
        *,
        status: str | None = None,
        ticket_type: str | None = None,
        priority: str | None = None,
        run: str | None = None,
        limit: int | None = None,
    ) -> Iterator[StoredTicket]:
        """Like :meth:`find`, read ``PAGE_ROWS`` at a time: any number in bounded memory.

        Raises:
            TicketError: a filter value is not a valid status, type or priority.
        """
        clauses, params = self._query(status, ticket_type, priority, run)
        where = "".join(f" AND {clause}" for clause in clauses)
        sql = f"SELECT * FROM tickets WHERE seq > ?{where} ORDER BY seq LIMIT ?"
        after, left = 0, limit
        while left is None or left > 0:
            page = PAGE_ROWS if left is None else min(PAGE_ROWS, left)
            with self.database.guard("read tickets"), self.database.connection() as conn:
                rows = conn.execute(sql, [after, *params, page]).fetchall()
            for row in rows:
                yield _from_row(row)
            if len(rows) < page:
                return
            after = int(rows[-1]["seq"])
            if left is not None:
                left -= len(rows)

    def find(
        self,
        *,
        status: str | None = None,
        ticket_type: str | None = None,
        priority: str | None = None,
        run: str | None = None,
        limit: int | None = None,
    ) -> list[StoredTicket]:
        """Tickets in id order, filtered by status, type, priority and reporting run when given.

        ``run`` keeps the tickets that run reported, new or already filed.

        Raises:
            TicketError: a filter value is not a valid status, type or priority.
        """
        return list(
            self.iter_find(
                status=status, ticket_type=ticket_type, priority=priority, run=run, limit=limit
            )
        )

    def lines(self, ticket_id: str | int, *, limit: int = 100) -> tuple[list[TicketLine], int]:
        """The source lines a ticket was reported on (at most ``limit``, in order), and how many.

        Raises:
            TicketError: no ticket has this id, or the id is malformed.
        """
        seq = self.get(ticket_id).seq
        with self.database.guard("read tickets"), self.database.connection() as conn:
            total = int(
                conn.execute("SELECT count(*) FROM ticket_lines WHERE seq = ?", (seq,)).fetchone()[
                    0
                ]
            )
            rows = conn.execute(
                "SELECT line, times_seen, first_seen, last_seen, last_run FROM ticket_lines "
                "WHERE seq = ? ORDER BY line LIMIT ?",
                (seq, int(limit)),
            ).fetchall()
        return [TicketLine(*row) for row in rows], total

    def count(
        self,
        *,
        status: str | None = None,
        ticket_type: str | None = None,
        priority: str | None = None,
        run: str | None = None,
    ) -> int:
        """How many tickets :meth:`find` would give with these filters (all by default).

        Raises:
            TicketError: a filter value is not a valid status, type or priority.
        """
        clauses, params = self._query(status, ticket_type, priority, run)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.database.guard("read tickets"), self.database.connection() as conn:
            return int(conn.execute(f"SELECT count(*) FROM tickets{where}", params).fetchone()[0])

    # -- changing ------------------------------------------------------------------------

    def update(
        self,
        ticket_id: str | int,
        *,
        status: str | None = None,
        priority: str | None = None,
        external_url: str | None = None,
    ) -> StoredTicket:
        """Change a ticket's status, priority or external link; returns the updated ticket.

        A merged id changes the ticket it joined.

        Raises:
            TicketError: unknown id, or a status / priority that is not valid.
        """
        seq = self.get(ticket_id).seq
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
                raise _missing(seq)
        return self.get(seq)
