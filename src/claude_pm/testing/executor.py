"""An executor for testing workflows: scripted outcomes, in the calling thread, no processes.

:class:`InThreadExecutor` is an honest second
:class:`~claude_pm.workflow.executors.base.TaskExecutor`: the engine prepares,
journals and finishes each attempt exactly as with the local executor, and
``submit`` runs the attempt at once, in the engine's thread, from its script:
it writes what a real agent run leaves in its run directory (``stdout.log``
and ``stderr.log``, so tickets are extracted and output tails shown as for a
real run; ``result.json`` when the outcome reports a cost, an error kind or a
rate limit) and builds the :class:`~claude_pm.process.ProcessResult` a
supervisor would return, with the scripted status and exit code, no pid and no
memory measured (enforcement ``none``). Nothing is spawned, so limits, trees
and memory are not exercised: use real agents
(:func:`~claude_pm.testing.write_python_agent`) for those::

    from claude_pm.testing import InThreadExecutor, Outcome
    from claude_pm.workflow.engine import WorkflowEngine

    executor = InThreadExecutor({
        "qa": Outcome(output="TODO: add a test for the parser\\n"),
        "engineer": [Outcome("failed", error_kind="rate_limited", retry_after_s=0), Outcome()],
    })
    engine = WorkflowEngine(settings, registry, database, executor=executor)
    result = engine.run({"workflow_description": "w", "agent_tasks": [...]})

The script maps an agent type to its outcome, to a list of outcomes (one per
attempt, the last one repeating), or to a function of the
:class:`~claude_pm.agents.values.PreparedRun`; ``default`` answers for an agent
the script does not name. ``submitted`` lists every attempt it was given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from claude_pm.agents.handoff import BackendReport, RateLimitEvent
from claude_pm.process import Enforcement, ProcessResult, ProcessStatus
from claude_pm.workflow.executors.base import Launch

if TYPE_CHECKING:
    from claude_pm.agents.values import PreparedRun, ProgressCallback
    from claude_pm.cancel import CancelToken


@dataclass(frozen=True)
class Outcome:
    """How one scripted attempt ends.

    ``exit_code`` defaults to 0 for ``completed``, 1 for ``failed``, none for
    the others. ``cost_usd``, ``error_kind`` (``rate_limited``, ``overloaded``...)
    and ``retry_after_s`` go into the run's ``result.json``, as a backend
    writes them. ``wall_time_s`` is reported, not slept.
    """

    status: ProcessStatus | str = ProcessStatus.COMPLETED
    output: str = ""
    errors: str = ""
    exit_code: int | None = None
    cost_usd: float | None = None
    error_kind: str | None = None
    retry_after_s: float | None = None
    wall_time_s: float = 0.0


Scripted = Outcome | Sequence[Outcome] | Callable[["PreparedRun"], Outcome]


class InThreadExecutor:
    """Runs scripted attempts in the caller's thread (see the module docstring); thread-safe."""

    name = "in-thread"

    def __init__(
        self,
        script: Mapping[str, Scripted] | None = None,
        *,
        default: Outcome | None = None,
    ) -> None:
        self.script = dict(script or {})
        self.default = default if default is not None else Outcome()
        self.submitted: list[PreparedRun] = []
        self._attempts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False

    def outcome_for(self, prepared: PreparedRun) -> Outcome:
        """The scripted outcome of this attempt."""
        agent = prepared.definition.agent_type
        with self._lock:
            n = self._attempts.get(agent, 0)
            self._attempts[agent] = n + 1
        entry = self.script.get(agent, self.default)
        if isinstance(entry, Outcome):
            return entry
        if callable(entry):
            return entry(prepared)
        if not entry:
            return self.default
        return entry[min(n, len(entry) - 1)]

    def submit(
        self,
        prepared: PreparedRun,
        *,
        cancel: CancelToken,
        on_progress: ProgressCallback | None = None,
    ) -> Future[Launch]:
        if self._closed:
            raise RuntimeError("the executor was shut down")
        with self._lock:
            self.submitted.append(prepared)
        future: Future[Launch] = Future()
        try:
            outcome = Outcome(ProcessStatus.CANCELLED) if cancel.is_set() else None
            future.set_result(Launch(_process(prepared, outcome or self.outcome_for(prepared))))
        except Exception as e:
            future.set_exception(e)
        return future

    def shutdown(self, *, cancel: bool) -> None:
        self._closed = True


def _process(prepared: PreparedRun, outcome: Outcome) -> ProcessResult:
    """Leave the run's files as a real run would, and describe it as the supervisor would."""
    run_dir = prepared.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = run_dir / "stdout.log", run_dir / "stderr.log"
    stdout_path.write_text(outcome.output, encoding="utf-8")
    stderr_path.write_text(outcome.errors, encoding="utf-8")
    if outcome.cost_usd is not None or outcome.error_kind is not None:
        limits: tuple[RateLimitEvent, ...] = ()
        if outcome.error_kind is not None:
            limits = (
                RateLimitEvent(
                    kind=outcome.error_kind, at=time.time(), retry_after_s=outcome.retry_after_s
                ),
            )
        BackendReport(
            backend=prepared.backend,
            cost_usd=outcome.cost_usd,
            error=f"scripted {outcome.error_kind}" if outcome.error_kind else None,
            error_kind=outcome.error_kind,
            rate_limits=limits,
        ).write(prepared.handoff.result_file)
    status = ProcessStatus(outcome.status)
    code = outcome.exit_code
    if code is None:
        code = {ProcessStatus.COMPLETED: 0, ProcessStatus.FAILED: 1}.get(status)
    tail = prepared.spec.tail_bytes
    return ProcessResult(
        status=status,
        exit_code=code,
        signal=None,
        pid=None,
        wall_time_s=outcome.wall_time_s,
        cpu_time_s=0.0,
        peak_rss_bytes=0,
        peak_rss_sources={},
        enforcement=Enforcement.NONE,
        stdout_tail=outcome.output[-tail:],
        stderr_tail=outcome.errors[-tail:],
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        stdout_truncated=len(outcome.output) > tail,
        stderr_truncated=len(outcome.errors) > tail,
        error=(outcome.errors or "scripted spawn error")
        if status is ProcessStatus.SPAWN_ERROR
        else None,
    )


__all__ = ["InThreadExecutor", "Outcome", "Scripted"]
