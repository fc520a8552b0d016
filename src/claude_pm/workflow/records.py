"""The journal's rows: statuses, records, and the tables they live in (the journal's migration).

:mod:`claude_pm.workflow.journal` reads and writes them; this module holds the
values and the schema only. The tables are the journal's own migration in the
state database (:data:`JOURNAL_MIGRATION`)::

    workflows          one row per workflow: its normalized input and hash, status,
                       orchestrator identity, budget, cancel request
    workflow_tasks     one row per task: status, attempts, why it was skipped, last run,
                       cost, the worktree note (base, dirty, the branch it left)
    workflow_attempts  one row per attempt: run id (whose record in ``runs`` holds
                       the identity of its process tree), worktree (path, repo, base),
                       outcome, cost, backend session;
                       each row has its start and end, so attempts are their own log
    workflow_effects   side effects under idempotency keys (the tickets an attempt
                       stores, the branch it leaves): intended, done or in doubt
    workflow_events    the append-only log of the workflow's and its tasks' changes
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from claude_pm.state.migrations import Migration, register
from claude_pm.workflow.outcome import WorkflowStatus
from claude_pm.workflow.spec import TaskStatus

#: The migration that creates the journal (migrations are numbered globally).
JOURNAL_MIGRATION = 5


class AttemptStatus(StrEnum):
    """How one attempt of a task ended: a process status, or one of the journal's own."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    MEMORY_EXCEEDED = "memory_exceeded"
    CANCELLED = "cancelled"
    SPAWN_ERROR = "spawn_error"
    #: The orchestrator died while it ran; a later orchestrator killed what was left.
    INTERRUPTED = "interrupted"
    #: Refused before it was spawned (its context or hand-off could not be prepared).
    REFUSED = "refused"


class EffectStatus(StrEnum):
    INTENDED = "intended"
    DONE = "done"
    #: Intended by an orchestrator that died, and not provably done: never repeated.
    IN_DOUBT = "in_doubt"


@dataclass(frozen=True)
class WorkflowRecord:
    workflow_id: str
    description: str
    status: WorkflowStatus
    input: Mapping[str, Any]
    input_hash: str
    coordination_mode: str
    mode_used: str
    created_at: float
    orchestrator: str | None = None
    budget_usd: float | None = None
    executor: str = "local"
    project_root: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    cancel_requested_at: float | None = None
    cancel_reason: str | None = None
    resumes: int = 0


@dataclass(frozen=True)
class TaskRecord:
    workflow_id: str
    task_id: str
    position: int
    agent_type: str
    status: TaskStatus
    attempts: int = 0
    interrupted: bool = False
    reason: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    run_id: str | None = None
    cost_usd: float | None = None
    worktree: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class AttemptRecord:
    workflow_id: str
    task_id: str
    attempt: int
    status: AttemptStatus
    started_at: float
    run_id: str | None = None
    finished_at: float | None = None
    worktree_path: str | None = None
    worktree_repo: str | None = None
    worktree_base: str | None = None
    cost_usd: float | None = None
    reserved_usd: float | None = None
    backend_session_id: str | None = None
    error: str | None = None
    #: Why this attempt was followed by another: ``retries`` or ``rate_limit``.
    retry_kind: str | None = None


@dataclass(frozen=True)
class EffectRecord:
    workflow_id: str
    key: str
    kind: str
    task_id: str
    attempt: int
    status: EffectStatus
    detail: Mapping[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    done_at: float | None = None


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS workflows (
        workflow_id TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        status TEXT NOT NULL,
        input TEXT NOT NULL,
        input_hash TEXT NOT NULL,
        coordination_mode TEXT NOT NULL,
        mode_used TEXT NOT NULL,
        orchestrator TEXT,
        budget_usd REAL,
        executor TEXT NOT NULL DEFAULT 'local',
        project_root TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        cancel_requested_at REAL,
        cancel_reason TEXT,
        resumes INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS workflows_by_status ON workflows(status, created_at)",
    """CREATE TABLE IF NOT EXISTS workflow_tasks (
        workflow_id TEXT NOT NULL REFERENCES workflows(workflow_id) ON DELETE CASCADE,
        task_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        agent_type TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        interrupted INTEGER NOT NULL DEFAULT 0,
        reason TEXT,
        started_at REAL,
        finished_at REAL,
        run_id TEXT,
        cost_usd REAL,
        worktree TEXT,
        PRIMARY KEY (workflow_id, task_id)
    )""",
    """CREATE TABLE IF NOT EXISTS workflow_attempts (
        workflow_id TEXT NOT NULL REFERENCES workflows(workflow_id) ON DELETE CASCADE,
        task_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        status TEXT NOT NULL,
        started_at REAL NOT NULL,
        run_id TEXT,
        finished_at REAL,
        worktree_path TEXT,
        worktree_repo TEXT,
        worktree_base TEXT,
        cost_usd REAL,
        reserved_usd REAL,
        backend_session_id TEXT,
        error TEXT,
        retry_kind TEXT,
        PRIMARY KEY (workflow_id, task_id, attempt)
    )""",
    """CREATE TABLE IF NOT EXISTS workflow_effects (
        workflow_id TEXT NOT NULL REFERENCES workflows(workflow_id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        task_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        status TEXT NOT NULL,
        detail TEXT,
        created_at REAL NOT NULL,
        done_at REAL,
        PRIMARY KEY (workflow_id, key)
    )""",
    """CREATE TABLE IF NOT EXISTS workflow_events (
        seq INTEGER PRIMARY KEY,
        workflow_id TEXT NOT NULL REFERENCES workflows(workflow_id) ON DELETE CASCADE,
        at REAL NOT NULL,
        task_id TEXT,
        attempt INTEGER,
        kind TEXT NOT NULL,
        detail TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS workflow_events_by_workflow ON workflow_events(workflow_id, seq)",
)


def _create_tables(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)


register(
    Migration(
        JOURNAL_MIGRATION,
        "workflow",
        "the workflow journal: workflows, tasks, attempts, effects, events",
        _create_tables,
    )
)


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def workflow_from_row(row: sqlite3.Row) -> WorkflowRecord:
    data = dict(row)
    data["status"] = WorkflowStatus(data["status"])
    data["input"] = loads(data["input"]) or {}
    return WorkflowRecord(**data)


def task_from_row(row: sqlite3.Row) -> TaskRecord:
    data = dict(row)
    data["status"] = TaskStatus(data["status"])
    data["interrupted"] = bool(data["interrupted"])
    data["worktree"] = loads(data["worktree"])
    return TaskRecord(**data)


def attempt_from_row(row: sqlite3.Row) -> AttemptRecord:
    data = dict(row)
    data["status"] = AttemptStatus(data["status"])
    return AttemptRecord(**data)


def effect_from_row(row: sqlite3.Row) -> EffectRecord:
    data = dict(row)
    data["status"] = EffectStatus(data["status"])
    data["detail"] = loads(data["detail"]) or {}
    return EffectRecord(**data)


__all__ = [
    "JOURNAL_MIGRATION",
    "AttemptRecord",
    "AttemptStatus",
    "EffectRecord",
    "EffectStatus",
    "TaskRecord",
    "WorkflowRecord",
    "attempt_from_row",
    "dumps",
    "effect_from_row",
    "loads",
    "task_from_row",
    "workflow_from_row",
]
