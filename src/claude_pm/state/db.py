"""The one SQLite database: ``<project>/.claude-pm/state.db`` by default.

WAL mode, so several orchestrator processes can write at once; every writer
uses short ``BEGIN IMMEDIATE`` transactions and readers never block writers.
Opening a :class:`Database` applies the migrations it lacks
(:mod:`claude_pm.state.migrations`). The tables and queries belong to the
services: runs to :mod:`claude_pm.agents.runs`, tickets to
:mod:`claude_pm.tickets.store`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from claude_pm.errors import StoreError
from claude_pm.state.migrations import all_migrations, pending

log = logging.getLogger(__name__)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class Database:
    """A handle on ``state.db``; opens one connection per call site (threads are many).

    Raises:
        StoreError: the file cannot be created, is not a SQLite database, or
            was written by a newer claude-pm.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.connection() as conn:
                self.schema_version = self._migrate(conn)
        except sqlite3.DatabaseError as e:
            raise StoreError(
                f"Cannot open the state database {str(self.path)!r}: {e}. "
                "Move the file aside if it is not a claude-pm database.",
                path=str(self.path),
            ) from e
        except OSError as e:
            raise StoreError(
                f"Cannot create the state directory for {str(self.path)!r}: {e}.",
                path=str(self.path),
            ) from e

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection, closed on exit (SQLite connections are cheap; threads are many)."""
        conn = _connect(self.path)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error."""
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def guard(self, action: str) -> Iterator[None]:
        """Turn a SQLite failure while doing ``action`` into a :class:`StoreError` that says so.

        Raises:
            StoreError: naming the action, the file and what SQLite said.
        """
        try:
            yield
        except sqlite3.Error as e:
            raise StoreError(
                f"Could not {action} in {str(self.path)!r}: {e}. Check that the disk has "
                "space and that no other program holds the file locked.",
                path=str(self.path),
            ) from e

    def _migrate(self, conn: sqlite3.Connection) -> int:
        """Apply the missing migrations in one transaction; returns the file's version."""
        migrations = all_migrations()
        known = len(migrations)
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = _stored_version(conn)
            if current > known:
                raise StoreError(
                    f"{str(self.path)!r} was written by a newer claude-pm (schema {current}, "
                    f"this one knows {known}); upgrade claude-pm.",
                    path=str(self.path),
                    schema_version=current,
                    known_version=known,
                )
            todo = pending(current, migrations)
            for migration in todo:
                log.info(
                    "state %s: migration %d (%s): %s",
                    self.path,
                    migration.version,
                    migration.owner,
                    migration.description,
                )
                migration.apply(conn)
            if todo:
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (str(known),),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return known


def _stored_version(conn: sqlite3.Connection) -> int:
    """``meta.schema_version``, or 0 for a new (or pre-release) file."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if has_meta is None:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    try:
        return int(row["value"]) if row is not None else 0
    except ValueError:
        return 0
