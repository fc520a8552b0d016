"""Reclaiming a tree whose supervisor died: find it again from what was recorded, kill it.

An orchestrator killed with SIGKILL runs no ``finally``, no signal handler and
no ``atexit`` hook: its agents live on. The supervisor therefore announces,
right after the spawn, what identifies the tree (event ``tree_started``): a
:class:`TreeIdentity` — the supervising process's identity (boot id, pid,
start time, pid namespace, host), the root's pid and start ticks, its process
group, the environment token every member inherits, and the run's cgroup
directories. Whoever records runs stores it; a later process calls
:func:`kill_recorded_tree` with it.

:func:`kill_recorded_tree` acts only when the supervisor is provably gone from
this very machine, boot and pid namespace (:class:`~claude_pm.process.identity.Liveness`
``EXITED``): a live supervisor, or one we cannot see (another machine or
container), is never touched; after a reboot nothing is left to kill. The
members are: every process in the recorded cgroups (they see through
``setsid``); the root if its pid still has the recorded start time; every
process whose environment carries the token; processes of the root's session
or process group started after it while the session is still the run's; and
descendants of all of these. They get SIGTERM, a short grace, then — frozen
first where a freezer group was recorded — SIGKILL until none is left; the
groups are removed. What cannot be found that way (a daemon that cleared its
environment and left the session, with no cgroup) is out of reach, as it is
for the supervisor itself without cgroups. So is a tree whose supervisor died
in the few milliseconds between the spawn and the record: with cgroups, its
groups (named after the dead owner) are emptied and removed by the next
supervisor that starts a run (:func:`~claude_pm.process.cgroups.remove_stale_groups`).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from claude_pm.process.cgroups import RunGroups
from claude_pm.process.identity import Liveness, liveness
from claude_pm.process.tree import (
    TOKEN_VARIABLE,
    ProcStat,
    all_stats,
    environ_has,
    read_stat,
    signal_members,
)

#: Grace between SIGTERM and SIGKILL for a reclaimed tree: its agents get a moment to
#: flush, but a command that reclaims (``claude-pm runs``) must not linger.
RECLAIM_GRACE_S = 0.5


@dataclass(frozen=True)
class TreeIdentity:
    """What identifies one supervised tree, for a process other than its supervisor."""

    #: ``boot/pid/start/pidns/host`` of the process that supervises the tree.
    supervisor: str
    root_pid: int
    root_start_ticks: int
    pgid: int
    #: The value of ``CLAUDE_PM_PROCESS_TOKEN`` in every member's environment.
    token: str
    #: The run's cgroup directories, by controller (``unified`` on v2).
    cgroup_dirs: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "supervisor": self.supervisor,
            "root_pid": self.root_pid,
            "root_start_ticks": self.root_start_ticks,
            "pgid": self.pgid,
            "token": self.token,
            "cgroup_dirs": dict(self.cgroup_dirs),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TreeIdentity:
        """Rebuild from :meth:`to_dict`.

        Raises:
            KeyError, TypeError, ValueError: the data is not a tree identity.
        """
        dirs = data.get("cgroup_dirs") or {}
        return cls(
            supervisor=str(data["supervisor"]),
            root_pid=int(data["root_pid"]),
            root_start_ticks=int(data["root_start_ticks"]),
            pgid=int(data["pgid"]),
            token=str(data["token"]),
            cgroup_dirs={str(k): str(v) for k, v in dict(dirs).items()},
        )


@dataclass(frozen=True)
class ReclaimedTree:
    """What :func:`kill_recorded_tree` found and did.

    ``acted`` is False when the supervisor may still run (or cannot be seen from
    here): nothing was signalled. ``killed`` are the members that were alive
    and are gone now; ``survivors`` could not be killed (another user's, or
    stuck in the kernel); ``groups_left`` could not be removed.
    """

    acted: bool
    supervisor: Liveness
    killed: tuple[int, ...] = ()
    survivors: tuple[int, ...] = ()
    groups_removed: tuple[str, ...] = ()
    groups_left: tuple[str, ...] = ()


def _ancestors() -> set[int]:
    """This process and its ancestors: a reclaimer started inside the tree spares itself."""
    mine, pid = set(), os.getpid()
    while pid > 1 and pid not in mine:
        mine.add(pid)
        stat = read_stat(pid)
        if stat is None:
            break
        pid = stat.ppid
    return mine


def find_members(tree: TreeIdentity, groups: RunGroups | None) -> dict[int, int]:
    """Live members of a recorded tree, as ``{pid: start ticks}`` (see the module docstring)."""
    stats = all_stats()
    found: dict[int, int] = {}

    def add(stat: ProcStat | None) -> None:
        if stat is not None and stat.state != "Z":
            found[stat.pid] = stat.start_ticks

    if groups is not None:
        for pid in groups.pids():
            add(stats.get(pid) or read_stat(pid))
    root = stats.get(tree.root_pid)
    root_is_ours = root is not None and root.start_ticks == tree.root_start_ticks
    if root_is_ours:
        add(root)
    # The session and group ids are the root's pid; the kernel keeps that number from
    # reuse while any member remains, so a member started after the root is ours unless
    # the number went to a new process (the root's pid alive with another start time).
    session_is_ours = root is None or root_is_ours
    needle = f"{TOKEN_VARIABLE}={tree.token}".encode()
    for stat in stats.values():
        if stat.state == "Z" or stat.pid in found or stat.start_ticks < tree.root_start_ticks:
            continue
        in_session = tree.root_pid in (stat.sid, stat.pgid) or stat.pgid == tree.pgid
        if (in_session and session_is_ours) or environ_has(stat.pid, needle):
            found[stat.pid] = stat.start_ticks
    children: dict[int, list[ProcStat]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child.pid not in found and child.state != "Z":
                found[child.pid] = child.start_ticks
                todo.append(child.pid)
    for pid in _ancestors():
        found.pop(pid, None)
    return found


def _alive(members: Mapping[int, int]) -> dict[int, int]:
    alive = {}
    for pid, start in members.items():
        stat = read_stat(pid)
        if stat is not None and stat.start_ticks == start and stat.state != "Z":
            alive[pid] = start
    return alive


def kill_recorded_tree(
    tree: TreeIdentity, *, grace_s: float = RECLAIM_GRACE_S, settle_s: float = 5.0
) -> ReclaimedTree:
    """Kill what is left of a tree whose supervisor is gone; remove its groups.

    Does nothing unless the supervisor is provably dead on this machine, boot
    and pid namespace. Never raises for a process that vanished or refused.
    """
    state = liveness(tree.supervisor)
    if state is not Liveness.EXITED:
        return ReclaimedTree(acted=False, supervisor=state)
    groups = RunGroups.from_dirs(tree.cgroup_dirs) if tree.cgroup_dirs else None
    members = find_members(tree, groups)
    seen = dict(members)
    if members and grace_s > 0:
        signal_members(members, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _alive(members):
            time.sleep(0.01)
    deadline = time.monotonic() + settle_s
    while True:
        members = _alive(find_members(tree, groups) | members)
        seen.update(members)
        if not members or time.monotonic() >= deadline:
            break
        frozen = groups.freeze() if groups is not None else False
        try:
            if groups is not None:
                groups.kill_all()
            signal_members(members, signal.SIGKILL)
        finally:
            if frozen and groups is not None:
                groups.thaw()
        time.sleep(0.01)
    removed: list[str] = []
    left: list[str] = []
    if groups is not None:
        stuck = {str(p) for p in groups.remove(timeout_s=1.0)}
        for directory in tree.cgroup_dirs.values():
            (left if directory in stuck else removed).append(directory)
    survivors = tuple(sorted(members))
    return ReclaimedTree(
        acted=True,
        supervisor=state,
        killed=tuple(sorted(p for p in seen if p not in members)),
        survivors=survivors,
        groups_removed=tuple(removed),
        groups_left=tuple(left),
    )


def describe_pids(pids: tuple[int, ...]) -> str:
    """``"3 processes (pids 10, 11, 12)"`` for messages."""
    shown = ", ".join(str(p) for p in pids[:8]) + (", ..." if len(pids) > 8 else "")
    noun = "process" if len(pids) == 1 else "processes"
    return f"{len(pids)} {noun}" + (f" (pids {shown})" if pids else "")


__all__ = [
    "RECLAIM_GRACE_S",
    "ReclaimedTree",
    "TreeIdentity",
    "describe_pids",
    "find_members",
    "kill_recorded_tree",
]
