"""The ``tickets`` table's migrations (the table itself was created by migration 1).

Importing this module registers them with :mod:`claude_pm.state.migrations`.
"""

from __future__ import annotations

import sqlite3

from claude_pm.state.migrations import Migration, ensure_baseline, register

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
