"""Cancelling a workflow mid-run: by the caller's token, by `workflow cancel`, by Ctrl-C.
Each time the running trees die (the agents' grandchildren too) and every task that did not
complete is recorded cancelled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from wf_support import by_id, workflow

from claude_pm import ClaudeToolHandler
from claude_pm.state import Database
from claude_pm.workflow.journal import WorkflowJournal
from waiting import alive, wait_for

#: Starts a grandchild, writes "PID GRANDCHILD_PID" to NAME.pids, sleeps.
SLEEPER = """
import os, pathlib, subprocess, sys, time
name = sys.stdin.read().strip()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
pathlib.Path(name + ".pids").write_text(f"{os.getpid()} {child.pid}")
time.sleep(300)
"""

TASKS = (
    {"id": "s1", "agent_type": "sleeper", "task": "s1", "writes": []},
    {"id": "s2", "agent_type": "sleeper", "task": "s2", "writes": []},
    {"id": "after", "agent_type": "sleeper", "task": "after", "dependencies": ["s1"]},
)


def pids_of(project: Path, *names: str) -> list[int]:
    for name in names:
        wait_for(lambda n=name: (project / f"{n}.pids").exists(), f"{name} to start")
    return [int(p) for n in names for p in (project / f"{n}.pids").read_text().split()]


def journal(project: Path) -> WorkflowJournal:
    return WorkflowJournal(Database(project / ".claude-pm" / "state.db"))


def test_the_callers_cancel_kills_the_trees_and_records_them_cancelled(
    handler: ClaudeToolHandler, write_agent: Any, project: Path
) -> None:
    write_agent("sleeper", SLEEPER)
    cancel = threading.Event()
    out: dict[str, Any] = {}

    def call() -> None:
        out.update(
            handler.handle_tool_call(
                "coordinate_multi_agent_workflow",
                workflow(*TASKS, max_concurrency=2),
                cancel=cancel,
            )
        )

    worker = threading.Thread(target=call)
    worker.start()
    pids = pids_of(project, "s1", "s2")
    cancel.set()
    worker.join(timeout=60)

    assert not worker.is_alive()
    assert not any(alive(p) for p in pids)
    assert out["status"] == "cancelled" and out["success"] is False
    assert (out["cancelled_tasks"], out["completed_tasks"]) == (3, 0)
    tasks = by_id(out)
    assert tasks["s1"]["status"] == "cancelled" and tasks["s1"]["attempts"] == 1
    assert tasks["after"]["attempts"] == 0
    assert tasks["after"]["reason"] == "the workflow was cancelled by its caller"
    with journal(project) as j:
        assert j.workflow(out["workflow_id"]).status.value == "cancelled"  # type: ignore[union-attr]
        assert {a.status.value for a in j.attempts(out["workflow_id"])} == {"cancelled"}


def _orchestrator(project: Path, tmp_path: Path) -> subprocess.Popen[str]:
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(workflow(*TASKS, max_concurrency=2)))
    return subprocess.Popen(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "workflow", "run",
         str(path), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CLAUDE_PM_SANDBOX": "off"},
    )  # fmt: skip


@pytest.mark.slow
def test_workflow_cancel_asks_the_live_orchestrator(
    write_agent: Any, project: Path, tmp_path: Path
) -> None:
    write_agent("sleeper", SLEEPER)
    orchestrator = _orchestrator(project, tmp_path)
    try:
        pids = pids_of(project, "s1", "s2")
        with journal(project) as j:
            [record] = j.workflows(1)
        done = subprocess.run(
            [sys.executable, "-m", "claude_pm", "--project", str(project), "workflow", "cancel",
             record.workflow_id],
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert f"workflow {record.workflow_id}: cancelled" in done.stdout
        stdout, _ = orchestrator.communicate(timeout=60)
    finally:
        orchestrator.kill()
        orchestrator.wait()
    assert orchestrator.returncode == 1
    result = json.loads(stdout)
    assert result["workflow_id"] == record.workflow_id
    assert result["status"] == "cancelled" and result["cancelled_tasks"] == 3
    assert "workflow cancel" in result["cancelled_reason"]
    assert not any(alive(p) for p in pids)


@pytest.mark.slow
def test_ctrl_c_cancels_the_workflow_and_kills_its_trees(
    write_agent: Any, project: Path, tmp_path: Path
) -> None:
    write_agent("sleeper", SLEEPER)
    orchestrator = _orchestrator(project, tmp_path)
    try:
        pids = pids_of(project, "s1", "s2")
        orchestrator.send_signal(signal.SIGINT)
        stdout, stderr = orchestrator.communicate(timeout=60)
    finally:
        orchestrator.kill()
        orchestrator.wait()
    assert orchestrator.returncode == 130, stderr
    assert "interrupted and cancelled" in stderr
    shown = json.loads(stdout)
    assert shown["status"] == "cancelled"
    assert not any(alive(p) for p in pids)
    with journal(project) as j:
        [record] = j.workflows(1)
        assert record.status.value == "cancelled"
        assert {t.status.value for t in j.tasks(record.workflow_id)} == {"cancelled"}
