"""The workflow as data: tasks, modes, policies, statuses and the limits a workflow must respect.

A :class:`WorkflowSpec` is what :func:`claude_pm.workflow.parse.parse_workflow`
returns once a workflow has passed every check: frozen, picklable (an executor
may move it to another process), every task with an id, every dependency
resolved to a task id, every ``writes`` glob normalized. The values here are
the one source for the workflow vocabulary: the tool's JSON schema reads its
limits, name pattern and enums from this module (and a test holds its field
names to :data:`WORKFLOW_FIELDS` and :data:`TASK_FIELDS`).

Defaults a reader needs to know:

- a task without ``id`` is ``task-<position>`` (``task-0``, ``task-1``, ...);
- ``coordination_mode`` is ``hybrid``, ``failure_policy`` is ``continue``,
  ``retries`` is 0;
- ``max_concurrency`` defaults to the number of CPUs this process may use;
- a task without ``priority`` starts after the tasks that have one; ties go to
  the earlier task in the list;
- ``timeout``, ``memory_limit`` and ``backend`` left out mean "the agent's own"
  (``None`` here: the engine resolves them against the agent definition).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Final


class CoordinationMode(StrEnum):
    """How tasks are run: one at a time, all at once, or as their dependency graph allows."""

    SEQUENTIAL = "sequential"
    PARALLEL = "parallel"
    HYBRID = "hybrid"


class FailurePolicy(StrEnum):
    """What a failed task does to the rest of the workflow."""

    #: Tasks that do not depend on the failure still run.
    CONTINUE = "continue"
    #: Nothing new starts; tasks not started yet are skipped.
    STOP = "stop"


class Isolation(StrEnum):
    """Where a task may work apart from the others."""

    #: Its own git worktree: it may run beside other isolated tasks that write the same paths.
    WORKTREE = "worktree"


class TaskStatus(StrEnum):
    """A task's state in a workflow run; the last four are final."""

    #: Waiting for its dependencies to complete.
    PENDING = "pending"
    #: Its dependencies completed; it waits for a slot, a hold, a writer or its retry time.
    READY = "ready"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    #: Never started, because a dependency did not complete or the workflow stopped.
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """Whether the task will not change state again."""
        return self in FINAL_STATUSES


FINAL_STATUSES: Final[frozenset[TaskStatus]] = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED, TaskStatus.CANCELLED}
)

#: Task ids (and agent types): a letter or digit, then letters, digits, ``_`` or ``-``.
NAME_PATTERN: Final = "^[A-Za-z0-9][A-Za-z0-9_-]*$"
NAME_MAX_CHARS: Final = 64
MAX_TASKS: Final = 1000
TIMEOUT_S_RANGE: Final = (1, 86400)
MEMORY_LIMIT_MB_RANGE: Final = (16, 1048576)
RETRIES_RANGE: Final = (0, 10)
MAX_CONCURRENCY_RANGE: Final = (1, 1024)
#: ``budget_usd`` must be above 0 and at most this.
BUDGET_USD_MAX: Final = 100_000

#: The keys a workflow accepts (tool arguments and workflow files alike).
WORKFLOW_FIELDS: Final = (
    "workflow_description",
    "agent_tasks",
    "coordination_mode",
    "max_concurrency",
    "failure_policy",
    "budget_usd",
)
#: The keys one task accepts.
TASK_FIELDS: Final = (
    "id",
    "agent_type",
    "task",
    "dependencies",
    "priority",
    "context",
    "timeout",
    "memory_limit",
    "retries",
    "backend",
    "writes",
    "isolation",
)

#: Bumped when the normalized form changes, so old hashes never match new specs by accident.
HASH_FORMAT: Final = 1


def default_task_id(position: int) -> str:
    """The id of the task at ``position`` when it has none: ``task-0``, ``task-1``..."""
    return f"task-{position}"


