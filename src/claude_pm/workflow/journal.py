"""The workflow journal: every state change of a workflow run, stored before it is acted on.

The tables (:mod:`claude_pm.workflow.records`) live in the project's state
database: workflows, their tasks, the tasks' attempts, the attempts' effects,
and the events of it all.

The protocol the engine follows: an attempt is journaled (with its run id and,
for an isolated task, its worktree) before its hand-off is written and its
process spawned (the run's own record gets the tree's identity as soon as it
exists: :meth:`~claude_pm.agents.runs.RunStore.record_tree`); an effect as
``intended`` before it is done and ``done`` after. A crash at any point leaves
a journal that says what may be left running (attempts still ``running``),
what may be left on disk (their worktrees) and which effects may be half done
(``intended``): :mod:`claude_pm.workflow.reclaim` reads exactly that.

One :class:`WorkflowJournal` keeps one connection, shared by the engine's
threads under a lock; each write is one short transaction that updates the
rows and appends the event (the connection is in autocommit mode, so a
single statement is a transaction of its own). Its connection stays open for
the journal's life: closing the last connection of a WAL database checkpoints
it, an fsync each time.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from claude_pm.workflow.outcome import WorkflowStatus
from claude_pm.workflow.records import (
    JOURNAL_MIGRATION,
    AttemptRecord,
    AttemptStatus,
    EffectRecord,
    EffectStatus,
    TaskRecord,
    WorkflowRecord,
    attempt_from_row,
    dumps,
    effect_from_row,
    loads,
    task_from_row,
    workflow_from_row,
)
from claude_pm.workflow.spec import TaskStatus

if TYPE_CHECKING:
    from claude_pm.state import Database


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
            (workflow_id, time.time(), task_id, attempt, kind, dumps(detail)),
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
                    dumps(dict(record.input)),
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
                (status.value, reason, now, dumps(notes.get(task_id)), workflow_id, task_id),
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
                dumps(detail),
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
                (status.value, time.time(), dumps(detail), workflow_id, key),
            )
            self._event(c, workflow_id, f"effect_{status.value}", detail={"key": key})

    # -- reading ------------------------------------------------------------------------

    def workflow(self, workflow_id: str) -> WorkflowRecord | None:
        rows = self._read(
            "read a workflow", "SELECT * FROM workflows WHERE workflow_id = ?", (workflow_id,)
        )
        return workflow_from_row(rows[0]) if rows else None

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
        return [workflow_from_row(r) for r in self._read("list workflows", sql, args)]

    def tasks(self, workflow_id: str) -> list[TaskRecord]:
        rows = self._read(
            "read a workflow's tasks",
            "SELECT * FROM workflow_tasks WHERE workflow_id = ? ORDER BY position",
            (workflow_id,),
        )
        return [task_from_row(r) for r in rows]

    def attempts(
        self, workflow_id: str, *, status: AttemptStatus | None = None
    ) -> list[AttemptRecord]:
        sql = "SELECT * FROM workflow_attempts WHERE workflow_id = ?"
        args: list[Any] = [workflow_id]
        if status is not None:
            sql += " AND status = ?"
            args.append(status.value)
        sql += " ORDER BY started_at, task_id, attempt"
        return [attempt_from_row(r) for r in self._read("read a workflow's attempts", sql, args)]

    def effects(self, workflow_id: str) -> list[EffectRecord]:
        rows = self._read(
            "read a workflow's effects",
            "SELECT * FROM workflow_effects WHERE workflow_id = ? ORDER BY created_at",
            (workflow_id,),
        )
        return [effect_from_row(r) for r in rows]

    def events(self, workflow_id: str, *, last: int = 20) -> list[dict[str, Any]]:
        """The ``last`` events of a workflow, oldest first."""
        rows = self._read(
            "read a workflow's events",
            "SELECT * FROM (SELECT * FROM workflow_events WHERE workflow_id = ?"
            " ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (workflow_id, last),
        )
        return [{**dict(r), "detail": loads(r["detail"])} for r in rows]


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
