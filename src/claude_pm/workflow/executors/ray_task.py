"""What one attempt does on the Ray worker that got it (Ray itself is not imported here).

:func:`run_attempt` is the body of the Ray task of
:mod:`claude_pm.workflow.executors.ray`:

1. Refuse an attempt whose run directory or project this node does not see
   (``spawn_error``, naming the node and the path): the driver wrote the
   hand-off there and will read the logs and ``result.json`` from there.
2. Run ``prepared.spec`` under a :class:`~claude_pm.process.Supervisor` of
   its own, so memory limits, the timeout and tree kills hold on this node.
   Ray delivers a non-forcing cancel as SIGINT to the worker's main thread
   (``_thread.interrupt_main``); while the attempt runs, a SIGINT handler sets
   the supervisor's cancel token instead of raising KeyboardInterrupt, so the
   supervisor stops the tree (TERM, grace, KILL) and returns a measured
   ``cancelled`` result rather than dying with it.
3. Check the node is clean: a live process whose environment still holds the
   run's id (``CLAUDE_PM_RUN_ID``, inherited by every process of the
   attempt) is killed, and the result gets an ``escaped_processes`` event.
4. Extract the tickets from the full stdout log, where the log is.

:func:`not_run` is the result of an attempt that never ran (refused, or
cancelled before a worker took it), for both sides.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from claude_pm.agents.handoff import ENV_RUN_ID
from claude_pm.process import (
    Enforcement,
    EventKind,
    ProcessEvent,
    ProcessResult,
    ProcessSpec,
    ProcessStatus,
    Supervisor,
)
from claude_pm.process.output import STDERR_NAME, STDOUT_NAME
from claude_pm.process.tree import read_stat, signal_members
from claude_pm.workflow.executors.base import Launch

if TYPE_CHECKING:
    from claude_pm.agents.values import PreparedRun
    from claude_pm.tickets.model import Ticket

log = logging.getLogger(__name__)

#: How long the worker waits for a killed straggler of the attempt to disappear.
_SWEEP_WAIT_S = 2.0


def run_attempt(prepared: PreparedRun, node: str) -> Launch:
    """The attempt, here: supervise it, check the node is clean, extract its tickets."""
    missing = _missing_paths(prepared)
    if missing is not None:
        error = (
            f"{missing} is not there on Ray node {node}: start the run on the driver first "
            "(AgentRunner.start writes the hand-off); a multi-node cluster needs the project "
            "and claude-pm's state directory at the same paths on every node (a shared "
            "filesystem)"
        )
        return replace(not_run(prepared.spec, ProcessStatus.SPAWN_ERROR, error), node=node)
    cancel = threading.Event()
    with _sigint_cancels(cancel):
        process = Supervisor().run(prepared.spec, cancel=cancel)
        process = _sweep(prepared, process, node)
        tickets = _tickets_here(prepared, process)
    return Launch(process, tickets_found=tickets, node=node)


def _missing_paths(prepared: PreparedRun) -> str | None:
    handoff = Path(prepared.handoff.handoff_path)
    if not handoff.is_file():
        return f"the run's hand-off {str(handoff)!r}"
    if not prepared.spec.cwd.is_dir():
        return f"the project {str(prepared.spec.cwd)!r}"
    return None


@contextlib.contextmanager
def _sigint_cancels(cancel: threading.Event) -> Iterator[None]:
    """While inside, SIGINT (how Ray delivers a non-forcing cancel) sets ``cancel``."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Ray runs a plain task in the worker's main thread; nothing to catch elsewhere
        return
    previous = signal.getsignal(signal.SIGINT)

    def handle(_signum: int, _frame: object) -> None:
        cancel.set()

    signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def _sweep(prepared: PreparedRun, process: ProcessResult, node: str) -> ProcessResult:
    """Kill any process of the attempt still on this node; the result says which there were."""
    run_id = prepared.spec.env.get(ENV_RUN_ID)
    if not run_id:
        return process
    marker = f"{ENV_RUN_ID}={run_id}"
    left = marked_processes(marker)
    if not left:
        return process
    signal_members(left, signal.SIGKILL)
    deadline = time.monotonic() + _SWEEP_WAIT_S
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.01)
    alive = sorted(marked_processes(marker))
    message = (
        f"{len(left)} processes of the attempt were alive on node {node} after its supervisor "
        f"returned: killed{f', {len(alive)} would not die' if alive else ''}"
    )
    log.warning("run %s: %s", prepared.run_id, message)
    event = ProcessEvent(
        EventKind.ESCAPED_PROCESSES,
        process.wall_time_s,
        message,
        {"pids": sorted(left), "alive": alive, "node": node},
    )
    return replace(process, events=(*process.events, event))


def marked_processes(marker: str) -> dict[int, int]:
    """Live processes here whose environment holds ``marker`` (``NAME=value``), with start ticks.

    The start ticks (read before the environment) let a kill skip a pid reused since.
    """
    needle, me, found = marker.encode(), os.getpid(), {}
    for name in os.listdir("/proc"):  # noqa: PTH208 - plain names are faster here
        if not name.isdigit() or int(name) == me:
            continue
        stat = read_stat(int(name))
        if stat is None or stat.state == "Z":
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:  # noqa: PTH123 - a hot loop
                if needle in f.read().split(b"\0"):
                    found[stat.pid] = stat.start_ticks
        except OSError:
            continue
    return found


def _tickets_here(prepared: PreparedRun, process: ProcessResult) -> tuple[Ticket, ...] | None:
    """The tickets in the full stdout log, read here; None lets the driver try instead."""
    if process.status is ProcessStatus.SPAWN_ERROR:
        return ()
    from claude_pm.tickets.extractor import extract_path

    try:
        return tuple(extract_path(process.stdout_path, prepared.definition.agent_type))
    except OSError as e:
        log.warning("run %s: tickets not extracted on the worker: %s", prepared.run_id, e)
        return None


def not_run(spec: ProcessSpec, status: ProcessStatus, error: str) -> Launch:
    """An attempt that never ran: nothing measured, no output, no tickets."""
    process = ProcessResult(
        status=status,
        exit_code=None,
        signal=None,
        pid=None,
        wall_time_s=0.0,
        cpu_time_s=0.0,
        peak_rss_bytes=0,
        peak_rss_sources={},
        enforcement=Enforcement.NONE,
        stdout_tail="",
        stderr_tail="",
        stdout_path=spec.run_dir / STDOUT_NAME,
        stderr_path=spec.run_dir / STDERR_NAME,
        stdout_truncated=False,
        stderr_truncated=False,
        error=error,
    )
    return Launch(process, tickets_found=())


__all__ = ["marked_processes", "not_run", "run_attempt"]