@dataclass(frozen=True)
class TaskSpec:
    """One validated task of a workflow.

    ``dependencies`` are task ids (agent-type references already resolved),
    without repeats. ``writes`` is ``None`` when the task declared nothing
    (it then counts as writing everything if its agent can write) and ``()``
    for a read-only task.
    """

    id: str
    position: int
    agent_type: str
    task_description: str
    dependencies: tuple[str, ...] = ()
    priority: int | None = None
    context: Mapping[str, Any] = field(default_factory=dict, hash=False)
    timeout_s: int | None = None
    memory_limit_mb: int | None = None
    retries: int = 0
    backend: str | None = None
    writes: tuple[str, ...] | None = None
    isolation: Isolation | None = None

    @property
    def isolated(self) -> bool:
        """Whether the task runs in its own worktree."""
        return self.isolation is Isolation.WORKTREE

    @property
    def sort_key(self) -> tuple[bool, int, int]:
        """Start order among ready tasks: priority (lower first, none last), then position."""
        return (self.priority is None, self.priority or 0, self.position)

    def to_dict(self) -> dict[str, Any]:
        """The task in the input's own keys, with every id explicit and dependencies resolved."""
        out: dict[str, Any] = {
            "id": self.id,
            "agent_type": self.agent_type,
            "task": self.task_description,
            "dependencies": list(self.dependencies),
            "retries": self.retries,
        }
        optional: dict[str, Any] = {
            "priority": self.priority,
            "context": copy.deepcopy(dict(self.context)) or None,
            "timeout": self.timeout_s,
            "memory_limit": self.memory_limit_mb,
            "backend": self.backend,
            "writes": None if self.writes is None else list(self.writes),
            "isolation": None if self.isolation is None else str(self.isolation),
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out


@dataclass(frozen=True)
class WorkflowSpec:
    """A workflow that passed every check before running.

    ``max_concurrency`` is the bound to run with (the requested one, else the
    CPU count); ``max_concurrency_requested`` is what the input said, if
    anything. ``input_hash`` identifies the normalized input (see
    :meth:`to_dict`): two inputs that mean the same workflow (ids spelled out
    or defaulted, a dependency named by id or by agent type, ``./src/`` or
    ``src``) share it, and it does not depend on the machine (the CPU-count
    default is not part of it). The journal stores it to recognize a workflow
    on resume.
    """

    description: str
    tasks: tuple[TaskSpec, ...]
    max_concurrency: int
    coordination_mode: CoordinationMode = CoordinationMode.HYBRID
    failure_policy: FailurePolicy = FailurePolicy.CONTINUE
    max_concurrency_requested: int | None = None
    budget_usd: float | None = None

    @cached_property
    def by_id(self) -> Mapping[str, TaskSpec]:
        """The tasks by id."""
        return {t.id: t for t in self.tasks}

    @property
    def task_ids(self) -> tuple[str, ...]:
        """The task ids in input order."""
        return tuple(t.id for t in self.tasks)

    def task(self, task_id: str) -> TaskSpec:
        """The task with this id.

        Raises:
            KeyError: no task has it.
        """
        return self.by_id[task_id]

    @property
    def has_dependencies(self) -> bool:
        """Whether any task depends on another."""
        return any(t.dependencies for t in self.tasks)

    def to_dict(self) -> dict[str, Any]:
        """The normalized input: accepted by ``parse_workflow``, giving an equal spec back.

        Every default that does not depend on the machine is written out;
        ``max_concurrency`` appears only when the input gave it.
        """
        out: dict[str, Any] = {
            "workflow_description": self.description,
            "agent_tasks": [t.to_dict() for t in self.tasks],
            "coordination_mode": str(self.coordination_mode),
            "failure_policy": str(self.failure_policy),
        }
        if self.max_concurrency_requested is not None:
            out["max_concurrency"] = self.max_concurrency_requested
        if self.budget_usd is not None:
            out["budget_usd"] = self.budget_usd
        return out

    @cached_property
    def input_hash(self) -> str:
        """SHA-256 (hex) of the normalized input as canonical JSON."""
        import hashlib  # only the engine asks; the tool schema imports this module too

        canonical = json.dumps(
            {"format": HASH_FORMAT, **self.to_dict()},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
