"""Isolated tasks in git worktrees of a real repository: the change lands on the task's
branch, nothing is left behind, a task that changed nothing leaves no branch, and a dirty
working tree is reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wf_support import LOGGED, by_id, commit_all, git, workflow

from claude_pm import ClaudeToolHandler

CALL = "coordinate_multi_agent_workflow"

#: Appends its task to src/app.py and prints what the file held before.
EDITOR = """
import pathlib, sys
task = sys.stdin.read().strip()
app = pathlib.Path("src/app.py")
print("saw:", app.read_text().strip())
app.write_text(app.read_text() + f"# {task}\\n")
pathlib.Path("NEW.md").write_text("new file\\n")
"""

#: Reads, changes nothing.
READER = "import pathlib; print(pathlib.Path('src/app.py').read_text().strip())"


def test_an_isolated_task_commits_its_change_on_its_own_branch(
    git_project: Path, handler: ClaudeToolHandler, write_agent: Any
) -> None:
    write_agent("editor", EDITOR)
    head = commit_all(git_project)

    result = handler.handle_tool_call(
        CALL,
        workflow(
            {"id": "edit", "agent_type": "editor", "task": "touched", "isolation": "worktree"}
        ),
    )

    assert result["success"] is True, result.get("error")
    task = by_id(result)["edit"]
    branch = task["worktree"]["branch"]
    assert branch["name"] == f"claude-pm/{result['workflow_id']}/edit"
    assert (branch["base"], task["worktree"]["base"]) == (head, head)
    assert (branch["files_changed"], branch["insertions"]) == (2, 2)
    assert task["worktree"]["dirty"] is False
    # The change is on the branch, in a commit of its own; the project itself is untouched.
    assert git(git_project, "show", f"{branch['name']}:src/app.py") == "VERSION = 1\n# touched"
    assert git(git_project, "rev-parse", f"{branch['name']}^") == head
    assert (git_project / "src" / "app.py").read_text() == "VERSION = 1\n"
    assert not (git_project / "NEW.md").exists()
    assert git(git_project, "rev-parse", "HEAD") == head
    # No user identity is configured here: claude-pm's own signs the commit.
    author = git(git_project, "log", "-1", "--format=%an <%ae>", branch["name"])
    assert author == "claude-pm <claude-pm@localhost>"
    assert task["output"] == "saw: VERSION = 1\n"


def test_a_task_that_changes_nothing_leaves_no_branch(
    git_project: Path, handler: ClaudeToolHandler, write_agent: Any
) -> None:
    write_agent("reader", READER)
    commit_all(git_project)

    result = handler.handle_tool_call(
        CALL, workflow({"id": "look", "agent_type": "reader", "task": "x", "isolation": "worktree"})
    )

    assert result["success"] is True, result.get("error")
    assert by_id(result)["look"]["worktree"]["branch"] is None
    assert git(git_project, "branch", "--list", "claude-pm/*") == ""


def test_a_dirty_working_tree_is_reported_and_not_seen_by_the_task(
    git_project: Path, handler: ClaudeToolHandler, write_agent: Any
) -> None:
    write_agent("editor", EDITOR)
    commit_all(git_project)
    (git_project / "src" / "app.py").write_text("VERSION = 2  # not committed\n")

    result = handler.handle_tool_call(
        CALL, workflow({"id": "edit", "agent_type": "editor", "task": "t", "isolation": "worktree"})
    )

    task = by_id(result)["edit"]
    assert task["worktree"]["dirty"] is True
    assert "uncommitted changes" in task["worktree"]["note"]
    assert task["output"].startswith("saw: VERSION = 1")
    assert (git_project / "src" / "app.py").read_text() == "VERSION = 2  # not committed\n"


def test_the_agent_definition_can_ask_for_isolation_and_the_user_identity_signs(
    git_project: Path, handler: ClaudeToolHandler, write_agent: Any
) -> None:
    write_agent("editor", EDITOR, isolation="worktree")
    commit_all(git_project)
    git(git_project, "config", "user.name", "Ada Lovelace")
    git(git_project, "config", "user.email", "ada@example.invalid")

    result = handler.handle_tool_call(
        CALL, workflow({"id": "edit", "agent_type": "editor", "task": "by definition"})
    )

    branch = by_id(result)["edit"]["worktree"]["branch"]
    author = git(git_project, "log", "-1", "--format=%an <%ae>", branch["name"])
    assert author == "Ada Lovelace <ada@example.invalid>"


def test_isolated_tasks_writing_the_same_paths_run_side_by_side(
    git_project: Path, handler: ClaudeToolHandler, write_agent: Any, tmp_path: Path
) -> None:
    # Both write src/**: only their worktrees let them run at once (they must meet).
    write_agent("logged", LOGGED)
    commit_all(git_project)
    meeting = tmp_path / "meeting"
    meeting.mkdir()

    result = handler.handle_tool_call(
        CALL,
        workflow(
            {"id": "a", "agent_type": "logged", "task": f"a meet b {meeting}",
             "writes": ["src/**"], "isolation": "worktree"},
            {"id": "b", "agent_type": "logged", "task": f"b meet a {meeting}",
             "writes": ["src/**"], "isolation": "worktree"},
            max_concurrency=2,
        ),
    )  # fmt: skip

    assert result["success"] is True, result.get("error")
    tasks = by_id(result)
    # Each wrote its log and marker in its own worktree: two branches, the project untouched.
    for name in ("a", "b"):
        branch = tasks[name]["worktree"]["branch"]["name"]
        assert git(git_project, "show", f"{branch}:log.txt").split("\n")[0] == f"start {name}"
    assert not (git_project / "log.txt").exists()


def test_isolation_outside_a_git_repository_is_refused_before_anything_runs(
    handler: ClaudeToolHandler, write_agent: Any, project: Path
) -> None:
    write_agent("reader", READER)

    result = handler.handle_tool_call(
        CALL,
        workflow(
            {"id": "look", "agent_type": "reader", "task": "x", "isolation": "worktree"},
            {"id": "bad", "agent_type": "wizard", "task": "x"},
        ),
    )

    assert result["error_type"] == "WorkflowInvalid"
    problems = result["error_details"]["problems"]
    assert any("wizard" in p for p in problems)
    assert any("'look'" in p and "not inside a git repository" in p for p in problems)
    assert not (project / ".claude-pm" / "runs").exists()
