"""The tickets' migrations (the ``tickets`` table itself was created by migration 1).

Importing this module registers them with :mod:`claude_pm.state.migrations`:

2. ``tickets`` rebuilt without the CHECK on ``status`` (statuses are checked in code).
5. Identity without the location: the ``output_line`` column, the
   ``ticket_lines``, ``ticket_runs`` and ``ticket_merges`` tables, and every
   ticket re-fingerprinted with the ``path:line`` taken out of its title;
   tickets that turn out to be the same finding are merged
   (:func:`merged_row` states the rule).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from typing import Any

from claude_pm.state.migrations import Migration, add_missing_columns, ensure_baseline, register
from claude_pm.tickets.location import split_location
from claude_pm.tickets.model import fingerprint

log = logging.getLogger(__name__)

_TICKETS_V2 = """CREATE TABLE tickets_v2 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'open',
    type TEXT NOT NULL,
    priority TEXT NOT NULL,
    title TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT '',
    file TEXT,
    line INTEGER,
    source_agent TEXT,
    source_run TEXT,
    last_run TEXT,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    times_seen INTEGER NOT NULL DEFAULT 1,
    external_url TEXT
)"""
_COLUMNS = (
    "seq, fingerprint, status, type, priority, title, context, file, line, source_agent, "
    "source_run, last_run, first_seen, last_seen, times_seen, external_url"
)


def _drop_status_check(conn: sqlite3.Connection) -> None:
    """Rebuild ``tickets`` without the CHECK on ``status``, keeping every row and the id counter.

    Statuses are validated in code (``TicketStatus``) from now on.
    """
    ensure_baseline(conn)
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'tickets'").fetchone()
    counter = int(row[0]) if row is not None else 0
    conn.execute(_TICKETS_V2)
    conn.execute(f"INSERT INTO tickets_v2({_COLUMNS}) SELECT {_COLUMNS} FROM tickets")
    conn.execute("DROP TABLE tickets")
    conn.execute("ALTER TABLE tickets_v2 RENAME TO tickets")
    conn.execute("CREATE INDEX IF NOT EXISTS tickets_by_status ON tickets(status, priority)")
    conn.execute("CREATE INDEX IF NOT EXISTS tickets_by_file ON tickets(file)")
    conn.execute("DELETE FROM sqlite_sequence WHERE name IN ('tickets', 'tickets_v2')")
    conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('tickets', ?)", (counter,))


register(
    Migration(2, "tickets", "statuses checked in code, not by a CHECK", _drop_status_check),
)


# -- migration 6: identity without the location ------------------------------------------

#: The number of the migration below (4 went to the runs, 5 to the workflow journal).
IDENTITY_MIGRATION = 6

_TICKET_LINES = """CREATE TABLE IF NOT EXISTS ticket_lines (
    seq INTEGER NOT NULL,
    line INTEGER NOT NULL,
    times_seen INTEGER NOT NULL DEFAULT 1,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    last_run TEXT,
    PRIMARY KEY (seq, line)
) WITHOUT ROWID"""
_TICKET_RUNS = """CREATE TABLE IF NOT EXISTS ticket_runs (
    run TEXT NOT NULL,
    seq INTEGER NOT NULL,
    times_seen INTEGER NOT NULL DEFAULT 1,
    new INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run, seq)
) WITHOUT ROWID"""
_TICKET_MERGES = """CREATE TABLE IF NOT EXISTS ticket_merges (
    merged_seq INTEGER PRIMARY KEY,
    into_seq INTEGER NOT NULL,
    merged_at REAL NOT NULL
)"""
_PAGE = 1000


def _pages(conn: sqlite3.Connection, sql: str) -> Iterator[list[sqlite3.Row]]:
    """Rows of ``sql`` (``... WHERE seq > ? ... ORDER BY seq LIMIT ?``), a page at a time.

    Paging by key instead of iterating one cursor lets the caller write to the
    table between pages.
    """
    after = 0
    while True:
        rows = conn.execute(sql, (after, _PAGE)).fetchall()
        if not rows:
            return
        yield rows
        after = int(rows[-1][0])


def _split_titles(conn: sqlite3.Connection) -> None:
    """Take the location out of the titles of tickets that have no file, as extraction now does.

    Before, ``line`` was the line of the agent's output; it moves to
    ``output_line``, and ``line`` becomes the source line (None when unknown).
    """
    conn.execute("UPDATE tickets SET output_line = line")
    conn.execute("UPDATE tickets SET file = NULL, line = NULL WHERE file IS NULL OR file = ''")
    sql = "SELECT seq, title FROM tickets WHERE seq > ? AND file IS NULL ORDER BY seq LIMIT ?"
    for rows in _pages(conn, sql):
        changes = []
        for seq, title in rows:
            rest, location = split_location(title)
            if location is not None:
                changes.append((rest, location.file, location.line, seq))
        conn.executemany("UPDATE tickets SET title = ?, file = ?, line = ? WHERE seq = ?", changes)


def _new_fingerprints(conn: sqlite3.Connection) -> None:
    """``_refingerprint(seq, fingerprint)``: every ticket's fingerprint under the new rule."""
    conn.execute("DROP TABLE IF EXISTS _refingerprint")
    conn.execute("CREATE TEMP TABLE _refingerprint (seq INTEGER PRIMARY KEY, fp TEXT NOT NULL)")
    sql = "SELECT seq, type, title, file FROM tickets WHERE seq > ? ORDER BY seq LIMIT ?"
    for rows in _pages(conn, sql):
        conn.executemany(
            "INSERT INTO _refingerprint(seq, fp) VALUES (?, ?)",
            [(seq, fingerprint(kind, title, file)) for seq, kind, title, file in rows],
        )
    conn.execute("CREATE INDEX _refingerprint_by_fp ON _refingerprint(fp)")


