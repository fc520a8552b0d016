"""One run of a workflow: ask the scheduler, journal, launch, finish, until every task is final.

The life of a run (:meth:`WorkflowRun.execute`), all in the calling thread but
the attempts themselves:

1. A resumed run first replays what the journal says ended (completed and
   failed tasks are never run again), counts what was spent, and restores each
   task's attempt count.
2. Loop until the scheduler is done: check the cancel sources (the caller's
   token; a ``workflow cancel`` request in the journal, read every
   ``poll_s``); start what the scheduler allows, each start reserving budget
   first (nothing left to reserve: wait for a running task to end; budget
   spent: the tasks not started are skipped); wait for an attempt to end, a
   retry time, a pause's end or the next poll; finish what ended.
3. Starting an attempt: the scheduler is told, the journal gets the attempt
   (for an isolated task, its worktree's path before the worktree is made),
   the runner prepares it, the journal gets its run id, the runner writes its
   hand-off and records it, the executor launches it. The run's record gets
   the tree's identity as soon as it exists (the runner does it, from the
   supervisor's ``tree_started`` event): who to kill should this process die.
4. Finishing an attempt: the tickets effect is journaled, the runner finishes
   the run (result file, tickets, record), :func:`~claude_pm.workflow.attempts.decide`
   says what it means; an isolated task's worktree is committed to its branch
   (an effect too) or discarded (an attempt that is retried), then removed;
   the budget and the limiter learn what happened; the journal gets the end;
   the scheduler gets the end or the retry, and the tasks it skips.
5. Cancelled (the caller, ``workflow cancel``, Ctrl-C or SIGTERM): nothing new
   starts, the tasks not started are cancelled, every running attempt's token
   is set and the executor kills its trees; each ends ``cancelled`` and is
   finished as above. An exception in this thread (KeyboardInterrupt,
   SystemExit) does the same, waits for the attempts, and goes on up.

The observer (``on_event``) is called from this thread only.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.context import resolve_project_root
from claude_pm.errors import ClaudePMError
from claude_pm.workflow.attempts import (
    Decision,
    build_request,
    decide,
    dependency_entry,
    uses_model,
)
from claude_pm.workflow.governance import Budget, RateLimiter, Reservation
from claude_pm.workflow.isolation import end_worktree
from claude_pm.workflow.journal import AttemptRecord, AttemptStatus
from claude_pm.workflow.outcome import (
    EventKind,
    RunningTask,
    TaskOutcome,
    WorkflowEvent,
    WorkflowResult,
    WorkflowStatus,
    WorktreeNote,
)
from claude_pm.workflow.scheduler import Scheduler
from claude_pm.workflow.spec import TaskSpec, TaskStatus
from claude_pm.workflow.worktrees import (
    GitError,
    Worktree,
    create_worktree,
    find_repository,
    remove_worktree,
)

if TYPE_CHECKING:
    from claude_pm.agents.definition import AgentDefinition
    from claude_pm.agents.runner import AgentRunner
    from claude_pm.agents.runs import RunRecord
    from claude_pm.agents.values import AgentResult, PreparedRun, RunProgress
    from claude_pm.cancel import CancelToken
    from claude_pm.config import Settings
    from claude_pm.workflow.attempts import EngineOptions
    from claude_pm.workflow.executors.base import Launch, TaskExecutor
    from claude_pm.workflow.journal import TaskRecord, WorkflowJournal
    from claude_pm.workflow.plan import WorkflowPlan
    from claude_pm.workflow.spec import WorkflowSpec

log = logging.getLogger(__name__)

EventCallback = Callable[[WorkflowEvent], None]

#: Seconds between two tick events (running tasks' memory and elapsed time).
TICK_S = 1.0
#: How long an interrupted run waits for its attempts to be killed and finished.
ABORT_WAIT_S = 15.0


@dataclass(frozen=True)
class Restored:
    """What the journal says about an earlier run of the workflow (for a resume)."""

    tasks: Mapping[str, TaskRecord]
    attempts: tuple[AttemptRecord, ...]
    records: Mapping[str, RunRecord]
    in_doubt: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class _Book:
    task: TaskSpec
    definition: AgentDefinition
    backend: str
    attempts: int = 0
    retries_used: int = 0
    rate_retries_used: int = 0
    interrupted: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    result: AgentResult | None = None
    record: RunRecord | None = None
    worktree: WorktreeNote | None = None
    cost_usd: float | None = None
    reason: str | None = None
    in_doubt: tuple[str, ...] = ()


@dataclass
class _Flight:
    task_id: str
    number: int
    prepared: PreparedRun
    started: float
    reservation: Reservation
    token: threading.Event
    worktree: Worktree | None
    t0: float
    rss_bytes: int | None = None


class WorkflowRun:
    """One run of one workflow (see the module docstring); use it once."""

    def __init__(
        self,
        *,
        workflow_id: str,
        spec: WorkflowSpec,
        plan: WorkflowPlan,
        settings: Settings,
        definitions: Mapping[str, tuple[AgentDefinition, str]],
        journal: WorkflowJournal,
        runner: AgentRunner,
        executor: TaskExecutor,
        owns_executor: bool,
        can_write: Mapping[str, bool],
        budget_usd: float | None,
        options: EngineOptions,
        cancel: CancelToken | None = None,
        on_event: EventCallback | None = None,
        restored: Restored | None = None,
    ) -> None:
        self.workflow_id = workflow_id
        self.spec = spec
        self.plan = plan
        self.settings = settings
        self.journal = journal
        self.runner = runner
        self.executor = executor
        self.owns_executor = owns_executor
        self.options = options
        self.cancel = cancel
        self.on_event = on_event
        self.scheduler = Scheduler(spec, plan, can_write=can_write)
        self.limiter = RateLimiter(spec.max_concurrency, default_pause_s=options.rate_limit_pause_s)
        self.books = {t.id: _Book(t, *definitions[t.id]) for t in spec.tasks}
        spent = 0.0
        if restored is not None:
            spent = sum(a.cost_usd or 0.0 for a in restored.attempts)
        self.budget = Budget(budget_usd, run_cap_usd=settings.run_budget_usd, spent_usd=spent)
        self.resumed = restored is not None
        self.queue: queue.Queue[tuple[str, int, Future[Launch]]] = queue.Queue()
        self.inflight: dict[tuple[str, int], _Flight] = {}
        self.cancelling: str | None = None
        self.final: set[str] = set()
        self.tickets = 0
        self.worktrees_dir = settings.state_dir / "worktrees"
        self.t0 = time.monotonic()
        if restored is not None:
            self._restore(restored)

    # -- the loop -----------------------------------------------------------------------

    def execute(self) -> WorkflowResult:
        """Run to the end and return the result; see the module docstring.

        Raises:
            BaseException: what interrupted this thread, once the run is cancelled
                and its attempts are finished.
        """
        self.t0 = time.monotonic()
        try:
            self._loop()
        except BaseException as e:
            self._abort(f"the orchestrator was interrupted ({type(e).__name__})")
            raise
        finally:
            if self.owns_executor:
                self.executor.shutdown(cancel=bool(self.inflight))
        return self._end()

    def _loop(self) -> None:
        last_poll = last_tick = time.monotonic()
        while not self.scheduler.done:
            now = time.monotonic()
            if self.cancel is not None and self.cancel.is_set():
                self._cancel("the workflow was cancelled by its caller")
            if now - last_poll >= self.options.poll_s:
                last_poll = now
                requested = self.journal.cancel_requested(self.workflow_id)
                if requested is not None:
                    self._cancel(requested)
            if self.cancelling is None:
                self._start_ready(now)
            if self.scheduler.done:
                break
            if not self.inflight and self.cancelling is None and not self._may_wake(now):
                raise RuntimeError("the workflow cannot go on: no task runs and none may start")
            wait = self.options.poll_s
            wake = self.scheduler.next_wakeup(now)
            if wake is not None:
                wait = min(wait, max(0.0, wake - now))
            try:
                item: tuple[str, int, Future[Launch]] | None = self.queue.get(timeout=wait)
            except queue.Empty:
                item = None
            while item is not None:
                self._ended(*item)
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    item = None
            if self.inflight and time.monotonic() - last_tick >= TICK_S:
                last_tick = time.monotonic()
                self._emit(EventKind.TICK, f"{len(self.inflight)} task(s) running")

    def _may_wake(self, now: float) -> bool:
        return (
            bool(self.scheduler.ready_to_start(now)) or self.scheduler.next_wakeup(now) is not None
        )

    # -- starting -----------------------------------------------------------------------

    def _start_ready(self, now: float) -> None:
        for task_id in self.scheduler.ready_to_start(now):
            book = self.books[task_id]
            reservation = self.budget.reserve(uses_model=uses_model(book.backend))
            if reservation is None:
                if self.budget.spent:
                    self._budget_spent()
                return
            self._launch(task_id, reservation)

    def _budget_spent(self) -> None:
        b = self.budget
        reason = f"budget spent: ${b.spent_usd:.4f} of ${b.limit_usd:.4f}"
        skipped = self.scheduler.stop(reason)
        self.final.update(skipped)
        self.journal.task_ended(
            self.workflow_id, [(t, TaskStatus.SKIPPED, reason) for t in skipped]
        )
        for task_id in skipped:
            self._emit(EventKind.SKIPPED, reason, task_id, status=TaskStatus.SKIPPED)

    def _launch(self, task_id: str, reservation: Reservation) -> None:
        book = self.books[task_id]
        task = book.task
        number = book.attempts + 1
        self.scheduler.started(task_id)
        book.attempts = number
        wall = time.time()
        book.started_at = book.started_at or wall
        worktree: Worktree | None = None
        record = AttemptRecord(
            self.workflow_id, task_id, number, AttemptStatus.RUNNING, wall,
            reserved_usd=reservation.usd,
        )  # fmt: skip
        try:
            deps = {
                d: dependency_entry(
                    d,
                    self.books[d].result,
                    self.books[d].record,
                    self.books[d].worktree,
                    self.options.dependency_output_bytes,
                )
                for d in task.dependencies
            }
            request = build_request(task, reservation, deps)
            if task.isolated:
                root = self._project_root(task)
                repo = find_repository(root)
                if isinstance(repo, str):
                    raise GitError(repo)
                path = self.worktrees_dir / self.workflow_id / f"{task_id}-{number}"
                record = replace(
                    record,
                    worktree_path=str(path),
                    worktree_repo=str(repo.top),
                    worktree_base=repo.head,
                )
                self.journal.attempt_started(record)
                worktree = create_worktree(repo, path, exclude=self.settings.state_dir)
            prepared = self.runner.prepare(request, workdir=worktree.workdir if worktree else None)
            self.journal.attempt_started(replace(record, run_id=prepared.run_id))
            started = self.runner.start(prepared)
        except (ClaudePMError, GitError, OSError) as e:
            message = e.message if isinstance(e, ClaudePMError) else str(e)
            self._refused(task_id, record, reservation, worktree, message)
            return
        flight = _Flight(
            task_id, number, prepared, started, reservation, threading.Event(), worktree,
            time.monotonic(),
        )  # fmt: skip
        self.inflight[(task_id, number)] = flight
        if self.cancelling is not None:
            flight.token.set()
        self._emit(EventKind.STARTED, f"started (attempt {number})", task_id, attempt=number)
        try:
            future = self.executor.submit(
                prepared, cancel=flight.token, on_progress=self._progress_for(flight)
            )
        except Exception as e:  # an executor that refuses work (shut down, broken)
            future = Future()
            future.set_exception(e)
        future.add_done_callback(lambda f: self.queue.put((task_id, number, f)))

    def _project_root(self, task: TaskSpec) -> Path:
        boundaries = (self.settings.project_root, *self.settings.allowed_project_roots)
        return resolve_project_root(
            task.context.get("project_root", self.settings.project_root), boundaries
        )

    def _progress_for(self, flight: _Flight) -> Callable[[RunProgress], None]:
        def progress(event: RunProgress) -> None:
            if event.rss_bytes is not None:
                flight.rss_bytes = event.rss_bytes

        return progress

    def _refused(
        self,
        task_id: str,
        record: AttemptRecord,
        reservation: Reservation,
        worktree: Worktree | None,
        message: str,
    ) -> None:
        log.warning("workflow %s: task %s not started: %s", self.workflow_id, task_id, message)
        if worktree is not None:
            remove_worktree(worktree.repo, worktree.path)
        self.journal.attempt_started(replace(record, status=AttemptStatus.REFUSED))
        self.budget.settle(reservation, None)
        attempt = (record.attempt, AttemptStatus.REFUSED, {"error": message})
        self._conclude(task_id, Decision(TaskStatus.FAILED, message), attempt=attempt)

    # -- finishing ----------------------------------------------------------------------

    def _ended(self, task_id: str, number: int, future: Future[Launch]) -> None:
        flight = self.inflight.pop((task_id, number))
        book = self.books[task_id]
        prepared = flight.prepared
        result: AgentResult | None = None
        effects: list[str] = []
        try:
            launch = future.result()
        except BaseException as e:
            log.warning("workflow %s: task %s: executor failed: %s", self.workflow_id, task_id, e)
            self.runner.record_stopped(prepared, flight.started)
            status = TaskStatus.CANCELLED if self.cancelling else TaskStatus.FAILED
            decision = Decision(status, f"the executor failed: {type(e).__name__}: {e}")
        else:
            key = f"tickets:{prepared.run_id}"
            self.journal.effect_intended(
                self.workflow_id, key, "tickets", task_id, number, {"run_id": prepared.run_id}
            )
            result = self.runner.finish(
                prepared, launch.process, flight.started, tickets_found=launch.tickets_found
            )
            effects.append(key)
            self.tickets += result.tickets.created_count + result.tickets.filed_count
            decision = decide(
                result,
                book.task,
                retries_used=book.retries_used,
                rate_limit_retries_used=book.rate_retries_used,
                rate_limit_retries=self.options.rate_limit_retries,
                retry_timeouts=self.options.retry_timeouts,
                cancelling=self.cancelling is not None,
                backoff_base_s=self.options.backoff_base_s,
                backoff_max_s=self.options.backoff_max_s,
            )
        report = result.report if result is not None else None
        cost = report.cost_usd if report is not None else None
        if cost is not None:
            book.cost_usd = (book.cost_usd or 0.0) + cost
        if flight.worktree is not None:
            note = end_worktree(
                self.journal,
                self.workflow_id,
                book.task,
                flight.number,
                flight.worktree,
                keep=decision.retry is None,
                outcome=f"status: {decision.status}; "
                + (result.summary() if result is not None else str(decision.reason))
                + f"; run {prepared.run_id}",
            )
            if note is not None:
                book.worktree = note
        self.budget.settle(flight.reservation, cost)
        not_before = time.monotonic()
        if decision.retry == "rate_limit" and report is not None:
            not_before = self.limiter.pause_for(report, time.monotonic())
            self.scheduler.pause_until(not_before)
            self.scheduler.set_concurrency(self.limiter.bound)
            book.rate_retries_used += 1
        elif decision.retry == "retries":
            not_before += decision.backoff_s
            book.retries_used += 1
        elif decision.status is TaskStatus.COMPLETED:
            self.limiter.succeeded()
            self.scheduler.set_concurrency(self.limiter.bound)
        if result is not None:
            book.result = result
        if result is not None:
            attempt_status = AttemptStatus(result.process.status.value)
        else:
            attempt_status = AttemptStatus(decision.status.value)
        ended: dict[str, Any] = {
            "cost_usd": cost,
            "backend_session_id": report.session_id if report is not None else None,
            "error": decision.reason,
            "retry_kind": decision.retry,
            "effects_done": effects,
        }
        if decision.retry is not None:
            status = self.scheduler.retry(task_id, not_before)
            if status is TaskStatus.READY:
                self.journal.attempt_ended(
                    self.workflow_id, task_id, number, attempt_status, **ended
                )
                if decision.retry == "rate_limit":
                    wait_s = max(0.0, not_before - time.monotonic())
                    self._emit(
                        EventKind.PAUSED,
                        f"rate limited: no new start for {wait_s:.1f}s, "
                        f"concurrency {self.limiter.bound}",
                        task_id,
                        attempt=number,
                    )
                self._emit(EventKind.RETRYING, f"retrying ({decision.retry})", task_id, number)
                return
            ended["retry_kind"] = None
            decision = Decision(status, self.scheduler.state(task_id).reason)
            self._conclude(
                task_id, decision, already_ended=True, attempt=(number, attempt_status, ended)
            )
            return
        self._conclude(task_id, decision, attempt=(number, attempt_status, ended))

    def _conclude(
        self,
        task_id: str,
        decision: Decision,
        *,
        already_ended: bool = False,
        attempt: tuple[int, AttemptStatus, dict[str, Any]] | None = None,
    ) -> None:
        """Tell the scheduler and the journal (with the attempt's end, in one transaction)
        how a task ended, and who is skipped because of it."""
        skipped = () if already_ended else self.scheduler.finished(task_id, decision.status)
        self.final.add(task_id)
        self.final.update(skipped)
        book = self.books[task_id]
        book.finished_at = time.time()
        book.reason = decision.reason
        changes = [(task_id, decision.status, decision.reason)]
        changes += [(s, TaskStatus.SKIPPED, self.scheduler.state(s).reason) for s in skipped]
        worktree = {task_id: book.worktree.to_dict()} if book.worktree is not None else None
        if attempt is None:
            self.journal.task_ended(self.workflow_id, changes, worktree=worktree)
        else:
            number, status, fields = attempt
            self.journal.attempt_ended(
                self.workflow_id,
                task_id,
                number,
                status,
                **fields,
                tasks_ended=changes,
                worktree=worktree,
            )
        self._emit(EventKind.ENDED, decision.reason or str(decision.status), task_id,
                   status=decision.status)  # fmt: skip
        for s in skipped:
            self._emit(EventKind.SKIPPED, self.scheduler.state(s).reason or "", s,
                       status=TaskStatus.SKIPPED)  # fmt: skip

    # -- cancelling ---------------------------------------------------------------------

    def _cancel(self, reason: str) -> None:
        if self.cancelling is not None:
            return
        self.cancelling = reason
        log.warning("workflow %s: cancelling: %s", self.workflow_id, reason)
        ended = self.scheduler.cancel(reason)
        self.final.update(ended)
        self.journal.task_ended(
            self.workflow_id, [(t, TaskStatus.CANCELLED, reason) for t in ended]
        )
        for task_id in ended:
            self._emit(EventKind.CANCELLED, reason, task_id, status=TaskStatus.CANCELLED)
        for flight in list(self.inflight.values()):
            flight.token.set()
        if self.owns_executor:
            self.executor.shutdown(cancel=True)

    def _abort(self, reason: str) -> None:
        """This thread was interrupted: cancel, finish what ends, journal the workflow cancelled."""
        try:
            self._cancel(reason)
            deadline = time.monotonic() + ABORT_WAIT_S
            while self.inflight and time.monotonic() < deadline:
                try:
                    item = self.queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                try:
                    self._ended(*item)
                except Exception:
                    log.exception("workflow %s: finishing %s failed", self.workflow_id, item[0])
            self.journal.set_status(self.workflow_id, WorkflowStatus.CANCELLED)
        except BaseException:
            log.exception("workflow %s: cancelling after an interruption failed", self.workflow_id)

    # -- the result ---------------------------------------------------------------------

    def _emit(
        self,
        kind: EventKind,
        message: str,
        task_id: str | None = None,
        attempt: int = 0,
        *,
        status: TaskStatus | None = None,
    ) -> None:
        if self.on_event is None:
            return
        running = tuple(
            RunningTask(
                f.task_id,
                self.books[f.task_id].task.agent_type,
                f.number,
                time.monotonic() - f.t0,
                f.rss_bytes,
            )
            for f in self.inflight.values()
        )
        event = WorkflowEvent(
            kind=kind,
            workflow_id=self.workflow_id,
            message=message,
            done=len(self.final),
            total=len(self.books),
            task_id=task_id,
            agent_type=self.books[task_id].task.agent_type if task_id else None,
            attempt=attempt or (self.books[task_id].attempts if task_id else 0),
            status=status,
            tickets=self.tickets,
            running=running,
        )
        try:
            self.on_event(event)
        except Exception:
            log.exception("workflow %s: the event observer failed", self.workflow_id)

    def _end(self) -> WorkflowResult:
        states = self.scheduler.states()
        outcomes = tuple(self._outcome(tid, states[tid]) for tid in self.spec.task_ids)
        if self.cancelling is not None:
            status = WorkflowStatus.CANCELLED
        elif all(o.status is TaskStatus.COMPLETED for o in outcomes):
            status = WorkflowStatus.COMPLETED
        else:
            status = WorkflowStatus.FAILED
        self.journal.set_status(self.workflow_id, status)
        result = WorkflowResult(
            workflow_id=self.workflow_id,
            description=self.spec.description,
            status=status,
            coordination_mode=self.spec.coordination_mode,
            coordination_mode_used=self.plan.coordination_mode_used,
            tasks=outcomes,
            critical_path=self.plan.critical_path,
            makespan_s=time.monotonic() - self.t0,
            mode_note=self.plan.mode_note,
            cost_usd=self.budget.spent_usd if self.budget.reported else None,
            budget_usd=self.budget.limit_usd,
            rate_limit_pauses=self.limiter.pauses,
            resumed=self.resumed,
            cancelled_reason=self.cancelling,
            executor=self.executor.name,
        )
        self._emit(EventKind.WORKFLOW_ENDED, f"workflow {status}")
        return result

    def _outcome(self, task_id: str, state: Any) -> TaskOutcome:
        book = self.books[task_id]
        return TaskOutcome(
            task_id=task_id,
            agent_type=book.task.agent_type,
            status=state.status,
            attempts=book.attempts,
            interrupted=book.interrupted,
            started_at=book.started_at,
            finished_at=book.finished_at if state.status.final else None,
            reason=state.reason or book.reason,
            result=book.result,
            record=book.record if book.result is None else None,
            worktree=book.worktree,
            effects_in_doubt=book.in_doubt,
            cost_usd=book.cost_usd,
        )

    # -- resuming -----------------------------------------------------------------------

    def _restore(self, restored: Restored) -> None:
        for task_id, book in self.books.items():
            record = restored.tasks.get(task_id)
            if record is None:
                continue
            book.attempts = record.attempts
            book.interrupted = record.interrupted
            book.started_at = record.started_at
            book.cost_usd = record.cost_usd
            book.reason = record.reason
            book.in_doubt = restored.in_doubt.get(task_id, ())
            if record.worktree:
                book.worktree = WorktreeNote.from_dict(record.worktree)
            if record.status.final:
                book.finished_at = record.finished_at
            if record.run_id is not None:
                book.record = restored.records.get(record.run_id)
        for attempt in restored.attempts:
            book = self.books[attempt.task_id]
            if attempt.retry_kind == "retries":
                book.retries_used += 1
            elif attempt.retry_kind == "rate_limit":
                book.rate_retries_used += 1
        ended = sorted(
            (
                r
                for r in restored.tasks.values()
                if r.status in (TaskStatus.COMPLETED, TaskStatus.FAILED)
            ),
            key=lambda r: (r.finished_at or 0.0, r.position),
        )
        skipped = self.scheduler.replay([(r.task_id, r.status) for r in ended])
        self.final.update(r.task_id for r in ended)
        self.final.update(skipped)
        self.journal.task_ended(
            self.workflow_id,
            [(s, TaskStatus.SKIPPED, self.scheduler.state(s).reason) for s in skipped],
        )


__all__ = ["EventCallback", "Restored", "WorkflowRun"]
