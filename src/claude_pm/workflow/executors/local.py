"""The local executor: attempts run in a thread pool of this process, under the engine's supervisor.

Each attempt takes one thread of a pool bounded by the workflow's
concurrency and runs :meth:`AgentRunner.launch` there: the runner's launcher is
the engine's own :class:`~claude_pm.process.Supervisor`, so shutting this
executor down with ``cancel`` kills exactly this workflow's trees and no one
else's.

As soon as an attempt's tree exists (the supervisor's first event after the
spawn, in the same thread), the executor finds its root among this thread's
own children (``/proc/self/task/<tid>/children``: the thread that spawned it)
and hands its :class:`~claude_pm.workflow.reclaim.TreeIdentity` to ``on_tree``,
so the engine can journal who to kill should it die without cleaning up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from claude_pm.agents.values import RunProgress
from claude_pm.process.tree import read_stat
from claude_pm.workflow.executors.base import Launch
from claude_pm.workflow.reclaim import RUN_ID_VARIABLE, TreeIdentity, observe_tree

if TYPE_CHECKING:
    from claude_pm.agents.runner import AgentRunner
    from claude_pm.agents.values import PreparedRun, ProgressCallback
    from claude_pm.cancel import CancelToken
    from claude_pm.process import Supervisor

log = logging.getLogger(__name__)

#: ``on_tree(run_id, identity)``: an attempt's tree was spawned.
TreeCallback = Callable[[str, TreeIdentity], None]


def _spawned_root(run_id: str) -> int | None:
    """The session leader this thread just spawned for run ``run_id``."""
    tid = threading.get_native_id()
    try:
        children = [int(p) for p in Path(f"/proc/self/task/{tid}/children").read_text().split()]
    except (OSError, ValueError):
        return None
    needle = f"{RUN_ID_VARIABLE}={run_id}".encode()
    fallback = None
    for pid in children:
        stat = read_stat(pid)
        if stat is None or stat.sid != pid:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:  # noqa: PTH123
                if needle in f.read().split(b"\0"):
                    return pid
        except OSError:
            fallback = pid
    return fallback


class LocalExecutor:
    """Runs attempts in threads of this process (see the module docstring); thread-safe."""

    name = "local"

    def __init__(
        self,
        runner: AgentRunner,
        supervisor: Supervisor,
        *,
        max_workers: int,
        on_tree: TreeCallback | None = None,
    ) -> None:
        self.runner = runner
        self.supervisor = supervisor
        self.on_tree = on_tree
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="claude-pm-wf")

    def submit(
        self,
        prepared: PreparedRun,
        *,
        cancel: CancelToken,
        on_progress: ProgressCallback | None = None,
    ) -> Future[Launch]:
        return self._pool.submit(self._run, prepared, cancel, on_progress)

    def _run(
        self, prepared: PreparedRun, cancel: CancelToken, on_progress: ProgressCallback | None
    ) -> Launch:
        seen = [False]

        def progress(event: RunProgress) -> None:
            if not seen[0] and event.kind != "sandbox":
                seen[0] = True
                self._report_tree(prepared.run_id)
            if on_progress is not None:
                on_progress(event)

        process = self.runner.launch(prepared, cancel=cancel, on_progress=progress)
        return Launch(process=process, node=os.uname().nodename)

    def _report_tree(self, run_id: str) -> None:
        if self.on_tree is None:
            return
        pid = _spawned_root(run_id)
        identity = observe_tree(pid) if pid is not None else None
        if identity is None:
            log.debug("run %s: its tree's root was not found", run_id)
            return
        try:
            self.on_tree(run_id, identity)
        except Exception:
            log.exception("run %s: recording its tree failed", run_id)

    def shutdown(self, *, cancel: bool) -> None:
        if cancel:
            self.supervisor.shutdown()
        with contextlib.suppress(RuntimeError):
            self._pool.shutdown(wait=True, cancel_futures=cancel)


__all__ = ["LocalExecutor", "TreeCallback"]
