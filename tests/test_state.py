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
