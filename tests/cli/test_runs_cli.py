"""``claude-pm runs``: what was recorded, found again."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_pm.cli import main


@pytest.fixture(autouse=True)
def keep_signal_handlers() -> Iterator[None]:
    """``main`` installs the CLI's signal handlers; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_runs_lists_and_shows_recorded_runs(project: Path, write_agent, capsys):
    write_agent("echoer", "print('hello from the agent')")
    write_agent("broken", "raise SystemExit(5)")
    assert main(["--project", str(project), "run", "echoer", "first", "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    assert main(["--project", str(project), "run", "broken", "second"]) == 1
    capsys.readouterr()

    assert main(["--project", str(project), "runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [(r["agent_type"], r["status"], r["exit_code"]) for r in runs] == [
        ("broken", "failed", 5),
        ("echoer", "completed", 0),
    ]
    assert main(["--project", str(project), "runs", "--status", "failed", "--json"]) == 0
    assert [r["agent_type"] for r in json.loads(capsys.readouterr().out)] == ["broken"]

    assert main(["--project", str(project), "runs", "show", run_id]) == 0
    out = capsys.readouterr().out
    assert "status: completed" in out and "hello from the agent" in out and "first" in out


def test_runs_show_unknown_id_and_empty_project(project: Path, write_agent, capsys):
    assert main(["--project", str(project), "runs"]) == 2
    assert "no runs recorded yet" in capsys.readouterr().err
    write_agent("echoer", "print('x')")
    assert main(["--project", str(project), "run", "echoer", "x"]) == 0
    capsys.readouterr()
    assert main(["--project", str(project), "runs", "show", "nope"]) == 1
    assert "recent runs" in capsys.readouterr().err
