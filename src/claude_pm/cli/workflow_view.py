"""What ``claude-pm workflow`` shows: the result as a table, and the run as it goes.

In a terminal, a live view (rich) with every task's state, attempt, elapsed
time and the memory of the running agents, and the tickets stored so far; in
a pipe or a log, one plain line per change on stderr.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_pm.workflow.outcome import WorkflowEvent, WorkflowResult


def print_result(result: WorkflowResult) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = Console(highlight=False, soft_wrap=True)
    colour = {"completed": "green", "running": "yellow"}.get(result.status.value, "red")
    done = result.count(_status("completed"))
    out.print(
        f"[bold {colour}]{result.status.value}[/] workflow [bold]{result.workflow_id}[/]: "
        f"{done}/{len(result.tasks)} task(s) completed in {result.makespan_s:.2f}s "
        f"(mode {result.coordination_mode_used.value}"
        + (f", cost ${result.cost_usd:.4f}" if result.cost_usd is not None else "")
        + ")"
    )
    table = Table(box=None, show_edge=False)
    for column in ("task", "agent", "status", "attempts", "time", "tickets", "notes"):
        table.add_column(column, no_wrap=column != "notes")
    for task in result.tasks:
        wall = task.result.process.wall_time_s if task.result is not None else None
        if wall is None and task.record is not None:
            wall = task.record.wall_time_s
        tickets = (
            task.result.tickets.created_count + task.result.tickets.filed_count
            if task.result is not None
            else None
        )
        notes = []
        if task.interrupted:
            notes.append("interrupted, run again")
        if task.reason and task.status.value != "completed":
            notes.append(task.reason)
        if task.worktree is not None and task.worktree.branch is not None:
            b = task.worktree.branch
            notes.append(f"branch {b.name} (+{b.insertions} -{b.deletions})")
        if task.worktree is not None and task.worktree.dirty:
            notes.append("project was dirty: uncommitted changes not seen")
        if task.effects_in_doubt:
            notes.append("in doubt: " + ", ".join(task.effects_in_doubt))
        table.add_row(
            escape(task.task_id),
            escape(task.agent_type),
            task.status.value,
            str(task.attempts),
            f"{wall:.2f}s" if wall is not None else "",
            str(tickets) if tickets is not None else "",
            escape("; ".join(notes)[:300]),
        )
    out.print(table)
    out.print(
        f"details: claude-pm workflow status {result.workflow_id}; runs: claude-pm runs show RUN",
        markup=False,
    )


def _status(value: str) -> Any:
    from claude_pm.workflow.spec import TaskStatus

    return TaskStatus(value)


class _Lines:
    """Plain progress lines on stderr (a pipe, a log)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.monotonic()

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def update(self, event: WorkflowEvent) -> None:
        if self.quiet or event.kind.value in ("tick", "workflow_ended"):
            return
        who = f"task {event.task_id} ({event.agent_type})" if event.task_id else "workflow"
        sys.stderr.write(
            f"[{time.monotonic() - self.t0:7.1f}s] {event.done}/{event.total} {who}: "
            f"{event.message}\n"
        )
        sys.stderr.flush()


class _Live:
    """The live view in a terminal: every task's state, time, memory; tickets so far."""

    def __init__(self, tasks: list[tuple[str, str]]) -> None:
        from rich.console import Console
        from rich.live import Live

        self.rows = {
            tid: {"agent": agent, "state": "pending", "attempt": 0} for tid, agent in tasks
        }
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.rss: dict[str, int | None] = {}
        self.header = "starting"
        self.live = Live(self._table(), console=Console(stderr=True), refresh_per_second=4)

    def __enter__(self) -> _Live:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def update(self, event: WorkflowEvent) -> None:
        now = time.monotonic()
        tid = event.task_id
        if tid is not None and tid in self.rows:
            row = self.rows[tid]
            row["attempt"] = event.attempt
            if event.kind.value == "started":
                row["state"] = "running"
                self.started[tid] = now
                self.ended.pop(tid, None)
            elif event.kind.value == "retrying":
                row["state"] = "retrying"
                self.ended[tid] = now
            elif event.status is not None:
                row["state"] = event.status.value
                self.ended[tid] = now
        for running in event.running:
            self.rss[running.task_id] = running.rss_bytes
        self.header = f"{event.done}/{event.total} done, {event.tickets} ticket(s) stored"
        self.live.update(self._table())

    def _table(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=self.header, title_justify="left", box=None)
        for column in ("task", "agent", "state", "attempt", "time", "memory"):
            table.add_column(column, no_wrap=True)
        now = time.monotonic()
        for tid, row in self.rows.items():
            start = self.started.get(tid)
            elapsed = "" if start is None else f"{self.ended.get(tid, now) - start:.1f}s"
            rss = self.rss.get(tid) if row["state"] == "running" else None
            memory = f"{rss / (1024 * 1024):.1f} MB" if rss else ""
            table.add_row(
                Text(tid), Text(str(row["agent"])), str(row["state"]), str(row["attempt"] or ""),
                elapsed,
                memory,
            )  # fmt: skip
        return table


def progress_view(tasks: list[tuple[str, str]], *, quiet: bool) -> _Lines | _Live:
    if not quiet and sys.stderr.isatty():
        return _Live(tasks)
    return _Lines(quiet)


__all__ = ["print_result", "progress_view"]
