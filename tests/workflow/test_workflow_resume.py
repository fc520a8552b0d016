"""Resume after SIGKILL of a real orchestrator half-way through: what completed is not run
again, what was running runs again as interrupted, its leftover processes die, no ticket is
stored twice; `claude-pm doctor` reclaims the leftovers too (processes, worktree)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from wf_support import by_id, commit_all, git, workflow

from claude_pm.agents.runs import RunStore
from claude_pm.state import Database
from claude_pm.tickets.store import TicketStore
from claude_pm.workflow.journal import WorkflowJournal
from conftest import run_groups
from waiting import alive, wait_for

pytestmark = pytest.mark.slow

#: Counts its runs in MARKERS/NAME.runs and files a TODO.
ONCE = """
import pathlib, sys
name, markers = sys.stdin.read().split()
with open(pathlib.Path(markers) / (name + ".runs"), "a") as f:
    f.write("ran\\n")
print(f"TODO: document what {name} found")
"""

#: The first run starts a grandchild, writes their pids to MARKERS/NAME.pids and hangs; the
#: runs after it complete (and file a FIXME).
HANGS_ONCE = """
import os, pathlib, subprocess, sys, time
name, markers = sys.stdin.read().split()
first = pathlib.Path(markers) / (name + ".first")
if not first.exists():
    first.write_text("yes")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    pathlib.Path("changed.txt").write_text("half done\\n")
    (pathlib.Path(markers) / (name + ".pids")).write_text(f"{os.getpid()} {child.pid}")
    time.sleep(300)
pathlib.Path("changed.txt").write_text("done\\n")
print(f"FIXME: {name} finished on attempt two")
"""


def _workflow(markers: Path, *, isolated: bool) -> dict[str, Any]:
    b: dict[str, Any] = {"id": "b", "agent_type": "hangs", "task": f"b {markers}",
                         "dependencies": ["a"]}  # fmt: skip
    if isolated:
        b["isolation"] = "worktree"
    return workflow(
        {"id": "a", "agent_type": "once", "task": f"a {markers}"},
        b,
        {"id": "c", "agent_type": "once", "task": f"c {markers}", "dependencies": ["b"]},
    )


def _cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claude_pm", "--project", str(project), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CLAUDE_PM_SANDBOX": "off"},
    )


def _kill_orchestrator_half_way(
    project: Path, tmp_path: Path, markers: Path, *, isolated: bool
) -> tuple[str, list[int], int]:
    """Run the workflow in a real orchestrator, SIGKILL it while b runs; (id, b's pids, pid)."""
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(_workflow(markers, isolated=isolated)))
    orchestrator = subprocess.Popen(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "workflow", "run",
         str(path), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CLAUDE_PM_SANDBOX": "off"},
    )  # fmt: skip
    try:
        wait_for(lambda: (markers / "b.pids").exists(), "task b to start")
        # The run's record gets the tree's identity at the spawn: wait until it is there.
        database = Database(project / ".claude-pm" / "state.db")
        with WorkflowJournal(database) as j:
            [record] = j.workflows(1)
            runs = RunStore(database, reclaim=False)

            def b_tree_recorded() -> bool:
                [b] = [a for a in j.attempts(record.workflow_id) if a.task_id == "b"]
                run = runs.get(b.run_id) if b.run_id else None
                return run is not None and run.tree is not None

            wait_for(b_tree_recorded, "b's tree to be recorded")
    finally:
        orchestrator.send_signal(signal.SIGKILL)
        orchestrator.wait()
    pids = [int(p) for p in (markers / "b.pids").read_text().split()]
    assert all(alive(p) for p in pids), "a SIGKILLed orchestrator leaves its agents running"
    return record.workflow_id, pids, orchestrator.pid


def _tickets(project: Path) -> dict[str, int]:
    store = TicketStore(Database(project / ".claude-pm" / "state.db"))
    return {t.title: t.times_seen for t in store.find()}


def test_resume_after_sigkill_runs_only_what_did_not_complete(
    project: Path, write_agent: Any, tmp_path: Path
) -> None:
    write_agent("once", ONCE)
    write_agent("hangs", HANGS_ONCE)
    markers = tmp_path / "markers"
    markers.mkdir()
    wid, pids, dead = _kill_orchestrator_half_way(project, tmp_path, markers, isolated=False)

    status = json.loads(_cli(project, "workflow", "status", wid, "--json").stdout)
    assert status["status"] == "interrupted"
    done = _cli(project, "workflow", "resume", wid, "--json")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["workflow_id"] == wid and result["resumed"] is True
    assert result["completed_tasks"] == 3
    tasks = by_id(result)
    assert (tasks["a"]["attempts"], tasks["a"]["interrupted"]) == (1, False)
    assert tasks["a"]["from_earlier_run"] is True
    assert (tasks["b"]["attempts"], tasks["b"]["interrupted"]) == (2, True)
    assert "FIXME: b finished on attempt two" in tasks["b"]["output"]
    assert (markers / "a.runs").read_text() == "ran\n"
    assert (markers / "c.runs").read_text() == "ran\n"
    # What the dead orchestrator's tree left running was killed, its cgroups removed.
    assert not any(alive(p) for p in pids)
    assert not run_groups(owner=dead)
    # Each finding filed once: a was not run again, b's first attempt never got to file.
    assert _tickets(project) == {
        "document what a found": 1,
        "b finished on attempt two": 1,
        "document what c found": 1,
    }
    with WorkflowJournal(Database(project / ".claude-pm" / "state.db")) as j:
        statuses = [(a.task_id, a.attempt, a.status.value) for a in j.attempts(wid)]
    assert ("b", 1, "interrupted") in statuses and ("b", 2, "completed") in statuses
    again = _cli(project, "workflow", "resume", wid, "--json")
    assert json.loads(again.stdout)["completed_tasks"] == 3
    assert (markers / "c.runs").read_text() == "ran\n"


def test_doctor_reclaims_a_dead_orchestrators_processes_and_worktree(
    git_project: Path, write_agent: Any, tmp_path: Path
) -> None:
    write_agent("once", ONCE)
    write_agent("hangs", HANGS_ONCE)
    commit_all(git_project)
    markers = tmp_path / "markers"
    markers.mkdir()
    wid, pids, _ = _kill_orchestrator_half_way(git_project, tmp_path, markers, isolated=True)
    [leftover] = (git_project / ".claude-pm" / "worktrees" / wid).iterdir()
    assert (leftover / "changed.txt").read_text() == "half done\n"

    doctor = json.loads(_cli(git_project, "doctor", "--json").stdout)

    [reclaimed] = doctor["project"]["workflows_reclaimed"]
    assert reclaimed["workflow_id"] == wid
    assert reclaimed["interrupted_tasks"] == ["b"]
    assert reclaimed["processes_killed"] >= 2 and reclaimed["worktrees_removed"] == 1
    assert not any(alive(p) for p in pids)
    assert not leftover.exists()
    assert len(git(git_project, "worktree", "list").splitlines()) == 1

    done = _cli(git_project, "workflow", "resume", wid, "--json")
    assert done.returncode == 0, done.stderr
    b = by_id(json.loads(done.stdout))["b"]
    assert (b["attempts"], b["interrupted"]) == (2, True)
    # A fresh worktree: the half-done change of the first attempt is not in the branch.
    assert git(git_project, "show", f"{b['worktree']['branch']['name']}:changed.txt") == "done"
