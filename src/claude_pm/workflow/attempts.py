"""One attempt of a task, as the engine sees it: what it asks the runner, and what its end means.

- :func:`build_request`: the task as an :class:`~claude_pm.agents.values.AgentRequest`:
  its context plus ``dependency_results`` (see :func:`dependency_entry`), its
  limits, its backend, and the budget it reserved.
- :func:`decide`: how an attempt that ended leaves its task: completed,
  failed, cancelled, or retried (and when). Only failures that are not the
  task's own fault are retried: a spawn error (and a timeout, when the engine
  is told so) against the task's ``retries``, with exponential backoff; a
  backend's ``rate_limited`` or ``overloaded`` error through the shared
  limiter (:mod:`claude_pm.workflow.governance`), against its own cap.
- :func:`can_write` and :func:`uses_model`: what an agent definition implies
  for write safety and for the budget.

``dependency_results`` is one of the context keys every agent sees
(:data:`~claude_pm.agents.definition.BASE_CONTEXT_KEYS`): for each dependency,
its ``status``, a one-line ``summary``, the tail of its ``output`` (at most
``dependency_output_bytes``; ``output_truncated`` says when it was cut), its
``tickets`` (ids), its ``log_paths`` (the whole output is there) and, for an
isolated task that changed something, its ``branch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.agents.backends import BACKENDS
from claude_pm.agents.values import AgentRequest
from claude_pm.process import ProcessStatus
from claude_pm.workflow.governance import RATE_LIMIT_KINDS
from claude_pm.workflow.spec import TaskSpec, TaskStatus

if TYPE_CHECKING:
    from claude_pm.agents.definition import AgentDefinition
    from claude_pm.agents.runs import RunRecord
    from claude_pm.agents.values import AgentResult
    from claude_pm.workflow.governance import Reservation
    from claude_pm.workflow.outcome import WorktreeNote

#: The context key under which a dependent task finds its dependencies' results.
DEPENDENCY_RESULTS_KEY = "dependency_results"

#: Claude Code tools that change files (an agent with none of them is read-only).
WRITE_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit", "Bash"})


def can_write(definition: AgentDefinition) -> bool:
    """Whether an agent may change files: any tool when it lists none, else a writing tool.

    A ``command`` agent's program is taken at its definition's word: it writes
    unless the definition lists tools and none of them writes.
    """
    if definition.tools is None:
        return True
    return any(tool in WRITE_TOOLS for tool in definition.tools)


def uses_model(backend: str) -> bool:
    """Whether the backend calls a paid model (its runs spend from the budget)."""
    info = BACKENDS.get(backend)
    return info is not None and info.uses_model


def tail_text(text: str, max_bytes: int) -> tuple[str, bool]:
    """The last ``max_bytes`` of ``text`` in UTF-8, cut at a character; whether it was cut."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= max_bytes:
        return text, False
    return data[-max_bytes:].decode("utf-8", errors="ignore"), True


def _file_tail(path: str | None, max_bytes: int) -> tuple[str, bool]:
    if not path:
        return "", False
    try:
        with Path(path).open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return "", False
    return data.decode("utf-8", errors="ignore"), size > max_bytes


def ticket_ids(result: AgentResult) -> list[str]:
    """The ids of the tickets a run stored (new, then counted again), each once.

    The run's summary keeps the first ids of each kind (``claude-pm tickets list
    --run RUN_ID`` lists them all).
    """
    return list(dict.fromkeys((*result.tickets.created_ids, *result.tickets.filed_ids)))


def dependency_entry(
    task_id: str,
    result: AgentResult | None,
    record: RunRecord | None,
    worktree: WorktreeNote | None,
    max_bytes: int,
) -> dict[str, Any]:
    """What a dependent sees of one completed dependency (see the module docstring)."""
    entry: dict[str, Any] = {"task_id": task_id, "status": TaskStatus.COMPLETED.value}
    if result is not None:
        output, cut = tail_text(result.process.stdout_tail, max_bytes)
        entry.update(
            agent_type=result.definition.agent_type,
            run_id=result.run_id,
            summary=result.summary(),
            output=output,
            output_truncated=cut or result.process.stdout_truncated,
            tickets=ticket_ids(result),
            log_paths={
                "stdout": str(result.process.stdout_path),
                "stderr": str(result.process.stderr_path),
                "run_dir": str(result.run_dir),
            },
        )
    elif record is not None:
        output, cut = _file_tail(record.stdout_path, max_bytes)
        entry.update(
            agent_type=record.agent_type,
            run_id=record.run_id,
            summary=f"agent {record.agent_type} completed (in an earlier run of this workflow)",
            output=output,
            output_truncated=cut,
            tickets=[],
            log_paths={
                "stdout": record.stdout_path,
                "stderr": record.stderr_path,
                "run_dir": record.run_dir,
            },
        )
    if worktree is not None and worktree.branch is not None:
        entry["branch"] = worktree.branch.name
    return entry


