"""The one SQLite database: agent runs, tickets, (later) the workflow journal.

``<project>/.claude-pm/state.db`` by default, in WAL mode so several orchestrator
processes can write at once. Every writer uses short transactions; readers never
block writers.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_pm.errors import StoreError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
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
);
CREATE INDEX IF NOT EXISTS runs_by_agent ON runs(agent_type, started_at);
CREATE TABLE IF NOT EXISTS tickets (
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
);
CREATE INDEX IF NOT EXISTS tickets_by_status ON tickets(status, priority);
"""


#: Columns added to a table after it first shipped: ``_migrate`` adds the missing ones,
#: so a state.db written by an earlier claude-pm keeps working and keeps its data.
_ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("runs", "orchestrator", "TEXT"),
    ("tickets", "last_run", "TEXT"),
    ("tickets", "external_url", "TEXT"),
)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@dataclass(frozen=True)
class RunRecord:
    """One agent run as stored."""

    run_id: str
    agent_type: str
    task: str
    status: str
    started_at: float
    finished_at: float | None = None
    wall_time_s: float | None = None
    cpu_time_s: float | None = None
    peak_rss_bytes: int | None = None
    enforcement: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    run_dir: str | None = None
    error: str | None = None
    session_id: str | None = None
    #: Which process recorded the start (boot id, pid and start time): tells a run
    #: whose orchestrator died without recording the end from one still going.
    orchestrator: str | None = None


class Database:
    """A handle on ``state.db``; opens one connection per thread-safe call site.

    Raises:
        StoreError: the file cannot be created, is not a SQLite database, or
            was written by a newer claude-pm.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.connection() as conn:
                self._migrate(conn)
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

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            for table, column, decl in _ADDED_COLUMNS:
                present = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row["value"]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{str(self.path)!r} was written by a newer claude-pm "
                    f"(schema {row['value']}, this one knows {SCHEMA_VERSION}); upgrade claude-pm.",
                    path=str(self.path),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- runs -----------------------------------------------------------------

    def record_run_start(self, record: RunRecord) -> None:
        """Store a run as started, so an interrupted orchestrator still leaves a trace."""
        with self.guard("record the start of a run"), self.transaction() as conn:
            conn.execute(
                "INSERT INTO runs(run_id, session_id, agent_type, task, status, started_at,"
                " run_dir, orchestrator) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.run_id,
                    record.session_id,
                    record.agent_type,
                    record.task,
                    record.status,
                    record.started_at,
                    record.run_dir,
                    record.orchestrator or process_identity(os.getpid()),
                ),
            )

    def record_run_end(self, record: RunRecord) -> None:
        """Store the outcome of a run started with :meth:`record_run_start`."""
        with self.guard("record the end of a run"), self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, wall_time_s = ?, cpu_time_s = ?,"
                " peak_rss_bytes = ?, enforcement = ?, exit_code = ?, signal = ?,"
                " stdout_path = ?, stderr_path = ?, error = ? WHERE run_id = ?",
                (
                    record.status,
                    record.finished_at if record.finished_at is not None else time.time(),
                    record.wall_time_s,
                    record.cpu_time_s,
                    record.peak_rss_bytes,
                    record.enforcement,
                    record.exit_code,
                    record.signal,
                    record.stdout_path,
                    record.stderr_path,
                    record.error,
                    record.run_id,
                ),
            )

    def get_run(self, run_id: str) -> RunRecord | None:
        with self.guard("read a run"), self.connection() as conn:
            row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else _run_from_row(row)

    def list_runs(
        self,
        limit: int | None = 50,
        *,
        agent_type: str | None = None,
        status: str | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, optionally filtered by agent type and status."""
        where: list[str] = []
        args: list[Any] = []
        if agent_type is not None:
            where.append("agent_type = ?")
            args.append(agent_type)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC LIMIT ?"
        args.append(-1 if limit is None else limit)
        with self.guard("list runs"), self.connection() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [_run_from_row(r) for r in rows]

    def mark_abandoned_runs(self) -> list[str]:
        """Close runs left ``running`` by an orchestrator that no longer exists.

        An orchestrator killed with SIGKILL (or a machine that rebooted) never
        records the end of its runs; their status becomes ``abandoned``.
        Returns the run ids changed.
        """
        with self.guard("list unfinished runs"), self.connection() as conn:
            rows = conn.execute(
                "SELECT run_id, orchestrator FROM runs WHERE status = 'running'"
            ).fetchall()
        gone = [r["run_id"] for r in rows if not identity_alive(r["orchestrator"])]
        if gone:
            with self.guard("mark abandoned runs"), self.transaction() as conn:
                conn.executemany(
                    "UPDATE runs SET status = 'abandoned', error = ? "
                    "WHERE run_id = ? AND status = 'running'",
                    [(_ABANDONED, run_id) for run_id in gone],
                )
        return gone


def new_run_id() -> str:
    """An id for an agent or PM run: sortable (UTC time first) and unique (random hex)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


_ABANDONED = "the orchestrator exited without recording the end of this run (killed or rebooted)"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def process_identity(pid: int) -> str:
    """``boot/pid/start`` for a live process: unique even when pids are reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        start = stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        start = "?"
    return f"{_boot_id()}/{pid}/{start}"


def identity_alive(identity: str | None) -> bool:
    """Whether the process :func:`process_identity` described still runs.

    Unknown identities (older rows, other systems) count as alive: never close
    a run that might still be going.
    """
    if not identity:
        return True
    try:
        boot, pid_text, start = identity.split("/")
        pid = int(pid_text)
    except ValueError:
        return True
    if start == "?":
        return True
    if boot != _boot_id():
        return False
    return process_identity(pid) == identity


def _run_from_row(row: sqlite3.Row) -> RunRecord:
    data: dict[str, Any] = dict(row)
    return RunRecord(**data)
