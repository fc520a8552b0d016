"""What a dead orchestrator left behind, found from the journal and taken back.

An orchestrator killed with SIGKILL (or lost with its machine's power) runs no
cleanup: the process trees of the attempts it was running go on, their
worktrees stay on disk, their runs stay ``running``. The journal knows all of
it (:mod:`claude_pm.workflow.journal`), and :func:`reclaim_workflow` takes it
back, for ``claude-pm workflow resume`` before it runs anything and for
``claude-pm doctor`` (:func:`reclaim_dead_workflows`):

1. each attempt still ``running`` has its tree killed by
   :func:`kill_attempt_tree`: the tree its run's record names (the process
   layer's :func:`~claude_pm.process.kill_recorded_tree`, the same reclaim
   ``claude-pm runs`` does for any run), then whatever still carries the run's
   id in its environment;
2. each worktree an attempt recorded is removed by its path, then ``git
   worktree prune``;
3. each effect still ``intended`` is proven done (the run's end is recorded:
   its tickets were stored; the branch exists at the recorded commit) or
   marked in doubt: a later run reports it and never repeats it;
4. the attempts become ``interrupted`` and the workflow ``interrupted``. The
   runs themselves are marked ``abandoned`` by the runs' own reclaim
   (:meth:`~claude_pm.agents.runs.RunStore.reclaim`; ``workflow resume``
   runs it, ``doctor`` only reports them).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.agents.handoff import ENV_RUN_ID
from claude_pm.process import TreeIdentity, kill_recorded_tree
from claude_pm.process.identity import identity_alive
from claude_pm.process.tree import all_stats, environ_has, read_stat
from claude_pm.workflow.journal import (
    AttemptStatus,
    EffectStatus,
    WorkflowJournal,
    WorkflowRecord,
)
from claude_pm.workflow.outcome import WorkflowStatus
from claude_pm.workflow.worktrees import branch_commit, remove_worktree

if TYPE_CHECKING:
    from claude_pm.agents.runs import RunStore

log = logging.getLogger(__name__)


def _carrying(run_id: str) -> set[int]:
    """Live processes whose environment names the run (this process and its ancestors aside)."""
    needle = f"{ENV_RUN_ID}={run_id}".encode()
    mine, pid = set(), os.getpid()
    while pid > 1 and pid not in mine:
        mine.add(pid)
        stat = read_stat(pid)
        pid = stat.ppid if stat is not None else 1
    return {
        s.pid
        for s in all_stats().values()
        if s.state != "Z" and s.pid not in mine and environ_has(s.pid, needle)
    }


def kill_attempt_tree(tree: TreeIdentity | None, run_id: str, *, settle_s: float = 5.0) -> int:
    """Kill what is left of one attempt's process tree after its orchestrator died.

    The tree the run's record names (:func:`~claude_pm.process.kill_recorded_tree`:
    its groups, its root by pid and start time, its session, its token, only
    once its supervisor is provably gone), then every process that still
    carries the run's id in its environment: that also finds a tree whose
    identity was never recorded (the orchestrator died between the spawn and
    the record). Returns how many processes were killed.
    """
    killed: set[int] = set()
    if tree is not None:
        killed.update(kill_recorded_tree(tree).killed)
    deadline = time.monotonic() + settle_s
    while (left := _carrying(run_id)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(0.02)
    if killed:
        log.warning("killed %d process(es) left by run %s", len(killed), run_id)
    return len(killed)


@dataclass(frozen=True)
class Reclaimed:
    """What :func:`reclaim_workflow` took back."""

    workflow_id: str
    interrupted_tasks: tuple[str, ...] = ()
    processes_killed: int = 0
    worktrees_removed: int = 0
    effects_in_doubt: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "interrupted_tasks": list(self.interrupted_tasks),
            "processes_killed": self.processes_killed,
            "worktrees_removed": self.worktrees_removed,
            "effects_in_doubt": list(self.effects_in_doubt),
        }


def _proven(effect_kind: str, detail: Mapping[str, Any], runs: RunStore) -> bool:
    """Whether an intended effect can be shown to have happened."""
    if effect_kind == "tickets":
        record = runs.get(str(detail.get("run_id")))
        # The runner records a run's end only after storing its tickets.
        return record is not None and record.finished_at is not None
    if effect_kind == "branch":
        repo, name, commit = detail.get("repo"), detail.get("name"), detail.get("commit")
        if not (repo and name and commit):
            return False
        return branch_commit(Path(str(repo)), str(name)) == str(commit)
    return False


def reclaim_workflow(
    journal: WorkflowJournal, runs: RunStore, workflow: WorkflowRecord
) -> Reclaimed:
    """Take back what the dead orchestrator of ``workflow`` left (see the module docstring).

    The caller has checked that the orchestrator is dead. Safe to call twice.
    """
    wid = workflow.workflow_id
    running = journal.attempts(wid, status=AttemptStatus.RUNNING)
    killed = 0
    for attempt in running:
        if attempt.run_id is not None:
            record = runs.get(attempt.run_id)
            killed += kill_attempt_tree(record.tree if record else None, attempt.run_id)
    removed = 0
    for attempt in journal.attempts(wid):
        path = attempt.worktree_path
        if path and attempt.worktree_repo and Path(path).exists():
            removed += remove_worktree(Path(attempt.worktree_repo), Path(path))
    in_doubt = []
    for effect in journal.effects(wid):
        if effect.status is not EffectStatus.INTENDED:
            continue
        if _proven(effect.kind, effect.detail, runs):
            journal.effect_settled(wid, effect.key, EffectStatus.DONE)
        else:
            journal.effect_settled(wid, effect.key, EffectStatus.IN_DOUBT)
            in_doubt.append(effect.key)
    if running:
        journal.mark_interrupted(wid, running)
    if workflow.status is WorkflowStatus.RUNNING:
        journal.set_status(wid, WorkflowStatus.INTERRUPTED)
    return Reclaimed(wid, tuple(a.task_id for a in running), killed, removed, tuple(in_doubt))


def reclaim_dead_workflows(journal: WorkflowJournal, runs: RunStore) -> list[Reclaimed]:
    """Reclaim every workflow journaled ``running`` whose orchestrator no longer exists."""
    out = []
    for workflow in journal.workflows(None, status=WorkflowStatus.RUNNING):
        if not identity_alive(workflow.orchestrator):
            out.append(reclaim_workflow(journal, runs, workflow))
    return out


__all__ = [
    "Reclaimed",
    "kill_attempt_tree",
    "reclaim_dead_workflows",
    "reclaim_workflow",
]
