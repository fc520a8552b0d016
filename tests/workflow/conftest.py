"""Fixtures for the workflow engine's tests: a handler, a git project, and leak checks.

Besides the suite's own check that no process is left behind, every test here
proves it left no cgroup of a run and no git worktree: the state directory's
``worktrees/`` is empty and ``git worktree list`` of a project repository
names only the main one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from wf_support import GIT_ENV, git

from claude_pm import ClaudeToolHandler
from claude_pm.process.cgroups import all_run_dirs, cgroup_support


def run_groups(owner: int | None = None) -> set[Path]:
    """The run cgroups of ``owner`` (default: this process) that exist now.

    Other processes on the machine have groups of their own beside ours (the
    ``pids`` and ``freezer`` groups are shared): only the owner's count.
    """
    prefix = f"claude-pm-{owner or os.getpid()}-"
    return {p for p in all_run_dirs(cgroup_support()) if p.name.startswith(prefix)}


@pytest.fixture(autouse=True)
def no_leftover_cgroups() -> Iterator[None]:
    """Fail a test that leaves a run's cgroup behind (after a grace to remove it)."""
    before = run_groups()
    yield
    deadline = time.monotonic() + 5.0
    left = run_groups() - before
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = run_groups() - before
    assert not left, f"test left cgroups behind: {sorted(map(str, left))}"


@pytest.fixture(autouse=True)
def no_leftover_worktrees(project: Path) -> Iterator[None]:
    """Fail a test that leaves a worktree behind, on disk or in git's list."""
    yield
    worktrees = project / ".claude-pm" / "worktrees"
    leftovers = [p for p in worktrees.glob("*/*") if p.exists()] if worktrees.exists() else []
    assert not leftovers, f"test left worktrees behind: {leftovers}"
    if (project / ".git").exists():
        listed = [
            line for line in git(project, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")
        ]  # fmt: skip
        assert len(listed) == 1, f"git still lists worktrees: {listed}"


@pytest.fixture
def handler(project: Path) -> ClaudeToolHandler:
    return ClaudeToolHandler({"project_root": str(project)})


@pytest.fixture
def git_project(project: Path) -> Path:
    """The project as a git repository with one commit (and no user identity configured)."""
    git(project, "init", "-q", "-b", "main")
    (project / ".gitignore").write_text(".claude-pm/\n")
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text("VERSION = 1\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "first", env=GIT_ENV)
    return project
