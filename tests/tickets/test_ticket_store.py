"""The store: stable ids, deduplication, filters, updates, concurrent writers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from claude_pm.errors import StoreError, TicketError
from claude_pm.state import Database
from claude_pm.tickets.extractor import extract_text
from claude_pm.tickets.model import Priority, TicketStatus, TicketType
from claude_pm.tickets.store import TicketStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> TicketStore:
    return TicketStore(Database(tmp_path / "state.db"), clock=clock)


def test_save_gives_stable_readable_ids(store: TicketStore) -> None:
    saved = store.save(extract_text("TODO: one\nBUG: two\n", "qa"), source_run="r1")
    assert [s.id for s in saved] == ["PM-1", "PM-2"]
    assert [s.duplicate for s in saved] == [False, False]
    assert [s.times_seen for s in saved] == [1, 1]
    ticket = store.get("PM-2")
    assert (ticket.type, ticket.priority, ticket.title) == (TicketType.BUG, Priority.HIGH, "two")
    assert ticket.status is TicketStatus.OPEN
    assert (ticket.source_agent, ticket.source_run, ticket.line) == ("qa", "r1", 2)
    assert "TODO: one" in ticket.context
    assert store.get("pm-2") == store.get(2) == ticket


def test_same_finding_again_updates_instead_of_filing_twice(
    store: TicketStore, clock: Clock
) -> None:
    (first,) = store.save(extract_text("FIXME: Crash on save.", "qa"), source_run="r1")
    clock.now = 2_000.0
    (again,) = store.save(extract_text("# fixme:  crash   on SAVE", "qa"), source_run="r2")
    assert again.id == first.id
    assert again.duplicate is True
    assert again.times_seen == 2
    stored = store.get(first.id)
    assert (stored.first_seen, stored.last_seen, stored.times_seen) == (1_000.0, 2_000.0, 2)
    assert (stored.source_run, stored.last_run) == ("r1", "r2")
    assert stored.title == "Crash on save."
    assert store.count() == 1


def test_duplicates_within_one_call(store: TicketStore) -> None:
    saved = store.save(extract_text("TODO: a\nTODO: a\nTODO: b\n", "qa"))
    assert [(s.id, s.duplicate, s.times_seen) for s in saved] == [
        ("PM-1", False, 1),
        ("PM-1", True, 2),
        ("PM-2", False, 1),
    ]


def test_different_type_or_file_is_a_different_ticket(store: TicketStore) -> None:
    saved = store.save(
        extract_text("TODO: same", "qa")
        + extract_text("BUG: same", "qa")
        + extract_text("TODO: same", "qa", file="a.py")
    )
    assert [s.duplicate for s in saved] == [False, False, False]
    assert store.count() == 3


def test_status_survives_a_new_report(store: TicketStore) -> None:
    (saved,) = store.save(extract_text("TODO: x", "qa"))
    store.update(saved.id, status="done")
    store.save(extract_text("TODO: x", "qa"))
    assert store.get(saved.id).status is TicketStatus.DONE


def test_list_filters(store: TicketStore) -> None:
    store.save(extract_text("TODO: a\nBUG: b\nSECURITY: c\nTODO(high): d\n", "qa"))
    store.update("PM-2", status="in_progress")
    assert [t.id for t in store.find()] == ["PM-1", "PM-2", "PM-3", "PM-4"]
    assert [t.id for t in store.find(ticket_type="task")] == ["PM-1", "PM-4"]
    assert [t.id for t in store.find(priority="high")] == ["PM-2", "PM-3", "PM-4"]
    assert [t.id for t in store.find(status="open", priority="high")] == ["PM-3", "PM-4"]
    assert [t.id for t in store.find(limit=2)] == ["PM-1", "PM-2"]


def test_update(store: TicketStore) -> None:
    store.save(extract_text("TODO: a", "qa"))
    updated = store.update("PM-1", status="wont_fix", priority="high")
    assert (updated.status, updated.priority) == (TicketStatus.WONT_FIX, Priority.HIGH)
    assert store.update("PM-1").status is TicketStatus.WONT_FIX


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.get("PM-99"), "No ticket PM-99"),
        (lambda s: s.get("nonsense"), "not a ticket id"),
        (lambda s: s.update("PM-99", status="done"), "No ticket PM-99"),
        (lambda s: s.update("PM-1", status="closed"), "not a ticket status"),
        (lambda s: s.update("PM-1", priority="huge"), "not a ticket priority"),
        (lambda s: s.find(ticket_type="chore"), "not a ticket type"),
    ],
    ids=["unknown id", "malformed id", "update unknown", "bad status", "bad priority", "bad type"],
)
def test_bad_requests(store: TicketStore, call, message: str) -> None:
    store.save(extract_text("TODO: a", "qa"))
    with pytest.raises(TicketError, match=message):
        call(store)


def test_ids_are_never_reused(store: TicketStore) -> None:
    store.save(extract_text("TODO: a\nTODO: b", "qa"))
    with store.database.transaction() as conn:
        conn.execute("DELETE FROM tickets WHERE seq = 2")
    (saved,) = store.save(extract_text("TODO: c", "qa"))
    assert saved.id == "PM-3"


def test_unwritable_database_is_a_store_error(tmp_path: Path) -> None:
    database = Database(tmp_path / "state.db")
    with database.transaction() as conn:
        conn.execute("DROP TABLE tickets")
    with pytest.raises(StoreError, match="Could not save tickets"):
        TicketStore(database).save(extract_text("TODO: a", "qa"))


def test_concurrent_processes_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "state.db"
    Database(db_path)
    start_file = tmp_path / "go"
    workers, shared, own = 4, 150, 100
    script = Path(__file__).with_name("store_writer.py")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(db_path),
                str(w),
                str(shared),
                str(own),
                str(start_file),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    start_file.touch()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out))

    store = TicketStore(Database(db_path))
    tickets = store.find()
    assert len(tickets) == shared + workers * own
    by_title = {t.title: t for t in tickets}
    assert all(by_title[f"shared finding {i}"].times_seen == workers for i in range(shared))
    assert all(
        by_title[f"worker {w} finding {i}"].times_seen == 1
        for w in range(workers)
        for i in range(own)
    )

    # Every worker got the same id for a shared finding, and exactly one of them created it.
    ids: dict[str, set[str]] = {}
    created = Counter()
    for rows in outputs:
        assert len(rows) == shared + own
        for ticket_id, title, duplicate in rows:
            ids.setdefault(title, set()).add(ticket_id)
            created[title] += not duplicate
    assert all(len(v) == 1 and by_title[k].id in v for k, v in ids.items())
    assert set(created.values()) == {1}
