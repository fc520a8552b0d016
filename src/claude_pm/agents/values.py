"""The values of one agent run, orchestrator side.

What is asked (:class:`AgentRequest`), what is ready to launch
(:class:`PreparedRun`: frozen and picklable, so a workflow executor can hand it
to another thread, process or Ray worker), what it became (:class:`AgentResult`)
and what it reports on the way (:class:`RunProgress`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claude_pm.agents.definition import AgentDefinition
from claude_pm.agents.handoff import BackendReport, Handoff
from claude_pm.process import MemoryLimits, ProcessResult, ProcessSpec, ProcessStatus
from claude_pm.tickets.summary import TicketSummary


@dataclass(frozen=True)
class AgentRequest:
    """What the caller asks for. Limits left as None come from the definition, then settings.

    ``backend`` overrides the configured default for an agent whose definition
    pins none (a definition's own ``backend`` always wins).
    """

    agent_type: str
    task_description: str
    context: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None
    memory_limit_mb: float | None = None
    memory_warning_mb: float | None = None
    memory_critical_mb: float | None = None
    budget_usd: float | None = None
    backend: str | None = None


@dataclass(frozen=True)
class PreparedRun:
    """A run checked and ready: nothing spawned, nothing written yet.

    ``spec`` is what the supervisor runs (the executor, in the project, under
    the limits); ``handoff`` what the executor reads.
    """

    run_id: str
    definition: AgentDefinition
    request: AgentRequest
    backend: str
    handoff: Handoff
    spec: ProcessSpec

    @property
    def run_dir(self) -> Path:
        return self.spec.run_dir

    @property
    def timeout_s(self) -> float:
        return float(self.spec.timeout_s or 0.0)

    @property
    def memory(self) -> MemoryLimits:
        return self.spec.memory


@dataclass(frozen=True)
class RunProgress:
    """Something worth telling the caller while a run goes on (a memory reading, a warning...).

    ``kind`` is the supervisor's event kind (``sample`` for a plain reading);
    ``rss_bytes`` and ``process_count`` describe the tree when measured.
    """

    kind: str
    message: str
    elapsed_s: float
    rss_bytes: int | None = None
    process_count: int | None = None


ProgressCallback = Callable[[RunProgress], None]


@dataclass(frozen=True)
class AgentResult:
    """The outcome of one agent run; ``process`` holds every measured fact.

    ``report`` is what the backend wrote about itself (model, usage, cost...),
    None when it wrote nothing; ``report_error`` says why a report that was
    there could not be read. ``tickets`` sums up the findings in the output:
    counts, the ids it filed and the first few tickets, never all of them
    (``claude-pm tickets list --run RUN_ID`` has them all); ``ticket_error``
    says why they could not all be stored.
    """

    run_id: str
    definition: AgentDefinition
    task_description: str
    process: ProcessResult
    run_dir: Path
    timeout_s: float
    memory: MemoryLimits
    backend: str
    report: BackendReport | None = None
    report_error: str | None = None
    tickets: TicketSummary = field(default_factory=TicketSummary)
    ticket_error: str | None = None
    record_error: str | None = None

    @property
    def success(self) -> bool:
        return self.process.status is ProcessStatus.COMPLETED

    @property
    def status(self) -> ProcessStatus:
        return self.process.status

    def summary(self) -> str:
        """One sentence on how the run ended, for errors and the CLI."""
        p = self.process
        name = self.definition.agent_type
        if p.status is ProcessStatus.COMPLETED:
            return f"agent {name} completed in {p.wall_time_s:.2f}s"
        if p.status is ProcessStatus.TIMEOUT:
            return f"agent {name} timed out after {self.timeout_s:g}s and was killed"
        if p.status is ProcessStatus.MEMORY_EXCEEDED:
            return (
                f"agent {name} exceeded its memory limit of {self.memory.hard_limit_mb:g} MB "
                f"(peak {p.peak_rss_mb:.1f} MB, enforced by {p.enforcement}) and was killed"
            )
        if p.status is ProcessStatus.CANCELLED:
            return f"agent {name} was cancelled and its process tree killed"
        if p.status is ProcessStatus.SPAWN_ERROR:
            return f"agent {name} could not be started: {p.error}"
        if self.report is not None and self.report.error:
            return f"agent {name} failed: {self.report.error}"
        if p.signal is not None:
            return f"agent {name} was killed by {signal_name(p.signal)}"
        return f"agent {name} failed with exit code {p.exit_code}"


def signal_name(signum: int) -> str:
    """``SIGKILL`` for 9 (``signal 64`` for a number without a name)."""
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


__all__ = [
    "AgentRequest",
    "AgentResult",
    "PreparedRun",
    "ProgressCallback",
    "RunProgress",
    "signal_name",
]
