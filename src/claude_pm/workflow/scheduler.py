"""Which task starts when: a workflow run's scheduling decisions, as a pure state machine.

The scheduler starts nothing, reads no clock and holds no lock: the engine
passes the time in and tells it what happened, and it answers what may start.
Every answer depends only on the calls made so far, so a journal replayed
into a new scheduler gives the same decisions again.

The life of a run, from the engine's side::

    scheduler = Scheduler(spec, plan, max_concurrency=..., can_write=...)
    while not scheduler.done:
        for task_id in scheduler.ready_to_start(now):
            journal the start; scheduler.started(task_id); launch it
        wait for a task to end, or until scheduler.next_wakeup(now)
        a task ended:     scheduler.finished(task_id, status)   -> the tasks skipped because of it
        worth a retry:    scheduler.retry(task_id, not_before)  (its next start is attempt + 1)
        rate limited:     scheduler.pause_until(t), perhaps scheduler.set_concurrency(n)
        cancelled:        scheduler.cancel(reason)              -> the tasks cancelled
        budget spent:     scheduler.stop(reason)                -> the tasks skipped

A resumed run builds a new scheduler and replays what the journal says ended
(:meth:`Scheduler.replay`) before it starts anything.

The rules:

- A task is ``pending`` until every dependency completed, then ``ready``. A
  ready task starts when all of these hold: no hold is in force
  (:meth:`Scheduler.pause_until`), its retry time has come, fewer tasks run
  than the bound, and it overlaps no running writer (below).
- ``sequential``: one task at a time, in the plan's order (topological, ties
  by priority then position); a task waiting for its retry time holds the
  line. ``parallel`` without dependencies and ``hybrid``: ready tasks start
  by priority (lower first, tasks without one last, then position) up to the
  bound. (``parallel`` with dependencies runs as ``hybrid``: the plan says so.)
- Write safety: two tasks whose writes overlap (see
  :mod:`claude_pm.workflow.writes`) never run at once unless both are
  isolated in worktrees. A task without ``writes`` counts as writing
  everything when ``can_write`` says its agent can write (a task missing from
  ``can_write`` counts as able to). A ready task kept waiting by a running
  writer keeps its claim: lower-priority tasks that overlap it wait too, so a
  writer is not starved by a stream of smaller ones.
- A task whose dependency failed, was skipped or was cancelled is
  ``skipped``, with the reason naming that dependency and how it ended; its
  own dependents follow. With ``failure_policy: stop``, a failure stops the
  run: nothing new starts and every task not started is skipped, saying
  which task failed. Running tasks run to their end.
- :meth:`Scheduler.cancel`: nothing new starts; tasks not started are
  ``cancelled``; running tasks end when the engine reports them.
- Lowering the bound (:meth:`Scheduler.set_concurrency`) stops no running
  task: new starts wait until fewer tasks run than the new bound. The bound
  can be raised again, up to the one the scheduler was built with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from claude_pm.workflow.plan import WorkflowPlan
from claude_pm.workflow.spec import CoordinationMode, FailurePolicy, TaskStatus, WorkflowSpec
from claude_pm.workflow.writes import effective_writes, literal_prefix, prefixes_overlap

_HOW_IT_ENDED = {
    TaskStatus.FAILED: "failed",
    TaskStatus.SKIPPED: "was skipped",
    TaskStatus.CANCELLED: "was cancelled",
}
_ENDINGS = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


class SchedulingError(RuntimeError):
    """The engine asked for a transition the rules forbid (a bug in the caller, not the input)."""


@dataclass(frozen=True)
class TaskState:
    """One task as the scheduler sees it.

    ``attempt`` counts the task's starts so far (0 before the first).
    ``reason`` says why a task was skipped, cancelled or not retried;
    ``blocked_by`` is the dependency whose end skipped it. ``not_before`` is
    the retry time of a ready task put back by :meth:`Scheduler.retry`.
    """

    task_id: str
    status: TaskStatus
    attempt: int = 0
    reason: str | None = None
    blocked_by: str | None = None
    not_before: float | None = None


class _Claims:
    """The writes claimed within one decision (running tasks, then ready ones in start order).

    "Everything" claims (literal prefix ``""``) are kept as flags, so a run of
    tasks that all write everything costs one check each, not one per claim.
    """

    def __init__(self) -> None:
        self._shared: list[tuple[str, ...]] = []
        self._isolated: list[tuple[str, ...]] = []
        self._shared_everything = False
        self._any_everything = False

    def blocks(self, prefixes: tuple[str, ...], isolated: bool) -> bool:
        if not prefixes:
            return False
        if self._shared_everything or (not isolated and self._any_everything):
            return True
        groups = (self._shared,) if isolated else (self._shared, self._isolated)
        if "" in prefixes:
            return any(groups)
        return any(prefixes_overlap(prefixes, other) for group in groups for other in group)

    def add(self, prefixes: tuple[str, ...], isolated: bool) -> None:
        if not prefixes:
            return
        (self._isolated if isolated else self._shared).append(prefixes)
        if "" in prefixes:
            self._any_everything = True
            self._shared_everything = self._shared_everything or not isolated


@dataclass
class _Slot:
    status: TaskStatus
    attempt: int = 0
    reason: str | None = None
    blocked_by: str | None = None
    not_before: float | None = None


class Scheduler:
    """The scheduling state of one workflow run (see the module docstring for the rules)."""

    def __init__(
        self,
        spec: WorkflowSpec,
        plan: WorkflowPlan,
        *,
        can_write: Mapping[str, bool],
        max_concurrency: int | None = None,
    ) -> None:
        """Start with every task pending (ready when it has no dependencies).

        Args:
            spec: the validated workflow.
            plan: its plan (:func:`~claude_pm.workflow.plan.plan_workflow`).
            can_write: per task id, whether its agent can change files
                (missing: it can).
            max_concurrency: the bound (default: the spec's); also the ceiling
                for :meth:`set_concurrency`.

        Raises:
            ValueError: the plan is not this spec's, or the bound is below 1.
        """
        if sorted(plan.order) != sorted(spec.task_ids):
            raise ValueError("the plan does not belong to this workflow: its tasks differ")
        limit = spec.max_concurrency if max_concurrency is None else max_concurrency
        if limit < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {limit}")
        self._spec = spec
        self._plan = plan
        self._sequential = plan.coordination_mode_used is CoordinationMode.SEQUENTIAL
        self._stop_on_failure = spec.failure_policy is FailurePolicy.STOP
        self._limit = self._bound = limit
        self._prefixes = {
            t.id: tuple(
                literal_prefix(g)
                for g in effective_writes(t.writes, can_write=can_write.get(t.id, True))
            )
            for t in spec.tasks
        }
        self._by_priority = tuple(t.id for t in sorted(spec.tasks, key=lambda t: t.sort_key))
        self._isolated = {t.id: t.isolated for t in spec.tasks}
        self._waiting = {t.id: len(t.dependencies) for t in spec.tasks}
        self._slots = {
            t.id: _Slot(TaskStatus.READY if not t.dependencies else TaskStatus.PENDING)
            for t in spec.tasks
        }
        self._running: dict[str, None] = {}
        self._hold_until: float | None = None
        self._halt: str | None = None
        self._cancelled = False

    # -- what the engine asks --------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Whether every task is in a final state (completed, failed, skipped, cancelled)."""
        return all(slot.status.final for slot in self._slots.values())

    @property
    def running(self) -> tuple[str, ...]:
        """The running tasks, in the order they started."""
        return tuple(self._running)

    @property
    def concurrency(self) -> int:
        """The bound in force now."""
        return self._bound

    @property
    def halted(self) -> str | None:
        """Why nothing new starts (a stop after a failure, a cancel), or ``None``."""
        return self._halt

    @property
    def hold_until(self) -> float | None:
        """The time before which nothing new starts, if a pause was asked for."""
        return self._hold_until

    def state(self, task_id: str) -> TaskState:
        """The task's state now.

        Raises:
            KeyError: no task has this id.
        """
        s = self._slots[task_id]
        return TaskState(task_id, s.status, s.attempt, s.reason, s.blocked_by, s.not_before)

    def states(self) -> dict[str, TaskState]:
        """Every task's state, in input order."""
        return {tid: self.state(tid) for tid in self._slots}

    def conflicts(self, a: str, b: str) -> bool:
        """Whether tasks ``a`` and ``b`` may not run at the same time (overlapping writers)."""
        if self._isolated[a] and self._isolated[b]:
            return False
        return prefixes_overlap(self._prefixes[a], self._prefixes[b])

    def ready_to_start(self, now: float) -> list[str]:
        """The tasks to start now, in start order; starting all of them keeps every rule.

        A query: nothing changes until :meth:`started` is called for each.
        """
        if self._halt is not None or (self._hold_until is not None and now < self._hold_until):
            return []
        if self._sequential:
            if self._running:
                return []
            following = self._next_in_order()
            if following is not None and self._startable(following, now):
                return [following]
            return []
        free = self._bound - len(self._running)
        if free <= 0:
            return []
        claims = _Claims()
        for running in self._running:
            claims.add(self._prefixes[running], self._isolated[running])
        chosen: list[str] = []
        for task_id in self._by_priority:
            if not self._startable(task_id, now):
                continue
            prefixes, isolated = self._prefixes[task_id], self._isolated[task_id]
            blocked = claims.blocks(prefixes, isolated)
            claims.add(prefixes, isolated)
            if not blocked:
                chosen.append(task_id)
                if len(chosen) == free:
                    break
        return chosen

    def next_wakeup(self, now: float) -> float | None:
        """The earliest later time at which a ready task's hold or retry time ends.

        ``None`` when only a task ending can let something new start.
        """
        if self._halt is not None:
            return None
        hold = self._hold_until if self._hold_until is not None else -math.inf
        wake: float | None = None
        for slot in self._slots.values():
            if slot.status is not TaskStatus.READY:
                continue
            due = max(hold, slot.not_before if slot.not_before is not None else -math.inf)
            if due > now and (wake is None or due < wake):
                wake = due
        return wake

    # -- what the engine reports -----------------------------------------------------------

    def started(self, task_id: str) -> None:
        """Record that a task was launched: its attempt counts up and it is running.

        Call it for the tasks :meth:`ready_to_start` just returned, before
        anything else changes.

        Raises:
            SchedulingError: the task may not start now (not ready, halted,
                out of turn, no free slot, or an overlapping writer runs).
        """
        slot = self._slots[task_id]
        if slot.status is not TaskStatus.READY:
            raise SchedulingError(f"task {task_id!r} is {slot.status}, not ready")
        if self._halt is not None:
            raise SchedulingError(f"task {task_id!r} may not start: {self._halt}")
        if self._sequential and (self._running or task_id != self._next_in_order()):
            raise SchedulingError(f"task {task_id!r} is not next in the sequential order")
        if len(self._running) >= self._bound:
            raise SchedulingError(f"task {task_id!r} may not start: {self._bound} already run")
        clash = next((r for r in self._running if self.conflicts(task_id, r)), None)
        if clash is not None:
            raise SchedulingError(
                f"task {task_id!r} may not start: {clash!r} writes the same paths"
            )
        slot.status = TaskStatus.RUNNING
        slot.attempt += 1
        slot.not_before = None
        self._running[task_id] = None

    def finished(self, task_id: str, status: TaskStatus) -> tuple[str, ...]:
        """Record how a running task ended; return the tasks skipped because of it.

        ``completed`` makes dependents whose dependencies all completed ready.
        ``failed`` and ``cancelled`` skip the dependents (transitively); a
        failure under ``failure_policy: stop`` also skips every task not started.

        Raises:
            SchedulingError: the task is not running, or ``status`` is not an ending.
        """
        if status not in _ENDINGS:
            raise SchedulingError(f"a task ends completed, failed or cancelled, not {status}")
        slot = self._end_run(task_id)
        slot.status = status
        if status is TaskStatus.COMPLETED:
            for dependent in self._plan.dependents[task_id]:
                self._waiting[dependent] -= 1
                pending = self._slots[dependent].status is TaskStatus.PENDING
                if pending and self._waiting[dependent] == 0:
                    self._slots[dependent].status = TaskStatus.READY
            return ()
        skipped = self._skip_dependents(task_id)
        if status is TaskStatus.FAILED and self._stop_on_failure and self._halt is None:
            self._halt = f"task {task_id!r} failed and failure_policy is stop"
            skipped += self._end_not_started(TaskStatus.SKIPPED, self._halt)
        return tuple(skipped)

    def retry(self, task_id: str, not_before: float) -> TaskStatus:
        """Put a running task back to start again (attempt + 1), not before ``not_before``.

        The engine decides whether a failure deserves a retry, how long to
        back off, and keeps the count against the task's ``retries`` (a
        rate-limit retry need not use one up). If the run is halted, the task
        is not put back: it ends ``cancelled`` (after :meth:`cancel`) or
        ``failed`` (after a stop).

        Returns:
            The task's status now: ``ready``, or how it ended.

        Raises:
            SchedulingError: the task is not running.
        """
        slot = self._end_run(task_id)
        if self._halt is not None:
            slot.status = TaskStatus.CANCELLED if self._cancelled else TaskStatus.FAILED
            slot.reason = f"not retried: {self._halt}"
            return slot.status
        slot.status = TaskStatus.READY
        slot.not_before = not_before
        return slot.status

    def pause_until(self, until: float) -> None:
        """Start nothing new before ``until`` (a shared rate-limit pause); a pause only grows."""
        if self._hold_until is None or until > self._hold_until:
            self._hold_until = until

    def set_concurrency(self, n: int) -> None:
        """Change the bound to ``n``, at most the bound the scheduler was built with.

        Raises:
            ValueError: ``n`` is below 1.
        """
        if n < 1:
            raise ValueError(f"the concurrency bound must be at least 1, got {n}")
        self._bound = min(n, self._limit)

    def cancel(self, reason: str = "the workflow was cancelled") -> tuple[str, ...]:
        """Start nothing new; every task not started is cancelled. Returns those tasks."""
        if not self._cancelled:
            self._cancelled = True
            self._halt = reason
        return tuple(self._end_not_started(TaskStatus.CANCELLED, reason))

    def stop(self, reason: str) -> tuple[str, ...]:
        """Start nothing new; every task not started is skipped with ``reason`` (a spent
        budget). Running tasks run to their end. Returns the tasks skipped."""
        if self._halt is None:
            self._halt = reason
        return tuple(self._end_not_started(TaskStatus.SKIPPED, reason))

    def replay(self, ended: Sequence[tuple[str, TaskStatus]]) -> tuple[str, ...]:
        """Restore tasks that ran and ended in an earlier run of this workflow (a resume).

        Each ``(task_id, status)``, ``completed`` or ``failed``, counts as started
        once and ended so, whatever the start rules say now: they held when it
        ran. Their dependents follow as :meth:`finished` says (a failure under
        ``failure_policy: stop`` halts the run again). Call it on a new
        scheduler, before anything starts. Returns the tasks skipped because of
        the failures.

        Raises:
            SchedulingError: a task is not pending or ready, or ``status`` is not
                completed or failed.
        """
        for task_id, status in ended:
            slot = self._slots[task_id]
            if status not in (TaskStatus.COMPLETED, TaskStatus.FAILED):
                raise SchedulingError(f"only completed or failed tasks are replayed, not {status}")
            if slot.status not in (TaskStatus.PENDING, TaskStatus.READY):
                raise SchedulingError(f"task {task_id!r} is {slot.status}, not waiting to start")
            slot.status = TaskStatus.RUNNING
            slot.attempt += 1
            self._running[task_id] = None
        skipped: list[str] = []
        for task_id, status in sorted(ended, key=lambda e: e[1] is not TaskStatus.COMPLETED):
            skipped += self.finished(task_id, status)
        return tuple(skipped)

    # -- inside ----------------------------------------------------------------------------

    def _startable(self, task_id: str, now: float) -> bool:
        slot = self._slots[task_id]
        if slot.status is not TaskStatus.READY:
            return False
        return slot.not_before is None or now >= slot.not_before

    def _next_in_order(self) -> str | None:
        return next((t for t in self._plan.order if not self._slots[t].status.final), None)

    def _end_run(self, task_id: str) -> _Slot:
        slot = self._slots[task_id]
        if slot.status is not TaskStatus.RUNNING:
            raise SchedulingError(f"task {task_id!r} is {slot.status}, not running")
        del self._running[task_id]
        return slot

    def _skip_dependents(self, task_id: str) -> list[str]:
        skipped: list[str] = []
        queue = [task_id]
        while queue:
            ended = queue.pop(0)
            how = _HOW_IT_ENDED[self._slots[ended].status]
            for dependent in self._plan.dependents[ended]:
                slot = self._slots[dependent]
                if slot.status not in (TaskStatus.PENDING, TaskStatus.READY):
                    continue
                slot.status = TaskStatus.SKIPPED
                slot.reason = f"dependency {ended!r} {how}"
                slot.blocked_by = ended
                skipped.append(dependent)
                queue.append(dependent)
        return skipped

    def _end_not_started(self, status: TaskStatus, reason: str) -> list[str]:
        ended: list[str] = []
        for task_id, slot in self._slots.items():
            if slot.status in (TaskStatus.PENDING, TaskStatus.READY):
                slot.status = status
                slot.reason = reason
                slot.not_before = None
                ended.append(task_id)
        return ended
