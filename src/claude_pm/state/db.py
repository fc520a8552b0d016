"""The one SQLite database: ``<project>/.claude-pm/state.db`` by default.

WAL mode, so several orchestrator processes can write at once; every writer
uses short ``BEGIN IMMEDIATE`` transactions and readers never block writers.
Opening a :class:`Database` applies the migrations it lacks
(:mod:`claude_pm.state.migrations`). The tables and queries belong to the
services: runs to :mod:`claude_pm.agents.runs`, tickets to
:mod:`claude_pm.tickets.store`.

Every SQLite failure becomes a :class:`~claude_pm.errors.StoreError` whose
``reason`` fact says which kind it is, with a message that says what to do:

=============  ===================================================================
``locked``     another connection held the file past the busy timeout: wait, or
               close the program holding it (nothing was changed)
``corrupt``    not a SQLite database, or damaged: the file is refused, untouched
``disk_full``  no space left where the file lives (the free space is named)
``read_only``  the file or its filesystem cannot be written
``cannot_open`` the file or its directory cannot be opened or created
``io_error``   the disk failed a read or write
``sqlite``     anything else SQLite reported
=============  ===================================================================
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from claude_pm.errors import StoreError
from claude_pm.state.migrations import all_migrations, pending

log = logging.getLogger(__name__)


#: How long a connection waits for another one's lock before failing with ``locked``.
BUSY_TIMEOUT_S = 30.0
#: Below this much free space, an I/O error is reported as a full disk.
_NEARLY_FULL_BYTES = 1024 * 1024

_REASONS = {
    sqlite3.SQLITE_BUSY: "locked",
    sqlite3.SQLITE_LOCKED: "locked",
    sqlite3.SQLITE_NOTADB: "corrupt",
    sqlite3.SQLITE_CORRUPT: "corrupt",
    sqlite3.SQLITE_FULL: "disk_full",
    sqlite3.SQLITE_READONLY: "read_only",
    sqlite3.SQLITE_CANTOPEN: "cannot_open",
    sqlite3.SQLITE_IOERR: "io_error",
}


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        # Never leave the file open (an unmount, a retry on a freed disk) behind an error.
        conn.close()
        raise
    return conn


class Database:
    """A handle on ``state.db``; opens one connection per call site (threads are many).

    ``busy_timeout_s`` is how long a connection waits for another's lock.

    Raises:
        StoreError: the file cannot be created or opened, is locked, is not a
            SQLite database, or was written by a newer claude-pm (``reason``
            says which; see the module docstring).
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"Cannot create the state directory {str(self.path.parent)!r}: "
                f"{e.strerror or e}{_space(self.path)}. {_os_advice(e)}",
                path=str(self.path),
                reason=_os_reason(e),
            ) from e
        try:
            with self.connection() as conn:
                self.schema_version = self._migrate(conn)
        except sqlite3.Error as e:
            raise describe_error(
                e, self.path, "open the state database", self.busy_timeout_s
            ) from e

    @contextmanager
    def connection(self, *, busy_timeout_s: float | None = None) -> Iterator[sqlite3.Connection]:
        """A fresh connection, closed on exit (SQLite connections are cheap; threads are many)."""
        timeout = self.busy_timeout_s if busy_timeout_s is None else busy_timeout_s
        conn = _connect(self.path, timeout)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self, *, busy_timeout_s: float | None = None) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error."""
        with self.connection(busy_timeout_s=busy_timeout_s) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                # A failed write may have ended the transaction already: keep its error.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def guard(self, action: str) -> Iterator[None]:
        """Turn a SQLite failure while doing ``action`` into a :class:`StoreError` that says so.

        Raises:
            StoreError: naming the action, the file, what SQLite said and what to do.
        """
        try:
            yield
        except sqlite3.Error as e:
            raise describe_error(e, self.path, action, self.busy_timeout_s) from e

    def _migrate(self, conn: sqlite3.Connection) -> int:
        """Apply the missing migrations in one transaction; returns the file's version.

        A file that is up to date is only read (no write lock is taken), so opening
        it does not wait for another process's write.
        """
        migrations = all_migrations()
        known = len(migrations)
        if _stored_version(conn) == known:
            return known
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = _stored_version(conn)
            if current > known:
                raise StoreError(
                    f"{str(self.path)!r} was written by a newer claude-pm (schema {current}, "
                    f"this one knows {known}); upgrade claude-pm.",
                    path=str(self.path),
                    reason="newer_schema",
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


def describe_error(
    error: sqlite3.Error, path: Path, action: str, busy_timeout_s: float = BUSY_TIMEOUT_S
) -> StoreError:
    """A :class:`StoreError` for a SQLite failure while doing ``action`` on ``path``.

    Tells a lock from a damaged file from a full or read-only disk (``reason``),
    and says what to do about each.
    """
    where = str(path)
    code = getattr(error, "sqlite_errorcode", None)
    reason = _REASONS.get(code & 0xFF, "sqlite") if isinstance(code, int) else "sqlite"
    if reason == "sqlite" and "locked" in str(error):
        reason = "locked"
    free = _free_bytes(path)
    if reason in ("io_error", "cannot_open", "sqlite") and free is not None:
        if free < _NEARLY_FULL_BYTES:
            reason = "disk_full"
        elif _read_only_fs(path):
            reason = "read_only"
    said = f"Could not {action} ({where}): {error}"
    if reason == "locked":
        advice = (
            f"the file is locked by another connection (busy timeout {busy_timeout_s:g} s): "
            "another claude-pm process or a program such as `sqlite3` holds a long "
            "transaction or an exclusive lock. Close it or wait for it to finish, then try "
            "again; nothing was changed."
        )
    elif reason == "corrupt":
        advice = (
            "the file is not a SQLite database, or it is damaged. It was left untouched: move "
            "it aside (claude-pm then starts a new one) or restore it from a backup."
        )
    elif reason == "disk_full":
        advice = (
            f"the disk is full{_space(path)}. Free some space, or set CLAUDE_PM_STATE_DIR "
            "to another filesystem; nothing already stored was lost."
        )
    elif reason == "read_only":
        advice = (
            "the file or its filesystem is read-only. Make it writable, or set "
            "CLAUDE_PM_STATE_DIR to a writable place; nothing was changed."
        )
    elif reason == "cannot_open":
        advice = "check that its directory exists and that this user may write there."
    elif reason == "io_error":
        advice = f"the disk failed a read or write{_space(path)}: check the disk (see dmesg)."
    else:
        advice = "check that the disk has space and that no other program holds the file locked."
    return StoreError(f"{said}: {advice}", path=where, reason=reason, sqlite_error=str(error))


def _free_bytes(path: Path) -> int | None:
    for candidate in (path.parent, *path.parents):
        try:
            st = os.statvfs(candidate)
        except OSError:
            continue
        return st.f_bavail * st.f_frsize
    return None


def _read_only_fs(path: Path) -> bool:
    for candidate in (path.parent, *path.parents):
        try:
            return bool(os.statvfs(candidate).f_flag & os.ST_RDONLY)
        except OSError:
            continue
    return False


def _space(path: Path) -> str:
    free = _free_bytes(path)
    return "" if free is None else f" ({free / (1024 * 1024):.1f} MB free on that filesystem)"


def _os_reason(error: OSError) -> str:
    return {errno.ENOSPC: "disk_full", errno.EROFS: "read_only"}.get(
        error.errno or 0, "cannot_open"
    )


def _os_advice(error: OSError) -> str:
    reason = _os_reason(error)
    if reason == "disk_full":
        return "Free some space, or set CLAUDE_PM_STATE_DIR to another filesystem."
    if reason == "read_only":
        return "Set CLAUDE_PM_STATE_DIR to a writable place."
    return "Check the path and this user's permissions, or set CLAUDE_PM_STATE_DIR."


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
