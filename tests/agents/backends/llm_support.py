"""What the anthropic and openai backend tests share: agent files, handlers, the run's files."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import psutil
import yaml

from claude_pm import ClaudeToolHandler
from claude_pm.config import load_settings

#: What a scripted Bash call prints, for :func:`bash_facts`.
PID_COMMAND = "echo pid=$$ ppid=$PPID"


def write_llm_agent(
    project: Path, name: str, backend: str, body: str = "You review code.", **fields: Any
) -> Path:
    """``PROJECT/.claude/agents/NAME.md``: a Claude Code agent file pinned to ``backend``."""
    agents = project / ".claude" / "agents"
    agents.mkdir(parents=True, exist_ok=True)
    front = {"name": name, "description": f"{name} agent", **fields, "backend": backend}
    path = agents / f"{name}.md"
    path.write_text(f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n{body}\n", encoding="utf-8")
    return path


def handler_for(project: Path, **environ: str) -> ClaudeToolHandler:
    """A handler whose settings read only ``environ`` (no sandbox: the tests compare pids)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(project.parent / "home"),
        "CLAUDE_PM_SANDBOX": "off",
        **environ,
    }
    return ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))


def run_agent(handler: ClaudeToolHandler, agent: str, **params: Any) -> dict[str, Any]:
    return handler.handle_tool_call(
        "execute_agent_subprocess",
        {"agent_type": agent, "task_description": "Review app.py.", **params},
    )


def report_of(result: dict[str, Any]) -> dict[str, Any]:
    """The run's ``result.json``, as the backend wrote it."""
    text = (Path(result["log_paths"]["run_dir"]) / "result.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def transcript_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    path = Path(result["log_paths"]["run_dir"]) / "transcript.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def bash_facts(output: str) -> dict[str, Any]:
    """What the test can tell of the shell that printed :data:`PID_COMMAND`, now that it ran.

    Called while the agent still runs (from the fake's responder for the next turn).
    """
    match = re.search(r"pid=(\d+) ppid=(\d+)", output)
    assert match, output
    pid, ppid = int(match.group(1)), int(match.group(2))
    parent = psutil.Process(ppid)
    mine = {p.pid for p in psutil.Process().children(recursive=True)}
    return {
        "parent_is_the_agent": "claude_pm.agents.executor" in " ".join(parent.cmdline()),
        "parent_is_ours": ppid in mine,
        "shell_gone": not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
    }
