"""Helpers for the workflow engine's tests: workflows, git, and the agents' snippets.

The snippets are Python programs run by ``command`` agents (see
``claude_pm.testing.write_python_agent``); they leave evidence in the project
(marker files, logs of who ran when) that the tests read, so that concurrency
and order are proven by what the agents recorded, never by timing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.invalid",
}


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return done.stdout.strip()


def commit_all(repo: Path, message: str = "agents") -> str:
    """Commit everything in ``repo`` (a project commits its agents); returns the new HEAD."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, env=GIT_ENV)
    return git(repo, "rev-parse", "HEAD")


def workflow(*tasks: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"workflow_description": "test workflow", "agent_tasks": list(tasks), **fields}


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for t in result["task_results"]}


#: Prints its task and the dependency results it sees, then files a TODO about its task.
ECHO = """
import json, os, sys
task = sys.stdin.read().strip()
with open(os.environ["CLAUDE_PM_CONTEXT_FILE"], encoding="utf-8") as f:
    context = json.load(f)["context"]
print("task:", task)
print("deps:", json.dumps(context.get("dependency_results", {}), sort_keys=True))
print(f"TODO: follow up on {task}")
"""

#: Exits 3 after printing its task.
FAIL = """
import sys
print("failing:", sys.stdin.read().strip())
sys.exit(3)
"""

#: The task is "NAME", or "NAME meet OTHER [DIR]". Appends "start NAME" and "end NAME" to
#: log.txt around a short wait; with "meet OTHER", first waits until OTHER has started too
#: (a rendezvous: both ran at the same time, whatever the machine's speed). The markers are
#: in DIR when given (agents in separate worktrees share no working directory).
LOGGED = """
import pathlib, sys, time
words = sys.stdin.read().split()
me = words[0]
where = pathlib.Path(words[3]) if len(words) > 3 else pathlib.Path(".")
def note(what):
    with open("log.txt", "a") as f:
        f.write(what + " " + me + "\\n")
note("start")
(where / (me + ".here")).write_text("yes")
if len(words) >= 3 and words[1] == "meet":
    deadline = time.monotonic() + 30
    while not (where / (words[2] + ".here")).exists():
        if time.monotonic() > deadline:
            print("never met", words[2])
            sys.exit(4)
        time.sleep(0.01)
time.sleep(0.2)
note("end")
"""
