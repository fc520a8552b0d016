"""The local executor: attempts run in a thread pool of this process, under the engine's supervisor.

Each attempt takes one thread of a pool bounded by the workflow's
concurrency and runs :meth:`AgentRunner.launch` there: the runner's launcher is
the engine's own :class:`~claude_pm.process.Supervisor`, so shutting this
executor down with ``cancel`` kills exactly this workflow's trees and no one
else's. ``launch`` records each tree's identity in the run's record as soon as
the supervisor announces it, so a later process can reclaim the tree should
this one die (:mod:`claude_pm.workflow.reclaim`).
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from claude_pm.workflow.executors.base import Launch

if TYPE_CHECKING:
    from claude_pm.agents.runner import AgentRunner
    from claude_pm.agents.values import PreparedRun, ProgressCallback
    from claude_pm.cancel import CancelToken
    from claude_pm.process import Supervisor
    from claude_pm.workflow.executors.base import TaskExecutor


class LocalExecutor:
    """Runs attempts in threads of this process (see the module docstring); thread-safe."""

    name = "local"

    def __init__(self, runner: AgentRunner, supervisor: Supervisor, *, max_workers: int) -> None:
        self.runner = runner
        self.supervisor = supervisor
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
        process = self.runner.launch(prepared, cancel=cancel, on_progress=on_progress)
        return Launch(process=process, node=os.uname().nodename)

    def shutdown(self, *, cancel: bool) -> None:
        if cancel:
            self.supervisor.shutdown()
        with contextlib.suppress(RuntimeError):
            self._pool.shutdown(wait=True, cancel_futures=cancel)


if TYPE_CHECKING:

    def _is_a_task_executor(executor: LocalExecutor) -> TaskExecutor:
        return executor  # mypy checks that LocalExecutor satisfies the Protocol


__all__ = ["LocalExecutor"]
