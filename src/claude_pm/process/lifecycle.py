"""Trees that are alive right now, and how they die with the orchestrator.

Every run registers itself while its tree may be alive, process-wide (for
signals and exit) and with the :class:`ShutdownLatch` of the supervisor that
started it. Four paths end them:

* An exception in the thread calling ``Supervisor.run`` (KeyboardInterrupt,
  SystemExit, anything): its ``finally`` kills the tree before propagating.
* ``Supervisor.shutdown()``: that supervisor's latch is set (its runs in
  progress return CANCELLED, and so does every run it is asked for later) and
  its live trees are killed. Other supervisors in the process go on: a
  long-lived server or workflow engine owns its own.
* :func:`install_signal_handlers` (entry points call it from the main thread):
  SIGTERM, SIGINT and SIGHUP call :func:`request_shutdown` — every latch is
  set and every live tree killed (TERM, up to ``SHUTDOWN_GRACE_S``, KILL),
  its groups removed — then the main thread gets SystemExit(128 + signal)
  (KeyboardInterrupt for SIGINT).
* An ``atexit`` hook SIGKILLs whatever is still registered (runs in daemon
  threads, or a run whose thread never got to its ``finally``) and removes
  its groups.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
import time
import weakref
from types import FrameType
from typing import Protocol

log = logging.getLogger(__name__)

#: Grace between TERM and KILL once the orchestrator itself is stopping. Short on
#: purpose: a parent such as Claude Code sends SIGINT, SIGTERM 0.1 s later and
#: SIGKILL 0.5 s after the SIGINT, and agents must be dead before that.
SHUTDOWN_GRACE_S = 0.25


class LiveTree(Protocol):
    owner_thread: int

    def emergency_kill(self, grace_s: float) -> None: ...


_live: dict[int, LiveTree] = {}
_lock = threading.RLock()  # a signal handler may run while this thread holds it
_atexit_installed = False
_latches: weakref.WeakSet[ShutdownLatch] = weakref.WeakSet()


def _kill(trees: list[LiveTree], grace_s: float) -> int:
    for tree in trees:
        try:
            tree.emergency_kill(grace_s)
        except Exception:
            log.exception("could not kill a supervised tree")
    return len(trees)


class ShutdownLatch:
    """One supervisor's shutdown state: once set, its runs end and new ones are refused.

    One-way on purpose: a supervisor that was shut down stays so; make a new
    one to run again.
    """

    def __init__(self) -> None:
        self._set = threading.Event()
        self._trees: dict[int, LiveTree] = {}
        with _lock:
            _latches.add(self)

    def is_set(self) -> bool:
        return self._set.is_set()

    def register(self, tree: LiveTree) -> None:
        global _atexit_installed
        with _lock:
            _live[id(tree)] = tree
            self._trees[id(tree)] = tree
            if not _atexit_installed:
                atexit.register(kill_live_trees)
                _atexit_installed = True

    def unregister(self, tree: LiveTree) -> None:
        with _lock:
            _live.pop(id(tree), None)
            self._trees.pop(id(tree), None)

    def shutdown(self, grace_s: float) -> int:
        """Set the latch and kill this latch's live trees; returns how many."""
        self._set.set()
        with _lock:
            trees = list(self._trees.values())
        return _kill(trees, grace_s)


def kill_live_trees(grace_s: float = 0.0) -> int:
    """Kill every registered tree of the process now (TERM and ``grace_s`` first).

    Their groups are removed too. Returns how many trees there were. Safe while
    the runs' own threads go on.
    """
    with _lock:
        trees = list(_live.values())
    return _kill(trees, grace_s)


def request_shutdown(grace_s: float = SHUTDOWN_GRACE_S) -> int:
    """The orchestrator process is stopping: shut every supervisor down and kill every tree.

    Runs in progress end CANCELLED, and every supervisor that exists refuses
    new runs: call it only when the process is exiting (signal handlers do).
    To stop the runs of one engine or server, call its own
    ``Supervisor.shutdown()`` instead. Returns how many trees were killed.
    """
    with _lock:
        latches = list(_latches)
    for latch in latches:
        latch._set.set()
    return kill_live_trees(grace_s)


def _handle(signum: int, _frame: FrameType | None) -> None:
    log.warning("signal %d: stopping %d supervised trees", signum, len(_live))
    # Done here, not left to the runs' threads: interrupting Thread.join() in
    # the main thread can let the interpreter exit without joining them.
    request_shutdown()
    _wait_for_other_threads_runs(timeout_s=5.0)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _wait_for_other_threads_runs(timeout_s: float) -> None:
    """Let runs in other threads finish their cleanup and return their results."""
    me = threading.get_ident()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with _lock:
            if all(tree.owner_thread == me for tree in _live.values()):
                return
        time.sleep(0.01)


def install_signal_handlers() -> None:
    """Make SIGTERM/SIGHUP raise SystemExit(128+n) and SIGINT KeyboardInterrupt,
    after asking every supervised run to kill its tree. Call from the main thread."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _handle)
