"""An isolated attempt's worktree at its end: its changes kept on a branch, then it goes.

:func:`end_worktree` is what the engine runs when an isolated attempt ends, on
every path (completed, failed, cancelled, or to be retried): unless the attempt
is retried (its worktree is simply discarded), what the agent changed is
committed (:func:`~claude_pm.workflow.worktrees.commit_changes`) and the commit
gets the task's branch, an effect journaled as intended before the branch is
made and done after; then the worktree is removed. A git failure does not fail
the task: the note says the changes could not be kept.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from claude_pm.workflow.outcome import KeptBranch, WorktreeNote
from claude_pm.workflow.records import EffectStatus
from claude_pm.workflow.worktrees import (
    GitError,
    Worktree,
    commit_changes,
    diff_stats,
    make_branch,
    remove_worktree,
)

if TYPE_CHECKING:
    from claude_pm.workflow.journal import WorkflowJournal
    from claude_pm.workflow.spec import TaskSpec

log = logging.getLogger(__name__)


def branch_name(workflow_id: str, task_id: str) -> str:
    """The branch an isolated task's changes are kept on."""
    return f"claude-pm/{workflow_id}/{task_id}"


def end_worktree(
    journal: WorkflowJournal,
    workflow_id: str,
    task: TaskSpec,
    attempt: int,
    worktree: Worktree,
    *,
    keep: bool,
    outcome: str,
) -> WorktreeNote | None:
    """Keep the attempt's changes (unless it is retried), remove its worktree; the note.

    ``outcome`` ends the commit message (the task's status, its summary, its run).
    Returns ``None`` for an attempt that is retried.
    """
    branch: KeptBranch | None = None
    error: str | None = None
    try:
        if keep:
            branch = _keep(journal, workflow_id, task, attempt, worktree, outcome)
    except GitError as e:
        error = f"the changes could not be kept: {e}"
        log.warning("workflow %s: task %s: %s", workflow_id, task.id, error)
    finally:
        remove_worktree(worktree.repo, worktree.path)
    if not keep:
        return None
    return WorktreeNote(worktree.base, worktree.dirty, branch, error)


def _keep(
    journal: WorkflowJournal,
    workflow_id: str,
    task: TaskSpec,
    attempt: int,
    worktree: Worktree,
    outcome: str,
) -> KeptBranch | None:
    lines = task.task_description.strip().splitlines()
    message = (
        f"claude-pm: {task.id} ({task.agent_type}), workflow {workflow_id}\n\n"
        f"{lines[0][:200] if lines else ''}\n\n{outcome}"
    )
    commit = commit_changes(worktree, message)
    if commit is None:
        return None
    name = branch_name(workflow_id, task.id)
    key = f"branch:{name}"
    detail = {"repo": str(worktree.repo), "name": name, "commit": commit}
    journal.effect_intended(workflow_id, key, "branch", task.id, attempt, detail)
    used = make_branch(worktree.repo, name, commit)
    files, added, deleted = diff_stats(worktree.repo, worktree.base, commit)
    journal.effect_settled(workflow_id, key, EffectStatus.DONE, {**detail, "name": used})
    return KeptBranch(used, commit, worktree.base, files, added, deleted)


__all__ = ["branch_name", "end_worktree"]
