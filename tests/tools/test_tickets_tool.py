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
    assert result["tickets_created"] == 0
    assert result["auto_create_enabled"] is False
    assert result["created_tickets"] == []
    assert result["duplicates"] == []
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
    assert first["tickets_created"] == 2
    assert [t["id"] for t in first["created_tickets"]] == ["PM-1", "PM-2"]
    assert [t["duplicate"] for t in first["created_tickets"]] == [False, False]

    again = call(
        handler,
        output_text="SECURITY: api key printed in debug log.\nBUG: new one\n",
        source_agent="qa",
        auto_create=True,
    )
    assert again["tickets_found"] == 2
    assert again["tickets_created"] == 1
    assert again["tickets_updated"] == 1
    assert again["duplicates"] == ["PM-1"]
    assert [(t["id"], t["duplicate"], t["times_seen"]) for t in again["created_tickets"]] == [
        ("PM-1", True, 2),
        ("PM-3", False, 1),
    ]
    store = TicketStore(Database(project / ".claude-pm" / "state.db"))
    assert [t.id for t in store.find()] == ["PM-1", "PM-2", "PM-3"]


def test_no_items_found(handler: ClaudeToolHandler) -> None:
    result = call(handler, output_text="all good\n", source_agent="qa", auto_create=True)
    assert (result["tickets_found"], result["tickets_created"]) == (0, 0)
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
