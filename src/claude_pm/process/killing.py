"""Stopping a tree: TERM to every member, a grace, then freeze and KILL until none is left.

Used for timeouts and cancellation (graceful), memory kills (at once), the
members left after the child exited, and emergency kills from a signal handler
or ``atexit``. With cgroups the members are the groups' processes and the
freezer stops them forking between the listing and the KILL; without, they are
found through ``/proc`` and the run's environment token (see ``tree.py``).
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from claude_pm.process.cgroups import RunGroups
from claude_pm.process.child import SETTLE_S, MainChild
from claude_pm.process.tree import TreeTracker, reap_our_zombies, signal_members
from claude_pm.process.types import EventKind

Emit = Callable[..., None]

#: How long members left when the child exited may take to finish exiting on their own.
EXITING_S = 0.2


class TreeKiller:
    """Kills the tree of one run. ``emit(kind, message, level=..., **data)`` reports."""

    def __init__(self, child: MainChild, tracker: TreeTracker, emit: Emit) -> None:
        self.child = child
        self.tracker = tracker
        self.groups: RunGroups | None = tracker.groups
        self.emit = emit

    def _members(self) -> dict[int, int]:
        return self.tracker.members(deep=self.groups is None)

    def _wait_gone(self, grace_s: float) -> bool:
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if self.child.reap(block=False) and not self.tracker.members():
                return True
            self.child.wait_exit(0.02)
        return False

    def stop(self, grace_s: float) -> None:
        """TERM the child and every member, wait up to ``grace_s``, then KILL what is left."""
        if grace_s > 0:
            members = self._members()
            self.child.send(signal.SIGTERM)
            signal_members(members, signal.SIGTERM, skip=self.child.pid)
            if self._wait_gone(grace_s):
                return
        self.kill_all()

    def kill_all(self) -> None:
        """SIGKILL every member, the tree frozen first where a freezer allows it."""
        groups = self.groups
        frozen = groups.freeze() if groups is not None else False
        try:
            if groups is not None:
                groups.kill_all()
            self.child.send(signal.SIGKILL)
            signal_members(self._members(), signal.SIGKILL, skip=self.child.pid)
        finally:
            if frozen and groups is not None:
                groups.thaw()

    def kill_until_empty(self, timeout_s: float = SETTLE_S) -> dict[int, int]:
        """KILL repeatedly until no member but the (unreaped) child is left; returns the rest."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = self._members()
            remaining.pop(self.child.pid, None)
            if not remaining or time.monotonic() >= deadline:
                return remaining
            self.kill_all()
            time.sleep(0.01)

    def _still_exiting(self) -> dict[int, int]:
        """Members other than the child, after giving them :data:`EXITING_S` to finish exiting.

        A member may still be on its way out when the child is reaped (a sandbox's
        PID-namespace init reports the command's exit before it is gone itself):
        that is no process outliving the run.
        """
        deadline = time.monotonic() + EXITING_S
        while True:
            left = self._members()
            left.pop(self.child.pid, None)
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.005)

    def end_tree(self, grace_s: float) -> float:
        """After the child exited, no member may outlive it; returns CPU s of reaped members."""
        left = self._still_exiting() if grace_s > 0 else self._members()
        left.pop(self.child.pid, None)
        if left:
            how = "TERM, then KILL after the grace" if grace_s > 0 else "KILL"
            self.emit(
                EventKind.TREE_KILLED,
                f"{len(left)} processes of the tree outlived the child: {how}",
                count=len(left),
                pids=sorted(left),
            )
            if grace_s > 0:
                signal_members(left, signal.SIGTERM)
                deadline = time.monotonic() + grace_s
                while time.monotonic() < deadline and self.tracker.members():
                    time.sleep(0.01)
        remaining = self.kill_until_empty()
        cpu_s = reap_our_zombies(self.tracker.everyone_seen())
        self._report_escapes(remaining)
        return cpu_s

    def _report_escapes(self, remaining: dict[int, int]) -> None:
        outside = sorted(p for p in self.tracker.outside_session if p != self.child.pid)
        if not remaining and (self.groups is not None or not outside):
            return
        if remaining:
            message = f"{len(remaining)} processes of the tree could not be killed"
        else:
            message = (
                f"{len(outside)} processes had left the session (found and killed); without "
                "cgroups, others that also cleared their environment may have escaped"
            )
        data: dict[str, Any] = {"alive": sorted(remaining), "left_session": outside}
        self.emit(EventKind.ESCAPED_PROCESSES, message, level=logging.WARNING, **data)

    def emergency(self, grace_s: float) -> None:
        """From another thread (signal handler, exit): stop everything, remove the groups."""
        if grace_s > 0:
            signal_members(self._members(), signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline and self.tracker.members():
                time.sleep(0.01)
        self.kill_all()
        self.kill_until_empty()
        if self.groups is not None:
            self.groups.remove()