def _backfill(conn: sqlite3.Connection) -> None:
    """What the rows already say about lines and runs, into the new tables."""
    conn.execute(
        "INSERT OR IGNORE INTO ticket_lines(seq, line, times_seen, first_seen, last_seen, "
        "last_run) SELECT seq, line, times_seen, first_seen, last_seen, last_run FROM tickets "
        "WHERE line IS NOT NULL"
    )
    # Per-run counts were never kept: the creating run gets one report, the latest the rest.
    conn.execute(
        "INSERT OR IGNORE INTO ticket_runs(run, seq, times_seen, new) "
        "SELECT source_run, seq, CASE WHEN last_run IS NULL OR last_run = source_run "
        "THEN times_seen ELSE 1 END, 1 FROM tickets WHERE source_run IS NOT NULL"
    )
    conn.execute(
        "INSERT OR IGNORE INTO ticket_runs(run, seq, times_seen, new) "
        "SELECT last_run, seq, max(times_seen - 1, 1), 0 FROM tickets "
        "WHERE last_run IS NOT NULL AND last_run IS NOT source_run"
    )


def merged_row(rows: Sequence[sqlite3.Row]) -> dict[str, Any]:
    """The values of the ticket that several old tickets (``rows``, in id order) become.

    The rule: the lowest id stays; counts add up; first seen is the earliest,
    last seen the latest, and the source run is the earliest report's; line,
    output line, context and last run are the latest report's. The status is
    the kept ticket's unless it is still ``open``: then the first other status
    that was changed from ``open`` (in id order) wins, so a ticket someone
    closed or started stays so. Priority is the kept ticket's; the external
    url the kept one's, else the first other one's.
    """
    kept = rows[0]
    earliest = min(rows, key=lambda r: (r["first_seen"], r["seq"]))
    latest = max(rows, key=lambda r: (r["last_seen"], r["seq"]))
    status = kept["status"]
    if status == "open":
        status = next((r["status"] for r in rows[1:] if r["status"] != "open"), "open")
    external_url = kept["external_url"] or next(
        (r["external_url"] for r in rows[1:] if r["external_url"]), None
    )
    return {
        "status": status,
        "times_seen": sum(int(r["times_seen"]) for r in rows),
        "first_seen": earliest["first_seen"],
        "last_seen": latest["last_seen"],
        "source_run": earliest["source_run"],
        "last_run": latest["last_run"],
        "line": latest["line"],
        "output_line": latest["output_line"],
        "context": latest["context"],
        "external_url": external_url,
    }


