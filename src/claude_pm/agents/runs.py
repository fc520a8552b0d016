"""The record of every agent run: the ``runs`` table, its queries and its migrations.

A run is stored when it starts (status ``running``, with the identity of the
orchestrator process that started it), again as soon as its process tree
exists (:meth:`RunStore.record_tree`: what identifies the tree, see
:class:`~claude_pm.process.reclaim.TreeIdentity`), and when it ends. So an
orchestrator that dies mid-run — SIGKILL runs none of its cleanup — still
leaves a trace, and its agents can be found again.

Reclaiming (:meth:`RunStore.reclaim`) closes such runs: for each run left
``running`` by an orchestrator that provably no longer exists on this machine
(same boot, same pid namespace, same host; its pid gone or reused), the
recorded tree is killed — unless the process that supervised it, which may
differ from the one that recorded the run (a Ray worker under a driver), is
still alive — and the run becomes ``abandoned``. A live MCP server, another
live command, a driver whose workers still run its agents: none is ever
touched; neither is a run whose orchestrator cannot be seen from here
(another machine or container sharing the file). A store reclaims once per
process when it is made (:func:`reclaim_once`), so any command that records
or lists runs cleans up after a dead predecessor; the workflow engine's resume
calls :meth:`RunStore.reclaim` itself. Without anything to reclaim it costs one
indexed query.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from claude_pm.state.migrations import Migration, add_missing_columns, register

if TYPE_CHECKING:
    from claude_pm.process import ProcessEvent, ProcessStatus
    from claude_pm.process.reclaim import ReclaimedTree, TreeIdentity
    from claude_pm.state import Database

log = logging.getLogger(__name__)

#: The migration that records each run's process tree (numbers are global).
TREE_MIGRATION = 4


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
    #: What identifies the run's process tree, once it started (see :meth:`RunStore.record_tree`).
    tree: TreeIdentity | None = None

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


_TREE_COLUMNS = (
    ("tree_supervisor", "TEXT"),
    ("tree_root_pid", "INTEGER"),
    ("tree_root_start", "INTEGER"),
    ("tree_pgid", "INTEGER"),
    ("tree_token", "TEXT"),
    ("tree_cgroups", "TEXT"),
)


@dataclass(frozen=True)
class ReclaimedRun:
    """One run :meth:`RunStore.reclaim` closed, and what it did to the run's tree.

    ``orchestrator`` is ``exited`` (its pid is gone on this boot) or ``rebooted``;
    ``tree_recorded`` is False for a run whose tree was never recorded (an older
    release, a run supervised elsewhere): nothing could be looked for. ``marked``
    is False when another process marked the run at the same moment.
    """

    run_id: str
    orchestrator_pid: int | None
    orchestrator: str
    tree_recorded: bool
    killed: tuple[int, ...] = ()
    survivors: tuple[int, ...] = ()
    groups_left: tuple[str, ...] = ()
    marked: bool = True

    def message(self) -> str:
        """One line for people: what was found and what was done."""
        from claude_pm.process.reclaim import describe_pids

        who = f"dead orchestrator pid {self.orchestrator_pid}"
        if self.orchestrator == "rebooted":
            found = f"run {self.run_id} of orchestrator pid {self.orchestrator_pid} was cut short "
            found += "by a reboot"
        elif self.killed:
            found = f"killed {describe_pids(self.killed)} left by run {self.run_id} of {who}"
        elif self.tree_recorded:
            found = f"run {self.run_id} of {who} left no process running"
        else:
            found = (
                f"run {self.run_id} of {who}: its process tree was not recorded, so nothing "
                "was looked for"
            )
        if self.survivors:
            found += f"; could not kill {describe_pids(self.survivors)}"
        if self.groups_left:
            found += f"; could not remove cgroups {', '.join(self.groups_left)}"
        return found + ("; marked abandoned" if self.marked else "; already marked abandoned")


class RunStore:
    """Read and write run records in a :class:`~claude_pm.state.Database`.

    Making a store reclaims the runs of dead orchestrators once per process
    and database (:func:`reclaim_once`; ``reclaim=False`` skips it), and, when
    ``retention_days`` is set, prunes old run directories at most once a day
    (:func:`claude_pm.agents.retention.prune_when_due`). What that did is in
    :attr:`reclaimed`. Neither ever raises: a failure is logged and retried
    by the next process.

    Raises (every method):
        StoreError: the database cannot be read or written (the message names the action).
    """

    def __init__(
        self,
        database: Database,
        *,
        reclaim: bool = True,
        retention_days: float | None = None,
    ) -> None:
        self.database = database
        self.reclaimed: list[ReclaimedRun] = reclaim_once(self) if reclaim else []
        if retention_days is not None:
            from claude_pm.agents.retention import prune_when_due

            prune_when_due(self, retention_days)

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

    def record_tree(self, run_id: str, tree: TreeIdentity, *, busy_timeout_s: float = 2.0) -> None:
        """Store what identifies a run's process tree, so a later process can reclaim it.

        Called from the supervising thread right after the spawn, so it waits at
        most ``busy_timeout_s`` for a busy database instead of the usual 30 s.
        """
        values = (
            tree.supervisor,
            tree.root_pid,
            tree.root_start_ticks,
            tree.pgid,
            tree.token,
            json.dumps(dict(tree.cgroup_dirs)),
            run_id,
        )
        with (
            self.database.guard("record the process tree of a run"),
            self.database.transaction(busy_timeout_s=busy_timeout_s) as c,
        ):
            c.execute(
                "UPDATE runs SET tree_supervisor = ?, tree_root_pid = ?, tree_root_start = ?,"
                " tree_pgid = ?, tree_token = ?, tree_cgroups = ? WHERE run_id = ?",
                values,
            )

    def record_tree_started(self, run_id: str, event: ProcessEvent) -> bool:
        """:meth:`record_tree` from the supervisor's ``tree_started`` event; never raises.

        Returns whether it was stored (a failure is logged: the run goes on, only
        a later reclaim of it, should this process die, would find less).
        """
        from claude_pm.errors import StoreError
        from claude_pm.process.reclaim import TreeIdentity

        try:
            self.record_tree(run_id, TreeIdentity.from_dict(event.data["tree"]))
        except (StoreError, KeyError, TypeError, ValueError) as e:
            log.warning("run %s: its process tree was not recorded: %s", run_id, e)
            return False
        return True

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

    def _reclaimable(self) -> list[tuple[sqlite3.Row, str, TreeIdentity | None]]:
        """Unfinished runs whose orchestrator is provably gone and whose tree nobody owns."""
        from claude_pm.process.identity import Liveness, liveness

        with self.database.guard("list unfinished runs"), self.database.connection() as conn:
            rows = conn.execute(
                "SELECT * FROM runs WHERE status = ?", (RunStatus.RUNNING.value,)
            ).fetchall()
        found = []
        for row in rows:
            orchestrator = liveness(row["orchestrator"])
            if orchestrator not in (Liveness.EXITED, Liveness.REBOOTED):
                continue
            tree = _tree_of(row)
            if tree is not None and liveness(tree.supervisor) in (Liveness.ALIVE, Liveness.UNKNOWN):
                continue  # its supervisor (a Ray worker, say) still owns the tree
            found.append((row, orchestrator.value, tree))
        return found

    def reclaimable(self) -> list[RunRecord]:
        """The runs :meth:`reclaim` would close now, without touching anything (for ``doctor``)."""
        return [_from_row(row) for row, _, _ in self._reclaimable()]

    def reclaim(self) -> list[ReclaimedRun]:
        """Kill the trees of runs whose orchestrator is dead, and mark those runs ``abandoned``.

        See the module docstring for what is and is never touched. Safe to call
        from several processes at once (each run is marked by one of them).
        Returns what was done, one entry per run closed.
        """
        from claude_pm.process.identity import identity_pid

        done: list[ReclaimedRun] = []
        for row, orchestrator, tree in self._reclaimable():
            killed = _kill(tree) if orchestrator == "exited" and tree else None
            marked = self._mark_abandoned(row["run_id"], killed)
            done.append(
                ReclaimedRun(
                    run_id=row["run_id"],
                    orchestrator_pid=identity_pid(row["orchestrator"]),
                    orchestrator=orchestrator,
                    tree_recorded=tree is not None,
                    killed=killed.killed if killed else (),
                    survivors=killed.survivors if killed else (),
                    groups_left=killed.groups_left if killed else (),
                    marked=marked,
                )
            )
            log.info("%s", done[-1].message())
        return done

    def _mark_abandoned(self, run_id: str, killed: ReclaimedTree | None) -> bool:
        error = ABANDONED_REASON
        if killed is not None and killed.killed:
            error += f"; {len(killed.killed)} processes it left were killed"
        with self.database.guard("mark abandoned runs"), self.database.transaction() as c:
            changed = c.execute(
                "UPDATE runs SET status = ?, error = ?, finished_at = ? "
                "WHERE run_id = ? AND status = ?",
                (RunStatus.ABANDONED.value, error, time.time(), run_id, RunStatus.RUNNING.value),
            ).rowcount
        return bool(changed)

    def mark_abandoned(self) -> list[str]:
        """:meth:`reclaim`, returning the ids of the runs it marked ``abandoned``."""
        return [r.run_id for r in self.reclaim() if r.marked]


def _kill(tree: TreeIdentity) -> ReclaimedTree:
    from claude_pm.process.reclaim import kill_recorded_tree

    return kill_recorded_tree(tree)


def _tree_of(row: sqlite3.Row) -> TreeIdentity | None:
    """The tree identity stored in a row, or None when none was recorded (or it is unreadable)."""
    from claude_pm.process.reclaim import TreeIdentity

    data = dict(row)
    if not data.get("tree_token") or data.get("tree_root_pid") is None:
        return None
    try:
        return TreeIdentity(
            supervisor=str(data["tree_supervisor"] or ""),
            root_pid=int(data["tree_root_pid"]),
            root_start_ticks=int(data["tree_root_start"] or 0),
            pgid=int(data["tree_pgid"] or data["tree_root_pid"]),
            token=str(data["tree_token"]),
            cgroup_dirs=json.loads(data["tree_cgroups"] or "{}"),
        )
    except (TypeError, ValueError):
        return None


_reclaimed: set[tuple[int, str]] = set()
_reclaimed_lock = threading.Lock()


def reclaim_once(store: RunStore) -> list[ReclaimedRun]:
    """:meth:`RunStore.reclaim`, at most once per process and database file; never raises.

    A failure (a locked or unreadable database) is logged and left to the next
    store made in this process, or to the next process.
    """
    from claude_pm.errors import StoreError

    key = (os.getpid(), str(store.database.path.resolve()))
    with _reclaimed_lock:
        if key in _reclaimed:
            return []
        try:
            done = store.reclaim()
        except StoreError as e:
            log.warning("could not reclaim the runs of dead orchestrators: %s", e.message)
            return []
        _reclaimed.add(key)
    for reclaimed in done:
        log.warning("%s", reclaimed.message())
    return done


def _from_row(row: sqlite3.Row) -> RunRecord:
    data: dict[str, Any] = dict(row)
    tree = _tree_of(row)
    for name, _ in _TREE_COLUMNS:
        data.pop(name, None)
    data["status"] = RunStatus(data["status"])
    usage = data.get("usage")
    data["usage"] = json.loads(usage) if usage else {}
    return RunRecord(**data, tree=tree)


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


def _add_tree_columns(conn: sqlite3.Connection) -> None:
    """What identifies each run's process tree, and an index to find unfinished runs fast."""
    add_missing_columns(conn, "runs", _TREE_COLUMNS)
    conn.execute("CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status)")


register(
    Migration(3, "runs", "backend, model, usage, cost of each run", _add_backend_columns),
    Migration(
        TREE_MIGRATION,
        "runs",
        "what identifies each run's process tree (for reclaiming it), runs by status",
        _add_tree_columns,
    ),
)


__all__ = [
    "ABANDONED_REASON",
    "TREE_MIGRATION",
    "ReclaimedRun",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "new_run_id",
    "reclaim_once",
]
