"""The SQLite state file: created, migrated, refuses what it cannot read, loses nothing."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from claude_pm.errors import StoreError
from claude_pm.state import Database, RunRecord


def test_runs_round_trip_in_wal_mode(tmp_path: Path):
    db = Database(tmp_path / "s" / "state.db")
    start = time.time()
    db.record_run_start(RunRecord("r1", "qa", "task", "running", start))
    db.record_run_end(
        RunRecord("r1", "qa", "task", "completed", start, exit_code=0, peak_rss_bytes=10)
    )
    run = db.get_run("r1")
    assert run is not None
    assert (run.status, run.exit_code, run.peak_rss_bytes) == ("completed", 0, 10)
    assert run.finished_at is not None
    with sqlite3.connect(db.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert Database(db.path).list_runs()[0].run_id == "r1"


def test_not_a_database_is_a_clear_error_and_the_file_is_untouched(tmp_path: Path):
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="Move the file aside"):
        Database(path)
    assert path.read_bytes() == before


def test_newer_schema_is_refused(tmp_path: Path):
    db = Database(tmp_path / "state.db")
    with sqlite3.connect(db.path) as conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer claude-pm"):
        Database(db.path)


def test_runs_of_a_dead_orchestrator_become_abandoned_live_ones_stay(tmp_path: Path):
    import subprocess
    import sys

    from claude_pm.state import process_identity

    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    dead_identity = process_identity(child.pid)
    child.communicate(b"")
    db = Database(tmp_path / "state.db")
    now = time.time()
    db.record_run_start(RunRecord("dead", "qa", "t", "running", now, orchestrator=dead_identity))
    db.record_run_start(RunRecord("mine", "qa", "t", "running", now))
    db.record_run_start(RunRecord("legacy", "qa", "t", "running", now, orchestrator="odd"))
    assert db.mark_abandoned_runs() == ["dead"]
    dead, mine, legacy = (db.get_run(r) for r in ("dead", "mine", "legacy"))
    assert dead is not None and dead.status == "abandoned" and "killed" in (dead.error or "")
    assert mine is not None and mine.status == "running"
    assert legacy is not None and legacy.status == "running"
    assert [r.run_id for r in db.list_runs(status="abandoned")] == ["dead"]


def test_a_state_db_from_before_added_columns_is_migrated_keeping_its_data(tmp_path: Path):
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
    db = Database(path)
    old = db.get_run("old")
    assert old is not None and (old.task, old.status) == ("kept", "completed")
    db.record_run_start(RunRecord("new", "qa", "t", "running", time.time()))
    new = db.get_run("new")
    assert new is not None and new.orchestrator


def test_sqlite_failures_become_store_errors_that_name_the_action(tmp_path: Path):
    db = Database(tmp_path / "state.db")
    with sqlite3.connect(db.path) as conn:
        conn.execute("DROP TABLE runs")
    conn.close()
    with pytest.raises(StoreError, match="record the start of a run"):
        db.record_run_start(RunRecord("r", "qa", "t", "running", time.time()))
