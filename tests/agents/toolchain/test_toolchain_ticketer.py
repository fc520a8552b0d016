"""ticketer: triage a ticket snapshot (counts, stale, duplicates) and file nothing new."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from toolchain_support import run

from claude_pm.agents.toolchain import EXIT_BAD_INPUT

NOW = datetime.now(UTC)


def ticket(number: int, title: str, *, days_ago: float = 1, **fields: Any) -> dict[str, Any]:
    seen = (NOW - timedelta(days=days_ago)).isoformat()
    return {
        "id": f"PM-{number}",
        "type": "bug",
        "priority": "high",
        "status": "open",
        "title": title,
        "file": "src/app.py",
        "line": number,
        "first_seen": seen,
        "last_seen": seen,
        "times_seen": 1,
        **fields,
    }


SNAPSHOT = [
    ticket(1, "src/app.py:10: test tests/test_app.py::test_total failed (AssertionError)"),
    ticket(2, "src/app.py:12: test tests/test_app.py::test_total failed (AssertionErr)"),
    ticket(3, "TODO: handle the empty cart", type="task", priority="low", days_ago=90),
    ticket(4, "SECURITY: token in logs", type="security", file="src/log.py", days_ago=40),
    ticket(5, "done already", status="done", days_ago=400),
    ticket(6, "src/app.py:30: unrelated finding about parsing", type="refactor", priority="low"),
]


def test_open_tickets_are_counted_aged_and_deduplicated(tmp_path: Path):
    outcome = run("ticketer", tmp_path, tmp_path / "run", context={"ticket_snapshot": SNAPSHOT})
    assert outcome.code == 0, outcome.stderr
    report = outcome.report
    assert "| bug | 2 | 0 | 0 | 2 |" in report
    assert "| task | 0 | 0 | 1 | 1 |" in report
    assert "| all | 3 | 0 | 2 | 5 |" in report
    stale = report.split("## Stale tickets", 1)[1].split("##", 1)[0]
    assert "PM-3" in stale and "PM-4" in stale
    assert "PM-5" not in stale  # done: not open
    assert "PM-1 " not in stale
    duplicates = report.split("## Likely duplicates", 1)[1].split("##", 1)[0]
    assert "- PM-1, PM-2 in src/app.py:" in duplicates
    assert "PM-6" not in duplicates
    # Titles that start with a marker are echoed as text: the report files nothing.
    assert outcome.findings == []
    assert "new tickets filed: none" in report


def test_options_set_staleness_and_similarity(tmp_path: Path):
    outcome = run(
        "ticketer",
        tmp_path,
        tmp_path / "run",
        context={"ticket_snapshot": SNAPSHOT},
        options={"stale_days": 60, "duplicate_similarity": 0.99},
    )
    stale = outcome.report.split("## Stale tickets", 1)[1].split("##", 1)[0]
    assert "PM-3" in stale and "PM-4" not in stale
    assert "None at similarity 0.99 or more." in outcome.report


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({}, "no ticket snapshot was handed over"),
        ({"ticket_snapshot": {"id": 1}}, "must be a list of ticket dicts"),
        ({"ticket_snapshot": [{"title": "no id"}]}, "ticket_snapshot[0] must be a dict"),
    ],
)
def test_a_missing_or_malformed_snapshot_is_bad_input(context, message, tmp_path: Path):
    outcome = run("ticketer", tmp_path, tmp_path / "run", context=context)
    assert outcome.code == EXIT_BAD_INPUT
    assert message in outcome.stderr
