"""The workflow journal: every state change of a workflow run, stored before it is acted on.

The tables live in the project's state database (migration 5, owned here)::

    workflows          one row per workflow: its normalized input and hash, status,
                       orchestrator identity, budget, cancel request
    workflow_tasks     one row per task: status, attempts, why it was skipped, last run,
                       cost, the branch it left
    workflow_attempts  one row per attempt: run id, worktree (path, repo, base), the
                       identity of its process tree, outcome, cost, backend session
    workflow_effects   side effects under idempotency keys (the tickets an attempt
                       stores, the branch it leaves): intended, done or in doubt
    workflow_events    the append-only log of the workflow's and its tasks' changes (the
                       attempts are their own log: each row has its start and end)

The protocol the engine follows: an attempt is journaled (with its run id and,
for an isolated task, its worktree) before its hand-off is written and its
process spawned; the tree's identity as soon as it is known; an effect as
``intended`` before it is done and ``done`` after. A crash at any point leaves
a journal that says what may be left running (attempts still ``running``),
what may be left on disk (their worktrees) and which effects may be half done
(``intended``): :mod:`claude_pm.workflow.reclaim` reads exactly that.

One :class:`WorkflowJournal` keeps one connection, shared by the engine's
threads under a lock; each write is one short ``BEGIN IMMEDIATE`` transaction
that updates the state rows and appends the event.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from claude_pm.state.migrations import Migration, register
from claude_pm.workflow.outcome import WorkflowStatus
from claude_pm.workflow.spec import TaskStatus

if TYPE_CHECKING:
    from claude_pm.state import Database

#: The migration that creates the journal (migrations are numbered globally).
JOURNAL_MIGRATION = 4


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
    tree: Mapping[str, Any] | None = None
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
        tree TEXT,
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


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class WorkflowJournal:
    """Reads and writes the journal in a :class:`~claude_pm.state.Database`; thread-safe.

    Raises (every method):
        StoreError: the database cannot be read or written (naming the action).
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._lock = threading.RLock()
        self._stack = contextlib.ExitStack()
        self._conn: sqlite3.Connection | None = None

    def close(self) -> None:
        with self._lock:
            self._stack.close()
            self._conn = None

    def __enter__(self) -> WorkflowJournal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self, action: str) -> Any:
        with self._lock, self.database.guard(action):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _single(self, action: str, sql: str, args: Sequence[Any]) -> None:
        """One statement, its own transaction (the connection is in autocommit mode)."""
        with self._lock, self.database.guard(action):
            self._connection().execute(sql, args)

    def _read(self, action: str, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock, self.database.guard(action):
            return list(self._connection().execute(sql, args).fetchall())

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._stack.enter_context(self.database.connection())
        return self._conn

    @staticmethod
    def _event(
        conn: sqlite3.Connection,
        workflow_id: str,
        kind: str,
        task_id: str | None = None,
        attempt: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO workflow_events(workflow_id, at, task_id, attempt, kind, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (workflow_id, time.time(), task_id, attempt, kind, _dumps(detail)),
        )

    # -- workflows ----------------------------------------------------------------------

    def create(self, record: WorkflowRecord, tasks: Iterable[tuple[str, int, str]]) -> None:
        """Store a new workflow and its tasks (``(task_id, position, agent_type)``), pending."""
        with self._write("journal a new workflow") as c:
            c.execute(
                "INSERT INTO workflows(workflow_id, description, status, input, input_hash,"
                " coordination_mode, mode_used, orchestrator, budget_usd, executor, project_root,"
                " created_at, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.workflow_id,
                    record.description,
                    record.status.value,
                    _dumps(dict(record.input)),
                    record.input_hash,
                    record.coordination_mode,
                    record.mode_used,
                    record.orchestrator,
                    record.budget_usd,
                    record.executor,
                    record.project_root,
                    record.created_at,
                    record.started_at,
                ),
            )
            c.executemany(
                "INSERT INTO workflow_tasks(workflow_id, task_id, position, agent_type, status)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (record.workflow_id, tid, pos, agent, TaskStatus.PENDING.value)
                    for tid, pos, agent in tasks
                ],
            )
            self._event(
                c, record.workflow_id, "workflow_created", detail={"hash": record.input_hash}
            )

    def claim(self, workflow_id: str, orchestrator: str, previous: str | None) -> bool:
        """Make this process the workflow's orchestrator again (resume), unless another did first.

        Compare-and-set on the recorded orchestrator: two resumes racing, one wins.
        """
        with self._write("claim a workflow for resume") as c:
            cursor = c.execute(
                "UPDATE workflows SET orchestrator = ?, status = ?, started_at = ?,"
                " finished_at = NULL, cancel_requested_at = NULL, cancel_reason = NULL,"
                " resumes = resumes + 1 WHERE workflow_id = ? AND orchestrator IS ?",
                (orchestrator, WorkflowStatus.RUNNING.value, time.time(), workflow_id, previous),
            )
            if cursor.rowcount != 1:
                return False
            self._event(c, workflow_id, "workflow_resumed", detail={"orchestrator": orchestrator})
            return True

    def set_status(self, workflow_id: str, status: WorkflowStatus, *, final: bool = True) -> None:
        with self._write("journal a workflow's status") as c:
            c.execute(
                "UPDATE workflows SET status = ?, finished_at = ? WHERE workflow_id = ?",
                (status.value, time.time() if final else None, workflow_id),
            )
            self._event(c, workflow_id, f"workflow_{status.value}")

    def request_cancel(self, workflow_id: str, reason: str) -> None:
        with self._write("journal a cancel request") as c:
            c.execute(
                "UPDATE workflows SET cancel_requested_at = ?, cancel_reason = ?"
                " WHERE workflow_id = ?",
                (time.time(), reason, workflow_id),
            )
            self._event(c, workflow_id, "cancel_requested", detail={"reason": reason})

    def cancel_requested(self, workflow_id: str) -> str | None:
        """The reason of a pending cancel request (``workflow cancel``), or ``None``."""
        rows = self._read(
            "read a cancel request",
            "SELECT cancel_requested_at, cancel_reason FROM workflows WHERE workflow_id = ?",
            (workflow_id,),
        )
        if not rows or rows[0]["cancel_requested_at"] is None:
            return None
        return str(rows[0]["cancel_reason"] or "the workflow was cancelled")

    # -- tasks --------------------------------------------------------------------------

    def task_ended(
        self,
        workflow_id: str,
        changes: Sequence[tuple[str, TaskStatus, str | None]],
        *,
        worktree: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Tasks reaching a final state: ``(task_id, status, reason)`` each, in one transaction."""
        if changes:
            with self._write("journal the end of tasks") as c:
                self._tasks_ended(c, workflow_id, changes, worktree)

    def _tasks_ended(
        self,
        c: sqlite3.Connection,
        workflow_id: str,
        changes: Sequence[tuple[str, TaskStatus, str | None]],
        worktree: Mapping[str, Mapping[str, Any]] | None,
    ) -> None:
        now = time.time()
        notes = worktree or {}
        for task_id, status, reason in changes:
            c.execute(
                "UPDATE workflow_tasks SET status = ?, reason = ?, finished_at = ?,"
                " worktree = coalesce(?, worktree) WHERE workflow_id = ? AND task_id = ?",
                (status.value, reason, now, _dumps(notes.get(task_id)), workflow_id, task_id),
            )
            self._event(c, workflow_id, f"task_{status.value}", task_id, None, {"reason": reason})

    def reset_tasks(self, workflow_id: str, task_ids: Sequence[str]) -> None:
        """Put tasks that ended without completing back to pending (a resume runs them again)."""
        with self._write("journal tasks to run again") as c:
            c.executemany(
                "UPDATE workflow_tasks SET status = ?, reason = NULL, finished_at = NULL"
                " WHERE workflow_id = ? AND task_id = ?",
                [(TaskStatus.PENDING.value, workflow_id, t) for t in task_ids],
            )

    # -- attempts -----------------------------------------------------------------------

    def attempt_started(self, record: AttemptRecord) -> None:
        """Journal an attempt before it is acted on (worktree made, hand-off written, spawn)."""
        with self._write("journal the start of an attempt") as c:
            c.execute(
                "INSERT INTO workflow_attempts(workflow_id, task_id, attempt, status, started_at,"
                " run_id, worktree_path, worktree_repo, worktree_base, reserved_usd)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(workflow_id, task_id, attempt) DO UPDATE SET"
                " run_id = excluded.run_id, status = excluded.status",
                (
                    record.workflow_id,
                    record.task_id,
                    record.attempt,
                    record.status.value,
                    record.started_at,
                    record.run_id,
                    record.worktree_path,
                    record.worktree_repo,
                    record.worktree_base,
                    record.reserved_usd,
                ),
            )
            c.execute(
                "UPDATE workflow_tasks SET status = ?, attempts = max(attempts, ?),"
                " started_at = coalesce(started_at, ?), run_id = coalesce(?, run_id)"
                " WHERE workflow_id = ? AND task_id = ?",
                (
                    TaskStatus.RUNNING.value,
                    record.attempt,
                    record.started_at,
                    record.run_id,
                    record.workflow_id,
                    record.task_id,
                ),
            )

    def attempt_tree(
        self, workflow_id: str, task_id: str, attempt: int, tree: Mapping[str, Any]
    ) -> None:
        """The identity of an attempt's process tree, as soon as it is known."""
        self._single(
            "journal an attempt's process tree",
            "UPDATE workflow_attempts SET tree = ? WHERE workflow_id = ? AND task_id = ?"
            " AND attempt = ?",
            (_dumps(dict(tree)), workflow_id, task_id, attempt),
        )

    def attempt_ended(
        self,
        workflow_id: str,
        task_id: str,
        attempt: int,
        status: AttemptStatus,
        *,
        cost_usd: float | None = None,
        backend_session_id: str | None = None,
        error: str | None = None,
        retry_kind: str | None = None,
        effects_done: Sequence[str] = (),
        tasks_ended: Sequence[tuple[str, TaskStatus, str | None]] = (),
        worktree: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """An attempt ended; ``effects_done`` are its effects that completed with it, and
        ``tasks_ended`` the tasks that ended with it (see :meth:`task_ended`), all in one
        transaction."""
        with self._write("journal the end of an attempt") as c:
            c.execute(
                "UPDATE workflow_attempts SET status = ?, finished_at = ?, cost_usd = ?,"
                " backend_session_id = ?, error = ?, retry_kind = ?"
                " WHERE workflow_id = ? AND task_id = ? AND attempt = ?",
                (
                    status.value,
                    time.time(),
                    cost_usd,
                    backend_session_id,
                    error,
                    retry_kind,
                    workflow_id,
                    task_id,
                    attempt,
                ),
            )
            if cost_usd is not None:
                c.execute(
                    "UPDATE workflow_tasks SET cost_usd = coalesce(cost_usd, 0) + ?"
                    " WHERE workflow_id = ? AND task_id = ?",
                    (cost_usd, workflow_id, task_id),
                )
            if retry_kind is not None:
                c.execute(
                    "UPDATE workflow_tasks SET status = ? WHERE workflow_id = ? AND task_id = ?",
                    (TaskStatus.READY.value, workflow_id, task_id),
                )
            c.executemany(
                "UPDATE workflow_effects SET status = ?, done_at = ? WHERE workflow_id = ?"
                " AND key = ?",
                [(EffectStatus.DONE.value, time.time(), workflow_id, k) for k in effects_done],
            )
            self._tasks_ended(c, workflow_id, tasks_ended, worktree)

    def mark_interrupted(self, workflow_id: str, attempts: Sequence[AttemptRecord]) -> None:
        """Attempts a dead orchestrator left running: their trees are gone now."""
        with self._write("journal interrupted attempts") as c:
            for a in attempts:
                c.execute(
                    "UPDATE workflow_attempts SET status = ?, finished_at = ?, error = ?"
                    " WHERE workflow_id = ? AND task_id = ? AND attempt = ?",
                    (
                        AttemptStatus.INTERRUPTED.value,
                        time.time(),
                        "the orchestrator died while this attempt ran",
                        workflow_id,
                        a.task_id,
                        a.attempt,
                    ),
                )
                c.execute(
                    "UPDATE workflow_tasks SET interrupted = 1, status = ?"
                    " WHERE workflow_id = ? AND task_id = ?",
                    (TaskStatus.PENDING.value, workflow_id, a.task_id),
                )
                self._event(c, workflow_id, "attempt_interrupted", a.task_id, a.attempt)

    # -- effects ------------------------------------------------------------------------

    def effect_intended(
        self, workflow_id: str, key: str, kind: str, task_id: str, attempt: int, detail: Any
    ) -> None:
        self._single(
            "journal an intended effect",
            "INSERT INTO workflow_effects(workflow_id, key, kind, task_id, attempt, status,"
            " detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(workflow_id, key) DO NOTHING",
            (
                workflow_id,
                key,
                kind,
                task_id,
                attempt,
                EffectStatus.INTENDED.value,
                _dumps(detail),
                time.time(),
            ),
        )

    def effect_settled(
        self, workflow_id: str, key: str, status: EffectStatus, detail: Any = None
    ) -> None:
        with self._write("journal an effect") as c:
            c.execute(
                "UPDATE workflow_effects SET status = ?, done_at = ?,"
                " detail = coalesce(?, detail) WHERE workflow_id = ? AND key = ?",
                (status.value, time.time(), _dumps(detail), workflow_id, key),
            )
            self._event(c, workflow_id, f"effect_{status.value}", detail={"key": key})

    # -- reading ------------------------------------------------------------------------

    def workflow(self, workflow_id: str) -> WorkflowRecord | None:
        rows = self._read(
            "read a workflow", "SELECT * FROM workflows WHERE workflow_id = ?", (workflow_id,)
        )
        return _workflow(rows[0]) if rows else None

    def workflows(
        self, limit: int | None = 20, *, status: WorkflowStatus | None = None
    ) -> list[WorkflowRecord]:
        """Workflows, newest first."""
        sql, args = "SELECT * FROM workflows", list[Any]()
        if status is not None:
            sql += " WHERE status = ?"
            args.append(status.value)
        sql += " ORDER BY created_at DESC, workflow_id DESC LIMIT ?"
        args.append(-1 if limit is None else limit)
        return [_workflow(r) for r in self._read("list workflows", sql, args)]

    def tasks(self, workflow_id: str) -> list[TaskRecord]:
        rows = self._read(
            "read a workflow's tasks",
            "SELECT * FROM workflow_tasks WHERE workflow_id = ? ORDER BY position",
            (workflow_id,),
        )
        return [_task(r) for r in rows]

    def attempts(
        self, workflow_id: str, *, status: AttemptStatus | None = None
    ) -> list[AttemptRecord]:
        sql = "SELECT * FROM workflow_attempts WHERE workflow_id = ?"
        args: list[Any] = [workflow_id]
        if status is not None:
            sql += " AND status = ?"
            args.append(status.value)
        sql += " ORDER BY started_at, task_id, attempt"
        return [_attempt(r) for r in self._read("read a workflow's attempts", sql, args)]

    def effects(self, workflow_id: str) -> list[EffectRecord]:
        rows = self._read(
            "read a workflow's effects",
            "SELECT * FROM workflow_effects WHERE workflow_id = ? ORDER BY created_at",
            (workflow_id,),
        )
        return [_effect(r) for r in rows]

    def events(self, workflow_id: str, *, last: int = 20) -> list[dict[str, Any]]:
        """The ``last`` events of a workflow, oldest first."""
        rows = self._read(
            "read a workflow's events",
            "SELECT * FROM (SELECT * FROM workflow_events WHERE workflow_id = ?"
            " ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (workflow_id, last),
        )
        return [{**dict(r), "detail": _loads(r["detail"])} for r in rows]


def _workflow(row: sqlite3.Row) -> WorkflowRecord:
    data = dict(row)
    data["status"] = WorkflowStatus(data["status"])
    data["input"] = _loads(data["input"]) or {}
    return WorkflowRecord(**data)


def _task(row: sqlite3.Row) -> TaskRecord:
    data = dict(row)
    data["status"] = TaskStatus(data["status"])
    data["interrupted"] = bool(data["interrupted"])
    data["worktree"] = _loads(data["worktree"])
    return TaskRecord(**data)


def _attempt(row: sqlite3.Row) -> AttemptRecord:
    data = dict(row)
    data["status"] = AttemptStatus(data["status"])
    data["tree"] = _loads(data["tree"])
    return AttemptRecord(**data)


def _effect(row: sqlite3.Row) -> EffectRecord:
    data = dict(row)
    data["status"] = EffectStatus(data["status"])
    data["detail"] = _loads(data["detail"]) or {}
    return EffectRecord(**data)


__all__ = [
    "JOURNAL_MIGRATION",
    "AttemptRecord",
    "AttemptStatus",
    "EffectRecord",
    "EffectStatus",
    "TaskRecord",
    "WorkflowJournal",
    "WorkflowRecord",
]
