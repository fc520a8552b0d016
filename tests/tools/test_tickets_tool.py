"""``create_tickets_from_output`` through the handler, with a real state database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_pm import ClaudeToolHandler
from claude_pm.config import load_settings
from claude_pm.state import Database
from claude_pm.tickets.extractor import MAX_CONTEXT_CHARS, MAX_TITLE_CHARS
from claude_pm.tickets.location import MAX_PATH_CHARS
from claude_pm.tickets.store import TicketStore

OUTPUT = """\
Reviewed the module.
SECURITY: API key printed in debug log
- TODO(P2): add tests for the parser
DEBUG: not a ticket
"""


@pytest.fixture
def handler(project: Path) -> ClaudeToolHandler:
    return ClaudeToolHandler(settings=load_settings(project_root=project, environ={}))


def call(handler: ClaudeToolHandler, **params: object) -> dict:
    return handler.handle_tool_call("create_tickets_from_output", params)


def test_without_auto_create_nothing_is_stored(handler: ClaudeToolHandler, project: Path) -> None:
    result = call(handler, output_text=OUTPUT, source_agent="security")
    assert result["success"] is True
    assert result["tickets_found"] == 2
    assert result["tickets_created"] == []
    assert result["tickets_created_count"] == 0
    assert result["auto_create_enabled"] is False
    assert result["created_tickets"] == []
    assert result["duplicate_tickets"] == []
    first, second = result["ticket_details"]
    assert (first["type"], first["priority"], first["title"]) == (
        "security",
        "high",
        "API key printed in debug log",
    )
    assert (second["type"], second["priority"], second["output_line"]) == ("task", "medium", 3)
    assert (second["file"], second["line"]) == (None, None)
    assert set(first) >= {"type", "title", "source_agent", "timestamp", "priority", "context"}
    db = project / ".claude-pm" / "state.db"
    assert not db.exists() or TicketStore(Database(db)).count() == 0


def test_auto_create_stores_with_real_ids_and_reports_duplicates(
    handler: ClaudeToolHandler, project: Path
) -> None:
    first = call(handler, output_text=OUTPUT, source_agent="security", auto_create=True)
    assert first["auto_create_enabled"] is True
    assert first["tickets_created"] == ["PM-1", "PM-2"]
    assert first["tickets_created_count"] == 2
    assert [t["id"] for t in first["created_tickets"]] == ["PM-1", "PM-2"]
    assert [t["duplicate"] for t in first["created_tickets"]] == [False, False]

    again = call(
        handler,
        output_text="SECURITY: api key printed in debug log.\nBUG: new one\n",
        source_agent="qa",
        auto_create=True,
    )
    assert again["tickets_found"] == 2
    assert again["tickets_created"] == ["PM-3"]
    assert again["duplicate_tickets"] == ["PM-1"]
    assert (again["tickets_created_count"], again["duplicate_tickets_count"]) == (1, 1)
    assert [(t["id"], t["duplicate"], t["times_seen"]) for t in again["created_tickets"]] == [
        ("PM-1", True, 2),
        ("PM-3", False, 1),
    ]
    store = TicketStore(Database(project / ".claude-pm" / "state.db"))
    assert [t.id for t in store.find()] == ["PM-1", "PM-2", "PM-3"]


def test_no_items_found(handler: ClaudeToolHandler) -> None:
    result = call(handler, output_text="all good\n", source_agent="qa", auto_create=True)
    assert (result["tickets_found"], result["tickets_created"]) == (0, [])
    assert result["ticket_details"] == [] and result["created_tickets"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"output_text": "TODO: x", "source_agent": ""}, "source_agent"),
        ({"source_agent": "qa"}, "output_text"),
        ({"output_text": "TODO: x", "source_agent": "qa", "auto_create": "yes"}, "auto_create"),
    ],
    ids=["empty agent", "missing text", "auto_create not boolean"],
)
def test_bad_input_is_an_error_result(handler: ClaudeToolHandler, params: dict, field: str) -> None:
    result = handler.handle_tool_call("create_tickets_from_output", params)
    assert result["success"] is False
    assert result["error_details"]["field"] == field


def test_ticket_lists_are_capped_and_counted(project: Path) -> None:
    """A result lists at most max_tickets_listed ids; the counts cover every ticket."""
    settings = load_settings(project_root=project, environ={"CLAUDE_PM_MAX_TICKETS_LISTED": "3"})
    handler = ClaudeToolHandler(settings=settings)
    text = "".join(f"TODO: item {n}\n" for n in range(10))
    first = call(handler, output_text=text, source_agent="qa", auto_create=True)
    assert first["tickets_created"] == ["PM-1", "PM-2", "PM-3"]
    assert first["tickets_created_count"] == 10
    assert first["tickets_truncated"] is True
    assert len(first["ticket_details"]) == 3 and first["details_truncated"] is True
    again = call(handler, output_text=text + text, source_agent="qa", auto_create=True)
    assert again["tickets_created"] == [] and again["duplicate_tickets"] == ["PM-1", "PM-2", "PM-3"]
    assert again["duplicate_tickets_count"] == 10
    assert again["tickets_found"] == 20
    assert again["repeated_findings_count"] == 20
    run = again["tickets_read_more"].split("--run ")[1]
    store = TicketStore(Database(project / ".claude-pm" / "state.db"))
    assert [t.id for t in store.find(run=run)] == [f"PM-{n}" for n in range(1, 11)]


def test_a_finding_that_moved_is_already_filed(handler: ClaudeToolHandler, project: Path) -> None:
    first = call(
        handler,
        output_text=f"BUG: {project}/tests/test_cart.py:14: test_total failed: AssertionError\n",
        source_agent="qa",
        auto_create=True,
    )
    (detail,) = first["ticket_details"]
    assert (detail["file"], detail["line"], detail["title"]) == (
        "tests/test_cart.py",
        14,
        "test_total failed: AssertionError",
    )
    again = call(
        handler,
        output_text="BUG: tests/test_cart.py:15: test_total failed: AssertionError\n",
        source_agent="qa",
        auto_create=True,
    )
    assert (again["tickets_created"], again["duplicate_tickets"]) == ([], ["PM-1"])
    store = TicketStore(Database(project / ".claude-pm" / "state.db"))
    assert store.get("PM-1").line == 15


def test_the_largest_input_gives_a_bounded_result(project: Path) -> None:
    """8 MiB of findings built to be as large as possible: the result stays small."""
    settings = load_settings(project_root=project, environ={})
    handler = ClaudeToolHandler(settings=settings)
    limit = settings.max_ticket_input_bytes
    wide = "é" * 600  # context lines are cut at 500 characters, each 2 bytes in UTF-8
    block = "".join(
        f"{wide}\nBUG: {'d/' * 300}f{n}.py:{n + 1}: {'m' * 400} {n}\n{wide}\n" for n in range(200)
    )
    text = block * (limit // len(block.encode()))
    assert len(text.encode()) <= limit
    result = call(handler, output_text=text, source_agent="qa", auto_create=True)
    assert result["success"] is True
    assert result["tickets_found"] > 1000
    assert result["tickets_created_count"] == 200
    size = len(json.dumps(result, ensure_ascii=False))
    listed = settings.max_tickets_listed
    # Each listed ticket, in either list: its context, title and path at their caps, the rest.
    per_ticket = MAX_CONTEXT_CHARS + MAX_TITLE_CHARS + MAX_PATH_CHARS + 600
    assert size < 2 * listed * per_ticket + 10_000, size
    assert len(result["ticket_details"]) == len(result["created_tickets"]) == listed


def test_a_million_copies_of_a_finding_are_one_ticket(project: Path) -> None:
    handler = ClaudeToolHandler(settings=load_settings(project_root=project, environ={}))
    text = "BUG: the same again\n" * 400_000
    result = call(handler, output_text=text, source_agent="qa", auto_create=True)
    assert (result["tickets_found"], result["tickets_created"]) == (400_000, ["PM-1"])
    assert result["repeated_findings_count"] == 399_999
    assert result["details_truncated"] is False
    assert len(json.dumps(result)) < 10_000


def test_input_over_the_limit_is_refused_before_any_work(project: Path) -> None:
    settings = load_settings(
        project_root=project, environ={"CLAUDE_PM_MAX_TICKET_INPUT_BYTES": "2048"}
    )
    handler = ClaudeToolHandler(settings=settings)
    result = call(handler, output_text="TODO: x\n" * 500, source_agent="qa", auto_create=True)
    assert result["success"] is False
    assert result["error_details"]["field"] == "output_text"
    assert "at most 2048 bytes" in result["error"]
    assert not (project / ".claude-pm" / "state.db").exists()
