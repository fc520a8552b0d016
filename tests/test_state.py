"""The SQLite state file: created, migrated in order, refuses what it cannot read, loses nothing."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claude_pm.agents.runs import RunRecord, RunStatus, RunStore
from claude_pm.errors import StoreError
from claude_pm.process.identity import process_identity
from claude_pm.state import Database, schema_version
from claude_pm.state.migrations import all_migrations
from claude_pm.tickets.extractor import extract_text
from claude_pm.tickets.store import TicketStore

#: The layout of state.db as the first release wrote it (schema_version 1).
RELEASE_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE runs (run_id TEXT PRIMARY KEY, session_id TEXT, agent_type TEXT NOT NULL,
    task TEXT NOT NULL, status TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL,
    wall_time_s REAL, cpu_time_s REAL, peak_rss_bytes INTEGER, enforcement TEXT,
    exit_code INTEGER, signal INTEGER, stdout_path TEXT, stderr_path TEXT, run_dir TEXT,
    error TEXT, orchestrator TEXT);
CREATE INDEX runs_by_agent ON runs(agent_type, started_at);
CREATE TABLE tickets (seq INTEGER PRIMARY KEY AUTOINCREMENT, fingerprint TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'in_progress', 'done', 'wont_fix')),
    type TEXT NOT NULL, priority TEXT NOT NULL, title TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT '', file TEXT, line INTEGER, source_agent TEXT,
    source_run TEXT, last_run TEXT, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
    times_seen INTEGER NOT NULL DEFAULT 1, external_url TEXT);
CREATE INDEX tickets_by_status ON tickets(status, priority);
INSERT INTO runs(run_id, agent_type, task, status, started_at)
    VALUES ('old', 'qa', 'kept', 'completed', 1.0);
INSERT INTO tickets(fingerprint, type, priority, title, first_seen, last_seen)
    VALUES ('f1', 'bug', 'high', 'first', 1.0, 1.0), ('f2', 'task', 'low', 'second', 1.0, 1.0);
DELETE FROM tickets WHERE seq = 2;
"""


def _stored_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    return int(row[0])