def build_request(
    task: TaskSpec,
    reservation: Reservation,
    dependency_results: Mapping[str, Mapping[str, Any]],
) -> AgentRequest:
    """The attempt's request: the task's own fields, ``dependency_results``, its budget."""
    context = dict(task.context)
    if task.dependencies:
        context[DEPENDENCY_RESULTS_KEY] = {k: dict(v) for k, v in dependency_results.items()}
    return AgentRequest(
        agent_type=task.agent_type,
        task_description=task.task_description,
        context=context,
        timeout_s=task.timeout_s,
        memory_limit_mb=task.memory_limit_mb,
        budget_usd=reservation.cap_usd,
        backend=task.backend,
    )


@dataclass(frozen=True)
class EngineOptions:
    """How the engine runs workflows, beyond what a workflow says.

    ``retry_timeouts`` makes a timeout count as a failure worth a retry (it
    uses one of the task's ``retries``). Retried spawn errors and timeouts wait
    ``backoff_base_s`` x 2^n, at most ``backoff_max_s``. A task is retried after
    rate-limit or overload errors at most ``rate_limit_retries`` times, each
    after the limiter's pause (``rate_limit_pause_s`` when the backend did not
    say how long). ``dependency_output_bytes`` caps the output tail each
    dependency shows in ``dependency_results``. ``poll_s`` is how often the
    journal is read for a ``workflow cancel`` request.
    """

    retry_timeouts: bool = False
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    rate_limit_retries: int = 5
    rate_limit_pause_s: float = 5.0
    dependency_output_bytes: int = 4096
    poll_s: float = 0.25


@dataclass(frozen=True)
class Decision:
    """How an ended attempt leaves its task.

    ``retry`` is ``retries`` or ``rate_limit`` when the task starts again
    (``backoff_s`` from now, or after the limiter's pause); otherwise
    ``status`` is how the task ended and ``reason`` why (for a failure).
    """

    status: TaskStatus
    reason: str | None = None
    retry: str | None = None
    backoff_s: float = 0.0


def backoff_s(retries_used: int, base_s: float, max_s: float) -> float:
    """Exponential backoff before retry ``retries_used + 1``: base, 2 x base, 4 x base... capped."""
    return float(min(max_s, base_s * 2**retries_used))


def decide(
    result: AgentResult,
    task: TaskSpec,
    *,
    retries_used: int,
    rate_limit_retries_used: int,
    rate_limit_retries: int,
    retry_timeouts: bool,
    cancelling: bool,
    backoff_base_s: float,
    backoff_max_s: float,
) -> Decision:
    """Completed, failed, cancelled, or worth another attempt (see the module docstring)."""
    status = result.process.status
    if status is ProcessStatus.COMPLETED:
        return Decision(TaskStatus.COMPLETED)
    if status is ProcessStatus.CANCELLED or cancelling:
        return Decision(TaskStatus.CANCELLED, result.summary())
    kind = result.report.error_kind if result.report is not None else None
    if kind in RATE_LIMIT_KINDS:
        if rate_limit_retries_used < rate_limit_retries:
            return Decision(TaskStatus.READY, retry="rate_limit")
        return Decision(
            TaskStatus.FAILED,
            f"{result.summary()} ({kind} {rate_limit_retries_used + 1} times; not retried again)",
        )
    transient = status is ProcessStatus.SPAWN_ERROR or (
        retry_timeouts and status is ProcessStatus.TIMEOUT
    )
    if transient and retries_used < task.retries:
        return Decision(
            TaskStatus.READY,
            retry="retries",
            backoff_s=backoff_s(retries_used, backoff_base_s, backoff_max_s),
        )
    reason = result.summary()
    if transient and task.retries:
        reason += f" (after {task.retries} retr{'y' if task.retries == 1 else 'ies'})"
    return Decision(TaskStatus.FAILED, reason)


__all__ = [
    "DEPENDENCY_RESULTS_KEY",
    "WRITE_TOOLS",
    "Decision",
    "EngineOptions",
    "backoff_s",
    "build_request",
    "can_write",
    "decide",
    "dependency_entry",
    "tail_text",
    "ticket_ids",
    "uses_model",
]
