"""``claude-pm runs``: what was recorded, found again."""

from __future__ import annotations

import json
import os
import signal
import time
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
    assert main(["--project", str(project), "runs"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no runs recorded yet" in captured.err
    assert main(["--project", str(project), "runs", "show", "nope"]) == 1
    assert "no run 'nope'" in capsys.readouterr().err
    write_agent("echoer", "print('x')")
    assert main(["--project", str(project), "run", "echoer", "x"]) == 0
    capsys.readouterr()
    assert main(["--project", str(project), "runs", "show", "nope"]) == 1
    assert "recent runs" in capsys.readouterr().err


def _runs(project: Path, capsys) -> list[dict]:
    assert main(["--project", str(project), "runs", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_runs_prune_removes_old_run_directories_and_never_a_running_one(
    project: Path, write_agent, capsys
):
    from claude_pm.agents.runs import RunRecord, RunStatus, RunStore
    from claude_pm.state import Database

    write_agent("echoer", "print('kept in the log')")
    for task in ("first", "second", "third"):
        assert main(["--project", str(project), "run", "echoer", task]) == 0
    capsys.readouterr()
    runs_dir = project / ".claude-pm" / "runs"
    # A run this very process is running: its directory is never pruned.
    store = RunStore(Database(project / ".claude-pm" / "state.db"))
    live_dir = runs_dir / "20261201T000000Z-0000beef"
    live_dir.mkdir()
    store.record_start(
        RunRecord(
            "20261201T000000Z-0000beef",
            "echoer",
            "t",
            RunStatus.RUNNING,
            0.0,
            run_dir=str(live_dir),
        )
    )
    # A directory no record names, and one whose record names a place that is not its own.
    stray = runs_dir / "20200101T000000Z-0badc0de"
    stray.mkdir()
    os.utime(stray, (0, 0))
    elsewhere = project / "src"
    elsewhere.mkdir()
    store.record_start(
        RunRecord(
            "20200101T000000Z-0000dead",
            "echoer",
            "t",
            RunStatus.COMPLETED,
            0.0,
            run_dir=str(elsewhere),
        )
    )
    # Newest first, as `runs` lists them.
    ended = [
        r["run_id"]
        for r in _runs(project, capsys)
        if r["status"] == "completed" and (r["run_dir"] or "").startswith(str(runs_dir))
    ]
    assert len(ended) == 3

    assert (
        main(
            [
                "--project",
                str(project),
                "runs",
                "prune",
                "--older-than",
                "0",
                "--keep",
                "1",
                "--dry-run",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("would remove 3 run directories") and "kept the 1 newest" in out
    assert all((runs_dir / run_id).is_dir() for run_id in ended)

    assert (
        main(
            [
                "--project",
                str(project),
                "runs",
                "prune",
                "--older-than",
                "0",
                "--keep",
                "1",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)

    removed = {Path(r["path"]).name for r in report["removed"]}
    assert removed == {*ended[1:], stray.name}
    assert report["running_left_alone"] == 1 and report["kept_newest"] == 1
    assert report["freed_bytes"] > 0
    assert (runs_dir / ended[0]).is_dir() and live_dir.is_dir()
    assert elsewhere.is_dir()
    # The records stay; `runs show` says the directory went.
    assert len(_runs(project, capsys)) == 5
    assert main(["--project", str(project), "runs", "show", ended[2]]) == 0
    assert "was pruned" in capsys.readouterr().out


def test_runs_prune_needs_an_age_or_a_count_and_takes_the_setting(
    project: Path, write_agent, capsys, monkeypatch
):
    write_agent("echoer", "print('x')")
    assert main(["--project", str(project), "run", "echoer", "x"]) == 0
    capsys.readouterr()
    assert main(["--project", str(project), "runs", "prune"]) == 2
    assert "--older-than DAYS, --keep N" in capsys.readouterr().err
    monkeypatch.setenv("CLAUDE_PM_RUNS_RETENTION_DAYS", "30")
    assert main(["--project", str(project), "runs", "prune"]) == 0
    assert capsys.readouterr().out.startswith("removed 0 run directories")


def test_the_retention_setting_prunes_on_its_own_at_most_once_a_day(
    project: Path, write_agent, capsys
):
    from claude_pm.agents.retention import prune_when_due
    from claude_pm.agents.runs import RunStore
    from claude_pm.state import Database

    write_agent("echoer", "print('x')")
    assert main(["--project", str(project), "run", "echoer", "x", "--json"]) == 0
    run_dir = Path(json.loads(capsys.readouterr().out)["log_paths"]["stdout"]).parent
    store = RunStore(Database(project / ".claude-pm" / "state.db"), reclaim=False)
    later = time.time() + 10 * 86400

    first = prune_when_due(store, 7, now=later)
    assert first is not None and [Path(r.path) for r in first.removed] == [run_dir]
    assert not run_dir.exists()
    assert prune_when_due(store, 7, now=later + 3600) is None
    assert prune_when_due(store, 7, now=later + 86400 + 1) is not None


def test_a_directory_no_record_names_goes_only_once_older_than_the_age(project: Path):
    from claude_pm.agents.retention import prune_runs
    from claude_pm.agents.runs import RunStore
    from claude_pm.state import Database

    store = RunStore(Database(project / ".claude-pm" / "state.db"), reclaim=False)
    runs_dir = project / ".claude-pm" / "runs"
    stray = runs_dir / "20200101T000000Z-00000abc"
    stray.mkdir(parents=True)
    not_a_run = runs_dir / "notes"
    not_a_run.mkdir()
    os.utime(not_a_run, (0, 0))
    now = time.time()

    kept = prune_runs(store, older_than_days=1, runs_dir=runs_dir, now=now)
    assert kept.removed == () and stray.is_dir()
    assert prune_runs(store, keep=0, runs_dir=runs_dir, now=now + 3 * 86400).removed == ()
    gone = prune_runs(store, older_than_days=1, runs_dir=runs_dir, now=now + 3 * 86400)
    assert [Path(r.path) for r in gone.removed] == [stray] and gone.removed[0].run_id is None
    assert not stray.exists() and not_a_run.is_dir()