def _merge_group(conn: sqlite3.Connection, seqs: list[int], now: float) -> None:
    marks = ",".join("?" * len(seqs))
    rows = conn.execute(
        f"SELECT * FROM tickets WHERE seq IN ({marks}) ORDER BY seq", seqs
    ).fetchall()
    kept, others = int(rows[0]["seq"]), [int(r["seq"]) for r in rows[1:]]
    values = merged_row(rows)
    assignments = ", ".join(f"{column} = ?" for column in values)
    conn.execute(f"UPDATE tickets SET {assignments} WHERE seq = ?", [*values.values(), kept])
    for other in others:
        conn.execute(
            "INSERT INTO ticket_lines(seq, line, times_seen, first_seen, last_seen, last_run) "
            "SELECT ?, line, times_seen, first_seen, last_seen, last_run FROM ticket_lines "
            "WHERE seq = ? ON CONFLICT(seq, line) DO UPDATE SET "
            "times_seen = times_seen + excluded.times_seen, "
            "first_seen = min(first_seen, excluded.first_seen), "
            "last_seen = max(last_seen, excluded.last_seen)",
            (kept, other),
        )
        conn.execute(
            "INSERT INTO ticket_runs(run, seq, times_seen, new) "
            "SELECT run, ?, times_seen, new FROM ticket_runs WHERE seq = ? "
            "ON CONFLICT(run, seq) DO UPDATE SET times_seen = times_seen + excluded.times_seen, "
            "new = max(new, excluded.new)",
            (kept, other),
        )
        for table in ("ticket_lines", "ticket_runs", "tickets", "_refingerprint"):
            conn.execute(f"DELETE FROM {table} WHERE seq = ?", (other,))
        conn.execute(
            "INSERT INTO ticket_merges(merged_seq, into_seq, merged_at) VALUES (?, ?, ?)",
            (other, kept, now),
        )


def _merge_duplicates(conn: sqlite3.Connection) -> int:
    """Merge the tickets that now share a fingerprint; returns how many ids were merged away."""
    now = time.time()
    merged = 0
    after = ""
    while True:
        groups = conn.execute(
            "SELECT fp, group_concat(seq) FROM _refingerprint WHERE fp > ? GROUP BY fp "
            "HAVING count(*) > 1 ORDER BY fp LIMIT ?",
            (after, _PAGE),
        ).fetchall()
        if not groups:
            return merged
        for _, seqs in groups:
            ordered = sorted(int(s) for s in str(seqs).split(","))
            _merge_group(conn, ordered, now)
            merged += len(ordered) - 1
        after = groups[-1][0]


def _identity_without_location(conn: sqlite3.Connection) -> None:
    """Re-fingerprint every ticket with its location out of its title, merging what collides.

    Uses the location parser and fingerprint of this version
    (:func:`~claude_pm.tickets.location.split_location`,
    :func:`~claude_pm.tickets.model.fingerprint`): a later change to either
    that alters identities needs a migration of its own. Absolute paths in old
    titles stay absolute (the migration does not know the project root).
    Merged ids are recorded in ``ticket_merges`` and still resolve.
    """
    add_missing_columns(conn, "tickets", (("output_line", "INTEGER"),))
    for statement in (_TICKET_LINES, _TICKET_RUNS, _TICKET_MERGES):
        conn.execute(statement)
    conn.execute("CREATE INDEX IF NOT EXISTS ticket_runs_by_seq ON ticket_runs(seq)")
    _split_titles(conn)
    _new_fingerprints(conn)
    _backfill(conn)
    merged = _merge_duplicates(conn)
    # Two steps, so that no row ever takes a fingerprint another still holds.
    changed = (
        "SELECT seq FROM _refingerprint WHERE fp != "
        "(SELECT fingerprint FROM tickets WHERE tickets.seq = _refingerprint.seq)"
    )
    conn.execute(f"UPDATE tickets SET fingerprint = 'migrating:' || seq WHERE seq IN ({changed})")
    conn.execute(
        "UPDATE tickets SET fingerprint = (SELECT fp FROM _refingerprint "
        "WHERE _refingerprint.seq = tickets.seq) WHERE fingerprint LIKE 'migrating:%'"
    )
    conn.execute("DROP TABLE _refingerprint")
    log.info("tickets re-fingerprinted without their location; %d merged", merged)


register(
    Migration(
        IDENTITY_MIGRATION,
        "tickets",
        "fingerprints without the location; output_line, ticket_lines, ticket_runs, merges",
        _identity_without_location,
    ),
)
