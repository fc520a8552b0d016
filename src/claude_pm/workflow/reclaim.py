"""What a dead orchestrator left behind, found from the journal and taken back.

An orchestrator killed with SIGKILL (or lost with its machine's power) runs no
cleanup: the process trees of the attempts it was running go on, their
worktrees stay on disk, their runs stay ``running``. The journal knows all of
it (:mod:`claude_pm.workflow.journal`), and :func:`reclaim_workflow` takes it
back, for ``claude-pm workflow resume`` before it runs anything and for
``claude-pm doctor`` (:func:`reclaim_dead_workflows`):

1. each attempt still ``running`` has its tree killed by
   :func:`kill_attempt_tree`, from the identity the engine recorded when it
   spawned it (:class:`TreeIdentity`);
2. each worktree an attempt recorded is removed by its path, then ``git
   worktree prune``;
3. each effect still ``intended`` is proven done (the run's end is recorded:
   its tickets were stored; the branch exists at the recorded commit) or
   marked in doubt: a later run reports it and never repeats it;
4. the attempts become ``interrupted``, the workflow ``interrupted``, and the
   dead orchestrator's runs ``abandoned``.

The process layer is growing a general reclaim of dead orchestrators' trees;
:func:`kill_attempt_tree` is this package's own until the two are one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.process.cgroups import RunGroups, cgroup_support
from claude_pm.process.identity import boot_id, identity_alive
from claude_pm.process.tree import all_stats, read_stat
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

_GROUP_NAME = re.compile(r"/(claude-pm-\d+-\d+)$")
#: The environment variable every process of an agent run carries (see agents/handoff).
RUN_ID_VARIABLE = "CLAUDE_PM_RUN_ID"


@dataclass(frozen=True)
class TreeIdentity:
    """Who an attempt's process tree is, recorded when it was spawned.

    ``pid`` and ``start_ticks`` name the tree's root for the life of the boot
    (a reused pid has another start time); the root leads its own session and
    process group (``sid``, ``pgid``); ``cgroups`` maps each controller to the
    directory of the run's own group, which holds every descendant, even one
    that left the session.
    """

    pid: int
    start_ticks: int
    pgid: int
    sid: int
    boot: str
    cgroups: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "start_ticks": self.start_ticks,
            "pgid": self.pgid,
            "sid": self.sid,
            "boot": self.boot,
            "cgroups": dict(self.cgroups),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TreeIdentity:
        return cls(
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
            pgid=int(data["pgid"]),
            sid=int(data["sid"]),
            boot=str(data["boot"]),
            cgroups={str(k): str(v) for k, v in dict(data.get("cgroups") or {}).items()},
        )


def observe_tree(pid: int) -> TreeIdentity | None:
    """The identity of the live process ``pid`` as the root of a supervised tree."""
    stat = read_stat(pid)
    if stat is None:
        return None
    groups: dict[str, str] = {}
    with contextlib.suppress(OSError):
        support = cgroup_support()
        parents = {"unified": support.v2_dir} if support.v2_dir else dict(support.v1_dirs)
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            match = _GROUP_NAME.search(path)
            if match is None:
                continue
            for controller in controllers.split(",") if controllers else ["unified"]:
                parent = parents.get(controller)
                if parent is not None and (parent / match.group(1)).is_dir():
                    groups[controller] = str(parent / match.group(1))
    return TreeIdentity(pid, stat.start_ticks, stat.pgid, stat.sid, boot_id(), groups)


def _carries(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:  # noqa: PTH123 - one small read
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def _members(tree: TreeIdentity | None, run_id: str | None, groups: RunGroups | None) -> set[int]:
    me = os.getpid()
    found: set[int] = set(groups.pids()) if groups is not None else set()
    needle = f"{RUN_ID_VARIABLE}={run_id}".encode() if run_id else None
    # The session and group are the root's only while the root is the same process: once
    # it is gone, its pid may name another session, so the groups and the run id decide.
    root = read_stat(tree.pid) if tree is not None else None
    leader = (
        tree.pid
        if tree is not None and root is not None and root.start_ticks == tree.start_ticks
        else None
    )
    for stat in all_stats().values():
        if stat.pid == me or stat.state == "Z":
            continue
        if (leader is not None and leader in (stat.sid, stat.pgid)) or (
            needle is not None and _carries(stat.pid, needle)
        ):
            found.add(stat.pid)
    found.discard(me)
    return found


def kill_attempt_tree(
    tree: TreeIdentity | None, run_id: str | None, *, timeout_s: float = 5.0
) -> int:
    """Kill what is left of one attempt's process tree after its orchestrator died.

    The members are every process in the recorded groups, every process of
    the recorded root's session or process group while that root is still the
    same process (pid and start time: a reused pid is never taken for it),
    and every process
    whose environment carries the run's id (a daemonised grandchild that left
    the session; also the whole tree when its identity was never recorded).
    They get SIGKILL, the groups frozen first where a freezer allows, until
    none is left or ``timeout_s`` passes; then the groups are removed. A tree
    recorded in another boot is gone already. Returns how many processes were
    killed.
    """
    if tree is not None and tree.boot != boot_id():
        return 0
    groups = None
    if tree is not None and tree.cgroups:
        dirs = {c: Path(p) for c, p in tree.cgroups.items() if Path(p).is_dir()}
        if dirs:
            name = next(iter(dirs.values())).name
            groups = RunGroups(name, dirs, v2="unified" in dirs, limit_set=False)
    killed: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while True:
        members = _members(tree, run_id, groups)
        if not members or time.monotonic() >= deadline:
            break
        frozen = groups.freeze(timeout_s=0.5) if groups is not None else False
        try:
            for pid in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
        finally:
            if frozen and groups is not None:
                groups.thaw()
        time.sleep(0.02)
    if groups is not None:
        stuck = groups.remove()
        if stuck:
            log.warning("could not remove the cgroups %s", stuck)
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
        tree = TreeIdentity.from_dict(attempt.tree) if attempt.tree else None
        killed += kill_attempt_tree(tree, attempt.run_id)
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
    runs.mark_abandoned()
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
    "TreeIdentity",
    "kill_attempt_tree",
    "observe_tree",
    "reclaim_dead_workflows",
    "reclaim_workflow",
]
