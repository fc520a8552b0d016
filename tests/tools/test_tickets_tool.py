"""``create_tickets_from_output`` through the handler, with a real state database."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_pm import ClaudeToolHandler
from claude_pm.config import load_settings
from claude_pm.state import Database
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
    assert (second["type"], second["priority"], second["line"]) == ("task", "medium", 3)
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
