"""``claude-pm doctor`` reports what a real supervised run got from this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from claude_pm.process import Enforcement


def doctor(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "doctor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_doctor_json_reports_enforcement_agents_and_integrations(project, write_agent):
    write_agent("echoer", "print('x')")
    out = doctor(project, "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["supervision"]["status"] == "completed"
    assert report["supervision"]["enforcement"] in {e.value for e in Enforcement}
    assert report["supervision"]["peak_rss_mb"] > 0
    core = ["data_engineer", "documentation", "engineer", "ops", "qa", "researcher"]
    core += ["security", "ticketer", "versioner"]
    assert report["project"]["runnable_agents"] == sorted(["echoer", *core])
    assert report["project"]["agents"] == 12
    assert report["integrations"]["anthropic_api_key_set"] is False
    assert report["integrations"]["mcp_sdk"]


def test_doctor_fails_on_a_broken_agent_file_and_says_which(project):
    agents = project / ".claude" / "agents"
    agents.mkdir(parents=True)
    (agents / "broken.md").write_text("no front matter here\n")
    out = doctor(project)
    assert out.returncode == 1
    assert "broken.md" in out.stdout


def test_doctor_prints_a_problem_that_looks_like_markup(project):
    agents = project / ".claude" / "agents"
    agents.mkdir(parents=True)
    (agents / "odd.md").write_text('---\nname: "[/b]"\ndescription: x\n---\nB\n')
    out = doctor(project)
    assert out.returncode == 1, out.stderr
    assert "'[/b]' is not a valid agent name" in out.stdout


def test_doctor_says_which_groups_runs_get_and_what_waits_to_be_reclaimed(project):
    import time

    from claude_pm.agents.runs import RunRecord, RunStatus, RunStore
    from claude_pm.process.identity import process_identity
    from claude_pm.state import Database

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = process_identity(gone.pid)
    gone.wait()
    store = RunStore(Database(project / ".claude-pm" / "state.db"))
    store.record_start(
        RunRecord("left", "qa", "t", RunStatus.RUNNING, time.time(), orchestrator=identity)
    )

    report = json.loads(doctor(project, "--json").stdout)
    text = doctor(project).stdout

    groups = report["cgroups"]
    assert set(groups) >= {"v2_used", "v2_note", "v1_controllers", "pids_limit"}
    assert "simulated cgroupfs" in groups["v2_verified"]
    assert report["reclaim"]["runs"] == ["left"]
    assert "reclaim: 1 runs of dead orchestrators are still marked running" in text
    assert "cgroup" in text
    run = store.get("left")
    assert run is not None and run.status is RunStatus.RUNNING  # doctor touches nothing
