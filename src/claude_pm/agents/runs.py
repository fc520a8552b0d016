"""The record of every agent run: the ``runs`` table, its queries and its migrations.

A run is stored when it starts (status ``running``, with the identity of the
orchestrator process that started it) and again when it ends, so an
orchestrator that dies mid-run still leaves a trace: a run left ``running``
by a process that no longer exists becomes ``abandoned``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from claude_pm.state.migrations import Migration, add_missing_columns, register

if TYPE_CHECKING:
    from claude_pm.process import ProcessStatus
    from claude_pm.state import Database


class RunStatus(StrEnum):
    """Where a run stands: ``running`` until it ends, then how it ended."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    MEMORY_EXCEEDED = "memory_exceeded"
    CANCELLED = "cancelled"
    SPAWN_ERROR = "spawn_error"
    #: The orchestrator exited without recording the end (killed, or the machine rebooted).
    ABANDONED = "abandoned"

    @classmethod
    def ended_as(cls, status: ProcessStatus) -> RunStatus:
        return cls(status.value)


@dataclass(frozen=True)
class RunRecord:
    """One agent run as stored. What the backend reported (model, usage...) may be None."""

    run_id: str
    agent_type: str
    task: str
    status: RunStatus
    started_at: float
    finished_at: float | None = None
    wall_time_s: float | None = None
    cpu_time_s: float | None = None
    peak_rss_bytes: int | None = None
    enforcement: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    run_dir: str | None = None
    error: str | None = None
    session_id: str | None = None
    #: Which process recorded the start (boot id, pid and start time): tells a run
    #: whose orchestrator died without recording the end from one still going.
    orchestrator: str | None = None
    backend: str | None = None
    model: str | None = None
    cost_usd: float | None = None
    usage: Mapping[str, int] = field(default_factory=dict)
    backend_session_id: str | None = None
    stop_reason: str | None = None

    @property
    def peak_rss_mb(self) -> float | None:
        return None if self.peak_rss_bytes is None else self.peak_rss_bytes / (1024 * 1024)


def new_run_id() -> str:
    """An id for an agent or PM run: sortable (UTC time first) and unique (random hex)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


ABANDONED_REASON = (
    "the orchestrator exited without recording the end of this run (killed or rebooted)"
)

_END_COLUMNS = (
    "status",
    "finished_at",
    "wall_time_s",
    "cpu_time_s",
    "peak_rss_bytes",
    "enforcement",
    "exit_code",
    "signal",
    "stdout_path",
    "stderr_path",
    "error",
    "backend",
    "model",
    "cost_usd",
    "usage",
    "backend_session_id",
    "stop_reason",
)


class RunStore:
    """Read and write run records in a :class:`~claude_pm.state.Database`.

    Raises (every method):
        StoreError: the database cannot be read or written (the message names the action).
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    def record_start(self, record: RunRecord) -> None:
        """Store a run as started, so an interrupted orchestrator still leaves a trace."""
        from claude_pm.process.identity import process_identity

        with self.database.guard("record the start of a run"), self.database.transaction() as c:
            c.execute(
                "INSERT INTO runs(run_id, session_id, agent_type, task, status, started_at,"
                " run_dir, orchestrator, backend) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.run_id,
                    record.session_id,
                    record.agent_type,
                    record.task,
                    record.status.value,
                    record.started_at,
                    record.run_dir,
                    record.orchestrator or process_identity(os.getpid()),
                    record.backend,
                ),
            )

    def record_end(self, record: RunRecord) -> None:
        """Store the outcome of a run started with :meth:`record_start`."""
        values: dict[str, Any] = {name: getattr(record, name) for name in _END_COLUMNS}
        values["status"] = record.status.value
        values["finished_at"] = record.finished_at or time.time()
        values["usage"] = json.dumps(dict(record.usage)) if record.usage else None
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self.database.guard("record the end of a run"), self.database.transaction() as c:
            c.execute(
                f"UPDATE runs SET {assignments} WHERE run_id = ?",
                [*values.values(), record.run_id],
            )

    def get(self, run_id: str) -> RunRecord | None:
        with self.database.guard("read a run"), self.database.connection() as conn:
            row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else _from_row(row)

    def find(
        self,
        limit: int | None = 50,
        *,
        agent_type: str | None = None,
        status: RunStatus | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, optionally filtered by agent type and status."""
        where: list[str] = []
        args: list[Any] = []
        if agent_type is not None:
            where.append("agent_type = ?")
            args.append(agent_type)
        if status is not None:
            where.append("status = ?")
            args.append(RunStatus(status).value)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC LIMIT ?"
        args.append(-1 if limit is None else limit)
        with self.database.guard("list runs"), self.database.connection() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [_from_row(r) for r in rows]

    def mark_abandoned(self) -> list[str]:
        """Close runs left ``running`` by an orchestrator that no longer exists.

        An orchestrator killed with SIGKILL (or a machine that rebooted) never
        records the end of its runs; their status becomes ``abandoned``.
        Returns the run ids changed.
        """
        from claude_pm.process.identity import identity_alive

        with self.database.guard("list unfinished runs"), self.database.connection() as conn:
            rows = conn.execute(
                "SELECT run_id, orchestrator FROM runs WHERE status = ?",
                (RunStatus.RUNNING.value,),
            ).fetchall()
        gone = [r["run_id"] for r in rows if not identity_alive(r["orchestrator"])]
        if gone:
            with self.database.guard("mark abandoned runs"), self.database.transaction() as c:
                c.executemany(
                    "UPDATE runs SET status = ?, error = ? WHERE run_id = ? AND status = ?",
                    [
                        (RunStatus.ABANDONED.value, ABANDONED_REASON, run_id, "running")
                        for run_id in gone
                    ],
                )
        return gone


def _from_row(row: sqlite3.Row) -> RunRecord:
    data: dict[str, Any] = dict(row)
    data["status"] = RunStatus(data["status"])
    usage = data.get("usage")
    data["usage"] = json.loads(usage) if usage else {}
    return RunRecord(**data)


_BACKEND_COLUMNS = (
    ("backend", "TEXT"),
    ("model", "TEXT"),
    ("cost_usd", "REAL"),
    ("usage", "TEXT"),
    ("backend_session_id", "TEXT"),
    ("stop_reason", "TEXT"),
)


def _add_backend_columns(conn: sqlite3.Connection) -> None:
    """What a backend reports about a run (its result file): backend, model, usage, cost..."""
    add_missing_columns(conn, "runs", _BACKEND_COLUMNS)


register(Migration(3, "runs", "backend, model, usage, cost of each run", _add_backend_columns))


__all__ = ["ABANDONED_REASON", "RunRecord", "RunStatus", "RunStore", "new_run_id"]
