"""The seam between the workflow engine and where its tasks run.

The engine prepares each attempt on the driver (:meth:`AgentRunner.prepare`
and :meth:`AgentRunner.start`: checks, the hand-off, the run record), hands
the frozen, picklable :class:`~claude_pm.agents.values.PreparedRun` to an
executor, and finishes the attempt on the driver when the executor's future
resolves (:meth:`AgentRunner.finish`: the result file, tickets, the record).
An executor only launches: it runs ``prepared.spec`` under claude-pm's own
supervisor where it runs the task, so memory limits and tree kills hold there
too, and gives back a :class:`Launch`.

Cancellation is a :class:`~claude_pm.cancel.CancelToken` per attempt (the
engine sets it for a cancelled workflow); the executor's ``shutdown`` stops
everything it still runs. Neither may leave a process behind.

The engine builds the executor the ``executor`` setting names:
:class:`~claude_pm.workflow.executors.local.LocalExecutor` (threads of the
orchestrator under the engine's own supervisor), or
:class:`~claude_pm.workflow.executors.ray.RayExecutor` for the ``ray_address``
cluster, its module imported only then.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from claude_pm.agents.values import PreparedRun, ProgressCallback
    from claude_pm.cancel import CancelToken
    from claude_pm.process import ProcessResult
    from claude_pm.tickets.model import Ticket


@dataclass(frozen=True)
class Launch:
    """What an executor gives back for one attempt.

    ``tickets_found`` is set by an executor whose logs live elsewhere (a Ray
    worker extracts the tickets where the output is); None means the driver
    extracts them from ``process.stdout_path``. ``node`` names where it ran.
    """

    process: ProcessResult
    tickets_found: tuple[Ticket, ...] | None = None
    node: str | None = None


class TaskExecutor(Protocol):
    """Runs prepared attempts somewhere; thread-safe."""

    name: str

    def submit(
        self,
        prepared: PreparedRun,
        *,
        cancel: CancelToken,
        on_progress: ProgressCallback | None = None,
    ) -> Future[Launch]:
        """Start the attempt; the future resolves when its tree is gone (never raises for
        a process-level failure: that is a ``Launch`` whose process says so)."""
        ...

    def shutdown(self, *, cancel: bool) -> None:
        """Stop accepting work; with ``cancel``, kill what still runs, then wait for it."""
        ...


__all__ = ["Launch", "TaskExecutor"]