def test_runs_round_trip_in_wal_mode(tmp_path: Path):
    runs = RunStore(Database(tmp_path / "s" / "state.db"))
    start = time.time()
    runs.record_start(RunRecord("r1", "qa", "task", RunStatus.RUNNING, start, backend="builtin"))
    runs.record_end(
        RunRecord(
            "r1",
            "qa",
            "task",
            RunStatus.COMPLETED,
            start,
            exit_code=0,
            peak_rss_bytes=10,
            backend="anthropic",
            model="claude-x",
            cost_usd=0.25,
            usage={"input_tokens": 3, "output_tokens": 4},
            backend_session_id="sess",
            stop_reason="end_turn",
        )
    )
    run = runs.get("r1")
    assert run is not None
    assert (run.status, run.exit_code, run.peak_rss_bytes) == (RunStatus.COMPLETED, 0, 10)
    assert (run.backend, run.model, run.cost_usd, run.stop_reason) == (
        "anthropic",
        "claude-x",
        0.25,
        "end_turn",
    )
    assert dict(run.usage) == {"input_tokens": 3, "output_tokens": 4}
    assert run.finished_at is not None
    with sqlite3.connect(runs.database.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert RunStore(Database(runs.database.path)).find()[0].run_id == "r1"


def test_migrations_are_numbered_from_one_without_gaps():
    migrations = all_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert schema_version() == len(migrations) >= 3
    assert {m.owner for m in migrations} >= {"state", "tickets", "runs"}


def test_a_release_1_database_is_migrated_keeping_every_row_and_the_id_counter(tmp_path: Path):
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(RELEASE_1)
    conn.close()
    db = Database(path)
    assert db.schema_version == schema_version() == _stored_version(path)
    old = RunStore(db).get("old")
    assert old is not None and (old.task, old.status) == ("kept", RunStatus.COMPLETED)
    store = TicketStore(db)
    assert [t.title for t in store.find()] == ["first"]
    # The deleted PM-2 is never reused: the AUTOINCREMENT counter survived the rebuild.
    saved = store.save(extract_text("TODO: third\n", "qa"))
    assert saved[0].id == "PM-3"
    # Statuses are checked in code now, not by the old CHECK constraint.
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE tickets SET status = 'triaged' WHERE seq = 1")
    conn.close()
    with sqlite3.connect(path) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'tickets'").fetchone()[0]
    conn.close()
    assert "CHECK" not in sql
    # Opening again applies nothing more.
    assert Database(path).schema_version == schema_version()


def test_a_pre_release_file_without_columns_is_repaired(tmp_path: Path):
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('schema_version', '1');
            CREATE TABLE runs (run_id TEXT PRIMARY KEY, session_id TEXT, agent_type TEXT NOT NULL,
                task TEXT NOT NULL, status TEXT NOT NULL, started_at REAL NOT NULL,
                finished_at REAL, wall_time_s REAL, cpu_time_s REAL, peak_rss_bytes INTEGER,
                enforcement TEXT, exit_code INTEGER, signal INTEGER, stdout_path TEXT,
                stderr_path TEXT, run_dir TEXT, error TEXT);
            INSERT INTO runs(run_id, agent_type, task, status, started_at)
                VALUES ('old', 'qa', 'kept', 'completed', 1.0);
            """
        )
    conn.close()
    runs = RunStore(Database(path))
    old = runs.get("old")
    assert old is not None and (old.task, old.status) == ("kept", RunStatus.COMPLETED)
    runs.record_start(RunRecord("new", "qa", "t", RunStatus.RUNNING, time.time()))
    new = runs.get("new")
    assert new is not None and new.orchestrator


def test_not_a_database_is_a_clear_error_and_the_file_is_untouched(tmp_path: Path):
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="move it aside") as info:
        Database(path)
    assert info.value.facts["reason"] == "corrupt"
    assert "not a SQLite database" in info.value.message and "locked" not in info.value.message
    assert path.read_bytes() == before
    assert not (tmp_path / "state.db-wal").exists() and not (tmp_path / "state.db-shm").exists()


def _counts(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as conn:
        counts = (
            conn.execute("SELECT count(*) FROM runs").fetchone()[0],
            conn.execute("SELECT count(*) FROM tickets").fetchone()[0],
        )
    conn.close()
    return counts


def test_a_write_lock_held_elsewhere_is_reported_as_locked_not_corrupt(tmp_path: Path):
    db = Database(tmp_path / "state.db")
    RunStore(db).record_start(RunRecord("kept", "qa", "t", RunStatus.RUNNING, time.time()))
    holder = sqlite3.connect(db.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        # Opening an up-to-date file only reads: it does not wait for the writer.
        busy = RunStore(Database(db.path, busy_timeout_s=0.2), reclaim=False)
        assert [r.run_id for r in busy.find()] == ["kept"]
        with pytest.raises(StoreError) as info:
            busy.record_start(RunRecord("new", "qa", "t", RunStatus.RUNNING, time.time()))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert info.value.facts["reason"] == "locked"
    assert "locked by another connection" in info.value.message
    assert "wait for it to finish" in info.value.message
    assert "damaged" not in info.value.message and "aside" not in info.value.message
    assert _counts(db.path) == (1, 0)


def test_an_exclusive_lock_refuses_even_opening_and_says_locked(tmp_path: Path):
    db = Database(tmp_path / "state.db")
    TicketStore(db).save(extract_text("TODO: keep me\n", "qa"))
    holder = sqlite3.connect(db.path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("COMMIT")  # the exclusive lock stays until the connection closes
    try:
        with pytest.raises(StoreError, match="locked by another connection") as info:
            Database(db.path, busy_timeout_s=0.2)
    finally:
        holder.close()
    assert info.value.facts["reason"] == "locked"
    assert _counts(db.path) == (0, 1)
    assert [t.title for t in TicketStore(Database(db.path)).find()] == ["keep me"]


def test_newer_schema_is_refused_and_nothing_changes(tmp_path: Path):
    db = Database(tmp_path / "state.db")
    newer = schema_version() + 1
    with sqlite3.connect(db.path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(newer),))
    conn.close()
    with pytest.raises(StoreError, match="newer claude-pm") as info:
        Database(db.path)
    assert info.value.facts["schema_version"] == newer
    assert _stored_version(db.path) == newer


def test_runs_of_a_dead_orchestrator_become_abandoned_live_ones_stay(tmp_path: Path):
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    dead_identity = process_identity(child.pid)
    child.communicate(b"")
    runs = RunStore(Database(tmp_path / "state.db"))
    now = time.time()
    running = RunStatus.RUNNING
    runs.record_start(RunRecord("dead", "qa", "t", running, now, orchestrator=dead_identity))
    runs.record_start(RunRecord("mine", "qa", "t", running, now))
    runs.record_start(RunRecord("legacy", "qa", "t", running, now, orchestrator="odd"))
    assert runs.mark_abandoned() == ["dead"]
    dead, mine, legacy = (runs.get(r) for r in ("dead", "mine", "legacy"))
    assert dead is not None and dead.status is RunStatus.ABANDONED
    assert "killed" in (dead.error or "")
    assert mine is not None and mine.status is RunStatus.RUNNING
    assert legacy is not None and legacy.status is RunStatus.RUNNING
    assert [r.run_id for r in runs.find(status=RunStatus.ABANDONED)] == ["dead"]


def test_sqlite_failures_become_store_errors_that_name_the_action(tmp_path: Path):
    db = Database(tmp_path / "state.db")
    with sqlite3.connect(db.path) as conn:
        conn.execute("DROP TABLE runs")
    conn.close()
    with pytest.raises(StoreError, match="record the start of a run"):
        RunStore(db).record_start(RunRecord("r", "qa", "t", RunStatus.RUNNING, time.time()))
