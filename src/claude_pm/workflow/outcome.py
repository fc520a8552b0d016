"""What a workflow run became: each task's outcome, the totals, what it reports on the way.

:class:`WorkflowResult` is what :meth:`~claude_pm.workflow.engine.WorkflowEngine.run`
(and ``resume``) return; :func:`claude_pm.tools.results.workflow_result` turns it
into the tool's dict. A :class:`TaskOutcome` holds the last attempt's
:class:`~claude_pm.agents.values.AgentResult` when this process ran it, or the
stored :class:`~claude_pm.agents.runs.RunRecord` when an earlier orchestrator of
the same workflow did (a resumed workflow), or neither for a task that never ran.

:class:`WorkflowEvent` is what the engine tells an observer as the run goes on
(the CLI's live view, MCP progress notifications); the engine calls its
observer from the thread that called ``run``, never from an executor's thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from claude_pm.workflow.spec import CoordinationMode, TaskStatus

if TYPE_CHECKING:
    from claude_pm.agents.runs import RunRecord
    from claude_pm.agents.values import AgentResult


class WorkflowStatus(StrEnum):
    """Where a workflow run stands."""

    RUNNING = "running"
    #: Every task completed.
    COMPLETED = "completed"
    #: It ended with some task failed or skipped.
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: Its orchestrator died mid-run (found dead later): ``workflow resume`` continues it.
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class KeptBranch:
    """The branch an isolated task's changes were committed to (merging is the user's call)."""

    name: str
    commit: str
    base: str
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "commit": self.commit,
            "base": self.base,
            "files_changed": self.files_changed,
            "insertions": self.insertions,
            "deletions": self.deletions,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeptBranch:
        return cls(
            name=str(data["name"]),
            commit=str(data["commit"]),
            base=str(data["base"]),
            files_changed=int(data.get("files_changed") or 0),
            insertions=int(data.get("insertions") or 0),
            deletions=int(data.get("deletions") or 0),
        )


@dataclass(frozen=True)
class WorktreeNote:
    """How an isolated task's worktree went: its base, and whether the project was dirty."""

    base: str
    dirty: bool
    branch: KeptBranch | None = None
    #: Why the changes could not be kept (a git failure), if they could not.
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "base": self.base,
            "dirty": self.dirty,
            "branch": self.branch.to_dict() if self.branch is not None else None,
        }
        if self.dirty:
            out["note"] = (
                "the project's working tree had uncommitted changes; the task worked on the "
                "last commit and did not see them"
            )
        if self.error:
            out["error"] = self.error
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorktreeNote:
        branch = data.get("branch")
        return cls(
            base=str(data.get("base") or ""),
            dirty=bool(data.get("dirty")),
            branch=KeptBranch.from_dict(branch) if isinstance(branch, Mapping) else None,
            error=data.get("error"),
        )


@dataclass(frozen=True)
class TaskOutcome:
    """One task of a workflow run, as it ended (or stands, for a run cut short).

    ``attempts`` counts every start of the task, earlier orchestrators'
    included. ``interrupted`` says the orchestrator died while an attempt ran
    and this run started it again. ``reason`` says why a task was skipped or
    cancelled, or why its last failure was not retried.
    """

    task_id: str
    agent_type: str
    status: TaskStatus
    attempts: int = 0
    interrupted: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    reason: str | None = None
    result: AgentResult | None = None
    record: RunRecord | None = None
    worktree: WorktreeNote | None = None
    effects_in_doubt: tuple[str, ...] = ()
    cost_usd: float | None = None

    @property
    def ran(self) -> bool:
        """Whether some attempt of the task reached its agent (this run or an earlier one)."""
        return self.result is not None or self.record is not None

    @property
    def run_id(self) -> str | None:
        if self.result is not None:
            return self.result.run_id
        return self.record.run_id if self.record is not None else None


@dataclass(frozen=True)
class WorkflowResult:
    """A workflow run, ended (or stopped by its caller).

    ``makespan_s`` is this run's wall time, from the first start to the last
    end. ``cost_usd`` sums what the backends reported (``None`` when none
    reported a cost). ``resumed`` is true for a run of ``workflow resume``.
    """

    workflow_id: str
    description: str
    status: WorkflowStatus
    coordination_mode: CoordinationMode
    coordination_mode_used: CoordinationMode
    tasks: tuple[TaskOutcome, ...]
    critical_path: tuple[str, ...] = ()
    makespan_s: float = 0.0
    mode_note: str | None = None
    cost_usd: float | None = None
    budget_usd: float | None = None
    rate_limit_pauses: int = 0
    resumed: bool = False
    cancelled_reason: str | None = None
    executor: str = "local"

    def count(self, status: TaskStatus) -> int:
        return sum(1 for t in self.tasks if t.status is status)

    @property
    def completed(self) -> bool:
        return self.status is WorkflowStatus.COMPLETED


class EventKind(StrEnum):
    """What a :class:`WorkflowEvent` reports."""

    STARTED = "started"
    ENDED = "ended"
    RETRYING = "retrying"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    PAUSED = "paused"
    #: A periodic reading of the running tasks (memory, elapsed time).
    TICK = "tick"
    WORKFLOW_ENDED = "workflow_ended"


@dataclass(frozen=True)
class RunningTask:
    """A running task as a tick sees it."""

    task_id: str
    agent_type: str
    attempt: int
    elapsed_s: float
    rss_bytes: int | None = None


@dataclass(frozen=True)
class WorkflowEvent:
    """One thing worth showing while a workflow runs.

    ``done`` counts tasks in a final state, ``total`` all tasks; ``tickets``
    counts the tickets stored by the run so far.
    """

    kind: EventKind
    workflow_id: str
    message: str
    done: int
    total: int
    task_id: str | None = None
    agent_type: str | None = None
    attempt: int = 0
    status: TaskStatus | None = None
    tickets: int = 0
    running: tuple[RunningTask, ...] = field(default=(), hash=False)


__all__ = [
    "EventKind",
    "KeptBranch",
    "RunningTask",
    "TaskOutcome",
    "WorkflowEvent",
    "WorkflowResult",
    "WorkflowStatus",
    "WorktreeNote",
]
