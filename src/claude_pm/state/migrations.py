"""Ordered, append-only, numbered migrations of ``state.db``; each service owns its own.

A :class:`Migration` has a number, the service that owns the tables it
touches, and a function that applies it inside the migration transaction.
Services declare theirs next to their queries (``claude_pm.agents.runs`` for
runs, ``claude_pm.tickets.schema`` for tickets, ``claude_pm.workflow.records`` for
workflows) and
register them with :func:`register`; :data:`SCHEMA_OWNERS` names those modules
so that opening a database always knows every migration, whatever the caller
imported. Migration 1 is the layout as first released, kept here.

Numbers are global and contiguous from 1: :func:`schema_version` is the
highest one, and ``meta.schema_version`` in the file says how many have been
applied. Opening a database applies the missing ones, in order, in one
``BEGIN IMMEDIATE`` transaction (all or nothing); a file whose version is
higher than this code knows is refused. A migration is never edited once
released: a change is a new migration.

Values (statuses, types) are checked in code, not by SQL ``CHECK``
constraints, so that a new status needs no table rebuild.
"""

from __future__ import annotations

import importlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: Modules that register migrations when imported, in no particular order.
SCHEMA_OWNERS: tuple[str, ...] = (
    "claude_pm.agents.runs",
    "claude_pm.tickets.schema",
    "claude_pm.workflow.records",
)


@dataclass(frozen=True)
class Migration:
    """One step of the schema: ``apply(conn)`` runs inside the migration transaction."""

    version: int
    owner: str
    description: str
    apply: Callable[[sqlite3.Connection], None]


_registry: dict[int, Migration] = {}
_lock = threading.Lock()
_owners_loaded = False


def register(*migrations: Migration) -> None:
    """Add a service's migrations (at import of its module).

    Raises:
        ValueError: a number is taken by another migration (two services chose
            the same number: renumber the newer one).
    """
    with _lock:
        for migration in migrations:
            taken = _registry.get(migration.version)
            if taken is not None and taken != migration:
                raise ValueError(
                    f"migration {migration.version} of {migration.owner} clashes with "
                    f"{taken.owner}'s ({taken.description}); give it the next free number"
                )
            _registry[migration.version] = migration


def all_migrations() -> list[Migration]:
    """Every migration, in order.

    Raises:
        ValueError: the numbers are not contiguous from 1 (one is missing).
    """
    global _owners_loaded
    if not _owners_loaded:
        for module in SCHEMA_OWNERS:
            importlib.import_module(module)
        _owners_loaded = True
    with _lock:
        ordered = [_registry[v] for v in sorted(_registry)]
    for expected, migration in enumerate(ordered, start=1):
        if migration.version != expected:
            raise ValueError(f"migration {expected} is missing (found {migration.version})")
    return ordered


def schema_version() -> int:
    """The version a database has once every migration this code knows is applied."""
    return len(all_migrations())


def pending(current: int, migrations: Sequence[Migration]) -> list[Migration]:
    return [m for m in migrations if m.version > current]


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` (empty when it does not exist)."""
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def add_missing_columns(
    conn: sqlite3.Connection, table: str, columns: Sequence[tuple[str, str]]
) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for each ``(name, declaration)`` the table lacks."""
    present = table_columns(conn, table)
    for name, declaration in columns:
        if name not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")


# -- migration 1: the layout as first released -------------------------------------------

_BASELINE = (
    """CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        session_id TEXT,
        agent_type TEXT NOT NULL,
        task TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at REAL NOT NULL,
        finished_at REAL,
        wall_time_s REAL,
        cpu_time_s REAL,
        peak_rss_bytes INTEGER,
        enforcement TEXT,
        exit_code INTEGER,
        signal INTEGER,
        stdout_path TEXT,
        stderr_path TEXT,
        run_dir TEXT,
        error TEXT,
        orchestrator TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS runs_by_agent ON runs(agent_type, started_at)",
    """CREATE TABLE IF NOT EXISTS tickets (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        fingerprint TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL DEFAULT 'open'
            CHECK (status IN ('open', 'in_progress', 'done', 'wont_fix')),
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
    )""",
    "CREATE INDEX IF NOT EXISTS tickets_by_status ON tickets(status, priority)",
)
#: Columns that builds before the first release added later; a file from one lacks them.
_BASELINE_LATE_COLUMNS = {
    "runs": (("orchestrator", "TEXT"),),
    "tickets": (("last_run", "TEXT"), ("external_url", "TEXT")),
}


def ensure_baseline(conn: sqlite3.Connection) -> None:
    """Migration 1, idempotent: the first released tables, and the columns early files lack.

    Later migrations may call it first as a repair, for files that claimed
    version 1 without holding all of it.
    """
    for statement in _BASELINE:
        conn.execute(statement)
    for table, columns in _BASELINE_LATE_COLUMNS.items():
        add_missing_columns(conn, table, columns)


register(Migration(1, "state", "meta, runs and tickets as first released", ensure_baseline))


__all__ = [
    "SCHEMA_OWNERS",
    "Migration",
    "add_missing_columns",
    "all_migrations",
    "ensure_baseline",
    "register",
    "schema_version",
    "table_columns",
]
