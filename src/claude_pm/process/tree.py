"""Find the members of a supervised tree, signal them, and reap the ones that are ours.

A member is identified by ``(pid, start ticks)`` from ``/proc/<pid>/stat`` so
a pid reused by an unrelated process is never signalled. Membership comes from
the run's cgroups when there are any (they see through ``setsid``); otherwise
from ``/proc``: the child's process group and session, descendants of the child
and of every member seen before (a grandchild whose parent exited), and, at
kill time, every process whose environment carries the run's token (a
daemonised grandchild that left the session but kept its environment).
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass

from claude_pm.process.cgroups import RunGroups

TOKEN_VARIABLE = "CLAUDE_PM_PROCESS_TOKEN"


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the supervisor needs."""

    pid: int
    state: str
    ppid: int
    pgid: int
    sid: int
    start_ticks: int


def read_stat(pid: int) -> ProcStat | None:
    """One process's stat, or ``None`` if it is gone."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, 1024)
    except OSError:
        return None
    finally:
        os.close(fd)
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return ProcStat(
            pid=pid,
            state=fields[0].decode(),
            ppid=int(fields[1]),
            pgid=int(fields[2]),
            sid=int(fields[3]),
            start_ticks=int(fields[19]),
        )
    except (IndexError, ValueError):
        return None


def all_stats() -> dict[int, ProcStat]:
    """Every process visible in ``/proc``."""
    stats = {}
    for name in os.listdir("/proc"):  # noqa: PTH208 - plain names are faster here
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                stats[stat.pid] = stat
    return stats


def environ_has(pid: int, needle: bytes) -> bool:
    """Whether ``needle`` (``NAME=value``) is one of the process's environment entries."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:  # noqa: PTH123 - tiny hot path
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def is_alive(pid: int, start_ticks: int) -> bool:
    """The same process (not a reused pid) still exists and is not a zombie."""
    stat = read_stat(pid)
    return stat is not None and stat.start_ticks == start_ticks and stat.state != "Z"


class TreeTracker:
    """Knows the members of one run's tree, as ``{pid: start ticks}``."""

    def __init__(self, root_pid: int, token: str, groups: RunGroups | None) -> None:
        self.root_pid = root_pid
        self.token = f"{TOKEN_VARIABLE}={token}".encode()
        self.groups = groups
        root = read_stat(root_pid)
        self.root_start = root.start_ticks if root else 0
        self.known: dict[int, int] = {}
        self.ever: dict[int, int] = {}
        self.outside_session: set[int] = set()
        self._me = os.getpid()
        # Re-entrant: a signal handler may kill the tree while this thread reads it.
        self._lock = threading.RLock()

    def members(self, *, deep: bool = False) -> dict[int, int]:
        """Live members of the tree (the root included while it is not reaped).

        ``deep`` adds the environment-token scan of every process, used at kill
        time when there are no cgroups.
        """
        with self._lock:
            found: dict[int, int] = {}
            if self.groups is not None:
                for pid in self.groups.pids():
                    stat = read_stat(pid)
                    if stat is not None and stat.state != "Z":
                        found[pid] = stat.start_ticks
            else:
                found = self._walk(deep)
            found.pop(self._me, None)
            self.known = found | {p: s for p, s in self.known.items() if is_alive(p, s)}
            self.ever.update(self.known)
            return dict(self.known)

    def everyone_seen(self) -> dict[int, int]:
        """Every member ever seen, dead or alive (for reaping)."""
        with self._lock:
            return dict(self.ever)

    def _walk(self, deep: bool) -> dict[int, int]:
        stats = all_stats()
        children: dict[int, list[ProcStat]] = {}
        for stat in stats.values():
            children.setdefault(stat.ppid, []).append(stat)
        found: dict[int, int] = {}
        for stat in stats.values():
            if stat.state == "Z" or stat.start_ticks < self.root_start:
                continue
            if self.root_pid in (stat.pgid, stat.sid):
                found[stat.pid] = stat.start_ticks
        roots = [self.root_pid, *self.known]
        while roots:
            pid = roots.pop()
            for child in children.get(pid, ()):
                if child.pid not in found and child.state != "Z":
                    found[child.pid] = child.start_ticks
                    roots.append(child.pid)
        if deep:
            for stat in stats.values():
                if (
                    stat.pid not in found
                    and stat.state != "Z"
                    and environ_has(stat.pid, self.token)
                ):
                    found[stat.pid] = stat.start_ticks
        for pid, start in found.items():
            member = stats.get(pid)
            if member is not None and member.sid != self.root_pid and start >= self.root_start:
                self.outside_session.add(pid)
        return found


def signal_members(members: dict[int, int], sig: int, *, skip: int | None = None) -> int:
    """Send ``sig`` to each member that is still the same process; returns how many."""
    sent = 0
    for pid, start in members.items():
        if pid == skip:
            continue
        stat = read_stat(pid)
        if stat is None or stat.start_ticks != start:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            sent += 1
    return sent


def reap_our_zombies(members: dict[int, int]) -> float:
    """Reap members that re-parented to us (we are a subreaper); returns their CPU seconds.

    Only pids known to be members of this tree are waited for, so no other
    thread's child is ever stolen.
    """
    me, cpu_s = os.getpid(), 0.0
    for pid, start in members.items():
        stat = read_stat(pid)
        if stat is None or stat.start_ticks != start or stat.ppid != me or stat.state != "Z":
            continue
        with contextlib.suppress(ChildProcessError):
            waited, _status, usage = os.wait4(pid, os.WNOHANG)
            if waited == pid:
                cpu_s += usage.ru_utime + usage.ru_stime
    return cpu_s
