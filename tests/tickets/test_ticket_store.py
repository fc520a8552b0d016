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
from claude_pm.tickets.extractor import extract_text, iter_counted
from claude_pm.tickets.model import Priority, TicketStatus, TicketType
from claude_pm.tickets.store import PAGE_ROWS, SAVE_BATCH, TicketStore


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
    assert (ticket.source_agent, ticket.source_run, ticket.output_line) == ("qa", "r1", 2)
    assert (ticket.file, ticket.line) == (None, None)
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


def test_a_finding_that_moved_is_the_same_ticket_with_its_new_line(
    store: TicketStore, clock: Clock
) -> None:
    (first,) = store.save(extract_text("BUG: src/a.py:14: crash on save", "qa"), source_run="r1")
    clock.now = 2_000.0
    (again,) = store.save(extract_text("x\nBUG: src/a.py:15: crash on save", "qa"), source_run="r2")
    assert (again.id, again.duplicate) == (first.id, True)
    ticket = store.get(first.id)
    assert (ticket.file, ticket.line, ticket.output_line) == ("src/a.py", 15, 2)
    assert (ticket.last_seen, ticket.last_run, ticket.times_seen) == (2_000.0, "r2", 2)
    assert "src/a.py:15" in ticket.context
    lines, total = store.lines(first.id)
    assert total == 2
    assert [(x.line, x.times_seen, x.last_run) for x in lines] == [(14, 1, "r1"), (15, 1, "r2")]
    assert store.count() == 1


def test_identical_findings_on_two_lines_are_one_ticket_with_both_lines(
    store: TicketStore,
) -> None:
    text = "BUG: src/a.py:3: unchecked None\nok\nBUG: src/a.py:9: unchecked None\n"
    saved = store.save(extract_text(text, "qa"), source_run="r1")
    assert [(s.id, s.duplicate) for s in saved] == [("PM-1", False), ("PM-1", True)]
    ticket = store.get("PM-1")
    assert (ticket.line, ticket.times_seen) == (3, 2)  # the first report of the latest run
    assert [x.line for x in store.lines("PM-1")[0]] == [3, 9]


def test_a_summary_counts_each_ticket_once_across_batches(store: TicketStore) -> None:
    """Repeats far apart (other batches) are repeats; ids are listed once, capped."""
    old = store.save_stream(extract_text("TODO: on file 1\nTODO: on file 2\n", "qa"))
    assert (old.created_ids, old.run is not None) == (("PM-1", "PM-2"), True)
    lines = ["TODO: on file 1"]
    lines += [f"TODO: new {n}" for n in range(SAVE_BATCH * 2)]
    lines += ["TODO: on file 1", "TODO: on file 2", "TODO: new 0", "TODO: on file 2"]
    summary = store.save_stream(extract_text("\n".join(lines), "qa"), source_run="r2", keep=3)
    assert summary.found == len(lines)
    assert (summary.created_count, summary.created_ids) == (
        SAVE_BATCH * 2,
        ("PM-3", "PM-4", "PM-5"),
    )
    assert (summary.filed_count, summary.filed_ids) == (2, ("PM-1", "PM-2"))
    assert summary.repeated_count == len(lines) - SAVE_BATCH * 2
    assert summary.ids_truncated and summary.details_truncated
    assert len(summary.first_saved) == len(summary.first_found) == 3
    assert [s.id for s in summary.first_saved] == ["PM-1", "PM-3", "PM-4"]
    assert store.get("PM-1").times_seen == 3
    # The run lists every ticket it reported, new or already filed, once.
    assert len(store.find(run="r2")) == SAVE_BATCH * 2 + 2
    assert store.find(run="nope") == []


def test_counted_copies_are_stored_as_that_many_reports(store: TicketStore) -> None:
    text = "BUG: same\n" * 2500 + "BUG: src/a.py:7: there\n" * 3
    summary = store.save_counted(iter_counted([text], "qa"), source_run="r1")
    assert (summary.found, summary.created_count, summary.repeated_count) == (2503, 2, 2501)
    # A run may come in two items where the input's blocks cut it; never more per block.
    assert summary.found_entries <= 4 and not summary.details_truncated
    assert store.get("PM-1").times_seen == 2500
    assert [(x.line, x.times_seen) for x in store.lines("PM-2")[0]] == [(7, 3)]


def test_find_pages_through_any_number_of_tickets(store: TicketStore) -> None:
    text = "".join(f"TODO: item {n}\n" for n in range(PAGE_ROWS * 2 + 5))
    store.save_stream(extract_text(text, "qa"), source_run="r1")
    every = list(store.iter_find(run="r1"))
    assert [t.seq for t in every] == list(range(1, PAGE_ROWS * 2 + 6))
    assert len(store.find(limit=PAGE_ROWS + 1)) == PAGE_ROWS + 1
    assert [t.seq for t in store.iter_find(ticket_type="task", limit=3)] == [1, 2, 3]


def test_a_failing_batch_keeps_what_was_counted_before(tmp_path: Path) -> None:
    from claude_pm.tickets.summary import TicketTally

    database = Database(tmp_path / "state.db")
    store = TicketStore(database)

    def findings():
        yield from extract_text("".join(f"TODO: a{n}\n" for n in range(SAVE_BATCH)), "qa")
        with database.transaction() as conn:
            conn.execute("DROP TABLE ticket_runs")
        yield from extract_text("TODO: after\n", "qa")

    tally = TicketTally(5)
    with pytest.raises(StoreError, match="Could not save tickets"):
        store.save_stream(findings(), tally=tally)
    assert (tally.created_count, tally.found) == (SAVE_BATCH, SAVE_BATCH + 1)
    assert store.count() == SAVE_BATCH
