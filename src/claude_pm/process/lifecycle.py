"""Trees that are alive right now, and how they die with the orchestrator.

Every run registers itself while its tree may be alive. Three paths end them:

* An exception in the thread calling ``run_process`` (KeyboardInterrupt,
  SystemExit, anything): its ``finally`` kills the tree before propagating.
* :func:`install_signal_handlers` (entry points call it from the main thread):
  SIGTERM, SIGINT and SIGHUP set the shutdown flag (runs in worker threads
  return CANCELLED), kill every live tree (TERM, up to ``SHUTDOWN_GRACE_S``,
  KILL) and remove its groups, then the main thread gets
  SystemExit(128 + signal) (KeyboardInterrupt for SIGINT).
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
from types import FrameType
from typing import Protocol

log = logging.getLogger(__name__)

shutdown_requested = threading.Event()

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


def register(tree: LiveTree) -> None:
    global _atexit_installed
    with _lock:
        _live[id(tree)] = tree
        if not _atexit_installed:
            atexit.register(kill_live_trees)
            _atexit_installed = True


def unregister(tree: LiveTree) -> None:
    with _lock:
        _live.pop(id(tree), None)


def kill_live_trees(grace_s: float = 0.0) -> int:
    """Kill every registered tree now (TERM and ``grace_s`` first), remove its groups.

    Returns how many trees there were. Safe while the runs' own threads go on.
    """
    with _lock:
        trees = list(_live.values())
    for tree in trees:
        try:
            tree.emergency_kill(grace_s)
        except Exception:
            log.exception("could not kill a supervised tree at exit")
    return len(trees)


def request_shutdown(grace_s: float = SHUTDOWN_GRACE_S) -> int:
    """The orchestrator is stopping: kill every live tree now and cancel runs still starting.

    Runs in progress end CANCELLED, and any run started afterwards in this
    process is cancelled at once: call it only when the process is exiting.
    Returns how many trees were killed.
    """
    shutdown_requested.set()
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
