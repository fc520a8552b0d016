"""Migration 5: tickets stored with their location in the title are re-fingerprinted and merged."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

import pytest

from claude_pm.state import Database, schema_version
from claude_pm.state.migrations import all_migrations
from claude_pm.tickets.extractor import extract_text
from claude_pm.tickets.model import TicketStatus, fingerprint
from claude_pm.tickets.schema import IDENTITY_MIGRATION
from claude_pm.tickets.store import TicketStore


def old_fingerprint(kind: str, title: str, file: str | None) -> str:
    """The rule before migration 5: type, normalised title (location and all), file."""
    text = re.sub(r"\s+", " ", title.casefold()).strip()
    previous = None
    while previous != text:
        previous = text
        text = text.rstrip(".,;:!?…").strip().strip("\"'`\u201c\u201d\u2018\u2019").strip()
    key = "\x1f".join((kind, text, file or ""))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


#: (seq, type, title, file, output line, status, times seen, first, last, source run, last run)
OLD_TICKETS = [
    (1, "bug", "src/a.py:14: crash on save", None, 5, "open", 2, 10.0, 20.0, "r1", "r2"),
    (2, "bug", "src/a.py:15: crash on save", None, 7, "done", 1, 30.0, 30.0, "r3", "r3"),
    (3, "bug", "src/a.py:20: crash on save.", None, 3, "in_progress", 1, 40.0, 50.0, "r4", "r4"),
    (4, "task", "write the docs", None, 8, "open", 3, 10.0, 60.0, "r1", "r5"),
    # Stored by `tickets extract --record-file`: the file was known, the title had no location.
    (5, "bug", "crash on save", "src/a.py", 14, "open", 1, 5.0, 5.0, "r0", "r0"),
    (7, "security", "src/b.py:3: secret in code", None, 2, "open", 1, 10.0, 10.0, "r1", "r1"),
    (8, "task", "lib/c.py:1: document it", None, 1, "in_progress", 1, 10.0, 10.0, "r1", "r1"),
    (9, "task", "lib/c.py:2: document it", None, 2, "wont_fix", 4, 10.0, 70.0, "r2", "r6"),
]


@pytest.fixture
def old_database(tmp_path: Path) -> Path:
    """A state.db as the migrations before ours left it, with old fingerprints."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in all_migrations()[: IDENTITY_MIGRATION - 1]:
        migration.apply(conn)
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(IDENTITY_MIGRATION - 1),)
    )
    for seq, kind, title, file, line, status, times, first, last, source, latest in OLD_TICKETS:
        conn.execute(
            "INSERT INTO tickets(seq, fingerprint, status, type, priority, title, context, file, "
            "line, source_agent, source_run, last_run, first_seen, last_seen, times_seen) "
            "VALUES (?, ?, ?, ?, 'high', ?, ?, ?, ?, 'qa', ?, ?, ?, ?, ?)",
            (
                seq,
                old_fingerprint(kind, title, file),
                status,
                kind,
                title,
                f"context of {seq}",
                file,
                line,
                source,
                latest,
                first,
                last,
                times,
            ),
        )
    conn.execute("DELETE FROM tickets WHERE seq = 6")  # a gap in the ids, like a deleted one
    conn.execute("UPDATE sqlite_sequence SET seq = 12 WHERE name = 'tickets'")
    conn.close()
    return path


def test_old_tickets_are_re_fingerprinted_and_merged_as_documented(old_database: Path) -> None:
    database = Database(old_database)
    assert database.schema_version == schema_version() >= IDENTITY_MIGRATION
    store = TicketStore(database)
    assert [t.id for t in store.find()] == ["PM-1", "PM-4", "PM-7", "PM-8"]

    crash = store.get("PM-1")
    # The lowest id stays; counts add up; first seen the earliest, last seen the latest.
    assert (crash.title, crash.file, crash.times_seen) == ("crash on save", "src/a.py", 5)
    assert (crash.first_seen, crash.last_seen) == (5.0, 50.0)
    # Kept was open: the first status changed from open, in id order (PM-2's done), wins.
    assert crash.status is TicketStatus.DONE
    # Source run of the earliest report, line, output line, context and last run of the latest.
    assert (crash.source_run, crash.last_run) == ("r0", "r4")
    assert (crash.line, crash.output_line, crash.context) == (20, 3, "context of 3")
    assert crash.fingerprint == fingerprint("bug", "crash on save", "src/a.py")
    assert [x.line for x in store.lines("PM-1")[0]] == [14, 15, 20]

    # A kept ticket whose status was changed keeps it.
    docs = store.get("PM-8")
    assert (docs.status, docs.times_seen, docs.file, docs.line) == (
        TicketStatus.IN_PROGRESS,
        5,
        "lib/c.py",
        2,
    )

    # Without a location nothing changes but the line, which was the output's.
    task = store.get("PM-4")
    assert task.fingerprint == old_fingerprint("task", "write the docs", None)
    assert (task.line, task.output_line, task.file) == (None, 8, None)
    secret = store.get("PM-7")
    assert (secret.title, secret.file, secret.line) == ("secret in code", "src/b.py", 3)

    # Merged ids still resolve, to the ticket they joined.
    assert store.get("PM-2").id == store.get("PM-3").id == store.get("PM-5").id == "PM-1"
    assert store.get("PM-9").id == "PM-8"
    assert store.update("PM-9", priority="low").id == "PM-8"

    # Runs before the migration still list their tickets.
    assert [t.id for t in store.find(run="r3")] == ["PM-1"]
    assert [t.id for t in store.find(run="r6")] == ["PM-8"]


def test_nothing_on_file_is_filed_again_after_the_migration(old_database: Path) -> None:
    store = TicketStore(Database(old_database))
    text = (
        "BUG: src/a.py:31: crash on save\n"
        "SECURITY: src/b.py:4: secret in code\n"
        "TODO: write the docs\n"
        "TODO: lib/c.py:9: document it\n"
        "BUG: a new one\n"
    )
    summary = store.save_stream(extract_text(text, "qa"), source_run="after")
    assert (summary.created_ids, summary.filed_ids) == (
        ("PM-13",),
        ("PM-1", "PM-7", "PM-4", "PM-8"),
    )
    assert store.get("PM-1").line == 31
    assert [x.line for x in store.lines("PM-1")[0]] == [14, 15, 20, 31]


def test_the_migration_applies_once_and_a_new_database_has_it(
    old_database: Path, tmp_path: Path
) -> None:
    Database(old_database)
    with sqlite3.connect(old_database) as conn:
        merges = conn.execute("SELECT merged_seq, into_seq FROM ticket_merges ORDER BY 1")
        assert merges.fetchall() == [(2, 1), (3, 1), (5, 1), (9, 8)]
    conn.close()
    assert Database(old_database).schema_version == schema_version()
    fresh = TicketStore(Database(tmp_path / "new" / "state.db"))
    assert fresh.save(extract_text("BUG: x.py:1: y", "qa"))[0].id == "PM-1"
