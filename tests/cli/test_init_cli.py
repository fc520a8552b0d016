"""``claude-pm init``: one project set up for claude-pm and Claude Code, idempotently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _init(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "init", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ),
    )


def test_init_writes_what_is_missing_and_keeps_what_is_there(project: Path) -> None:
    (project / ".mcp.json").write_text(
        json.dumps({"mcpServers": {"other": {"command": "other-server"}}})
    )
    (project / ".gitignore").write_text("node_modules/")
    out = _init(project, "--json")
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout)
    assert (done["mcp_json"], done["gitignore"], done["agent"]["state"]) == (
        "written",
        "written",
        "written",
    )
    servers = json.loads((project / ".mcp.json").read_text())["mcpServers"]
    assert servers["other"] == {"command": "other-server"}
    assert servers["claude-pm"] == {"type": "stdio", "command": "claude-pm", "args": ["mcp"]}
    assert (project / ".gitignore").read_text() == "node_modules/\n.claude-pm/\n"
    assert (project / ".claude" / "agents" / "project-scanner.md").exists()
    again = json.loads(_init(project, "--json").stdout)
    assert (again["mcp_json"], again["gitignore"], again["agent"]["state"]) == ("kept",) * 3
    assert (project / ".gitignore").read_text().count(".claude-pm/") == 1


def test_the_first_agent_runs_and_the_next_steps_are_printed(project: Path) -> None:
    out = _init(project)
    assert out.returncode == 0, out.stderr
    assert 'claude-pm run project-scanner "look at the project"' in out.stdout
    assert "claude mcp list" in out.stdout
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "claude_pm",
            "--project",
            str(project),
            "run",
            "project-scanner",
            "look",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "completed"


def test_a_broken_mcp_json_is_an_error_and_is_left_alone(project: Path) -> None:
    (project / ".mcp.json").write_text("{not json")
    out = _init(project)
    assert out.returncode == 2
    assert ".mcp.json is not valid JSON" in out.stderr
    assert (project / ".mcp.json").read_text() == "{not json"
