"""The workflow engine: check a workflow, run it, resume it after its orchestrator died, cancel it.

:class:`WorkflowEngine` is what ``coordinate_multi_agent_workflow`` and
``claude-pm workflow`` call. Its life of one workflow:

1. :meth:`~WorkflowEngine.check` (:mod:`claude_pm.workflow.checks`): every
   problem of the workflow, its agents and its tasks in one
   :class:`~claude_pm.errors.WorkflowInvalid`, before anything runs.
2. :meth:`~WorkflowEngine.run`: the workflow is journaled (its normalized
   input and ``input_hash``, the orchestrator's identity), then a
   :class:`~claude_pm.workflow.running.WorkflowRun` runs it on an executor:
   the engine's own local one (a thread pool under a supervisor of its own),
   Ray's when the ``executor`` setting says ``ray``, or one the caller gives
   (``claude_pm.testing.InThreadExecutor``).
3. :meth:`~WorkflowEngine.resume`: for a workflow whose orchestrator is gone
   (killed, even with SIGKILL): reclaim what it left
   (:mod:`claude_pm.workflow.reclaim`), check the stored input against its
   hash, take the workflow over (compare-and-set on the recorded
   orchestrator), and run what is left.
4. :meth:`~WorkflowEngine.cancel`: a live orchestrator (its recorded identity,
   pid and start time, still runs) is asked through the journal, which its
   run polls every ``poll_s``: it stops scheduling, kills its trees and
   journals them cancelled; a dead one's workflow is reclaimed and marked
   cancelled.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from claude_pm.agents.runner import AgentRunner
from claude_pm.agents.runs import RunStore, new_run_id
from claude_pm.config import ExecutorKind
from claude_pm.errors import InvalidInput, NotAvailable, WorkflowInvalid
from claude_pm.process import Supervisor
from claude_pm.process.identity import identity_alive, process_identity
from claude_pm.workflow.attempts import EngineOptions
from claude_pm.workflow.checks import CheckedWorkflow, WorkflowChecker
from claude_pm.workflow.journal import WorkflowJournal, WorkflowRecord
from claude_pm.workflow.outcome import TaskOutcome, WorkflowResult, WorkflowStatus, WorktreeNote
from claude_pm.workflow.parse import parse_workflow
from claude_pm.workflow.plan import WorkflowPlan, plan_workflow
from claude_pm.workflow.reclaim import Reclaimed, reclaim_dead_workflows, reclaim_workflow
from claude_pm.workflow.running import EventCallback, Restored, WorkflowRun
from claude_pm.workflow.spec import CoordinationMode, TaskStatus, WorkflowSpec

if TYPE_CHECKING:
    from claude_pm.agents.registry import AgentRegistry
    from claude_pm.cancel import CancelToken
    from claude_pm.config import Settings
    from claude_pm.state import Database
    from claude_pm.workflow.executors.base import TaskExecutor

log = logging.getLogger(__name__)

#: A workflow id: ``wf-`` and a run id (sortable by start time).
WORKFLOW_ID_PREFIX = "wf-"


def new_workflow_id() -> str:
    return WORKFLOW_ID_PREFIX + new_run_id()


class WorkflowEngine:
    """Checks, runs, resumes and cancels workflows for one project (see the module docstring).

    Args:
        settings, registry, database: the project's.
        options: how to run (retries, backoff, polling...).
        executor: run attempts on this executor instead of the one the
            ``executor`` setting names (the engine does not shut it down).
    """

    def __init__(
        self,
        settings: Settings,
        registry: AgentRegistry,
        database: Database,
        *,
        options: EngineOptions | None = None,
        executor: TaskExecutor | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.database = database
        self.options = options or EngineOptions()
        self.executor = executor
        self.journal = WorkflowJournal(database)
        self.runs = RunStore(database)

    # -- checking -----------------------------------------------------------------------

    def check(self, arguments: Any) -> CheckedWorkflow:
        """Parse and check a workflow (see :class:`~claude_pm.workflow.checks.WorkflowChecker`).

        Raises:
            WorkflowInvalid: every problem found, the first in the message.
        """
        return WorkflowChecker(self.settings, self.registry).check(arguments)

    # -- running ------------------------------------------------------------------------

    def run(
        self,
        arguments: Any,
        *,
        cancel: CancelToken | None = None,
        on_event: EventCallback | None = None,
        workflow_id: str | None = None,
    ) -> WorkflowResult:
        """Check the workflow, journal it, run it to its end.

        Raises:
            WorkflowInvalid: from :meth:`check`; nothing ran.
            NotAvailable: the ``ray`` executor is chosen and Ray is not available.
            StoreError: the journal cannot be written.
        """
        checked = self.check(arguments)
        wid = workflow_id or new_workflow_id()
        budget = checked.spec.budget_usd
        if budget is None:
            budget = self.settings.workflow_budget_usd
        record = WorkflowRecord(
            workflow_id=wid,
            description=checked.spec.description,
            status=WorkflowStatus.RUNNING,
            input=checked.input,
            input_hash=checked.input_hash,
            coordination_mode=str(checked.spec.coordination_mode),
            mode_used=str(checked.plan.coordination_mode_used),
            created_at=time.time(),
            started_at=time.time(),
            orchestrator=process_identity(os.getpid()),
            budget_usd=budget,
            executor=self._executor_name(),
            project_root=str(self.settings.project_root),
        )
        self.journal.create(record, [(t.id, t.position, t.agent_type) for t in checked.spec.tasks])
        log.info("workflow %s: %d task(s) journaled", wid, len(checked.spec.tasks))
        return self._execute(wid, checked, budget, cancel, on_event, None)

    def resume(
        self,
        workflow_id: str,
        *,
        cancel: CancelToken | None = None,
        on_event: EventCallback | None = None,
    ) -> WorkflowResult:
        """Continue a workflow whose orchestrator is gone, from where its journal says it was.

        Completed (and failed) tasks are not run again; a task that was running
        runs again as a fresh attempt, ``interrupted`` in the result; effects
        the dead orchestrator may have half done are reported, never repeated.

        Raises:
            InvalidInput: no workflow has this id.
            WorkflowInvalid: its orchestrator still runs, another resume took it
                over, or its stored input no longer checks (the message says why).
        """
        workflow = self._workflow(workflow_id)
        if workflow.status is WorkflowStatus.RUNNING and identity_alive(workflow.orchestrator):
            raise WorkflowInvalid(
                f"Workflow {workflow_id} is still running (orchestrator {workflow.orchestrator}); "
                f"wait for it, or stop it with `claude-pm workflow cancel {workflow_id}`.",
                field="workflow_id",
            )
        reclaimed = reclaim_workflow(self.journal, self.runs, workflow)
        self.runs.reclaim()  # the dead orchestrator's runs become abandoned
        checked = self.check(workflow.input)
        if checked.input_hash != workflow.input_hash:
            raise WorkflowInvalid(
                f"Workflow {workflow_id}'s stored input no longer matches its hash (it was "
                "journaled by another version of claude-pm); run it again instead.",
                field="workflow_id",
            )
        if not self.journal.claim(
            workflow_id, process_identity(os.getpid()), workflow.orchestrator
        ):
            raise WorkflowInvalid(
                f"Workflow {workflow_id} was taken over by another `workflow resume`.",
                field="workflow_id",
            )
        tasks = {t.task_id: t for t in self.journal.tasks(workflow_id)}
        again = [tid for tid, t in tasks.items() if t.status not in _KEPT]
        self.journal.reset_tasks(workflow_id, again)
        tasks = {t.task_id: t for t in self.journal.tasks(workflow_id)}
        records = {}
        for task in tasks.values():
            if task.run_id is not None and task.status in _KEPT:
                found = self.runs.get(task.run_id)
                if found is not None:
                    records[task.run_id] = found
        in_doubt: dict[str, list[str]] = {}
        for effect in self.journal.effects(workflow_id):
            if effect.status.value == "in_doubt":
                in_doubt.setdefault(effect.task_id, []).append(effect.key)
        restored = Restored(
            tasks=tasks,
            attempts=tuple(self.journal.attempts(workflow_id)),
            records=records,
            in_doubt={k: tuple(v) for k, v in in_doubt.items()},
        )
        log.info(
            "workflow %s: resumed; %d task(s) interrupted, %d process(es) killed",
            workflow_id,
            len(reclaimed.interrupted_tasks),
            reclaimed.processes_killed,
        )
        return self._execute(workflow_id, checked, workflow.budget_usd, cancel, on_event, restored)

    def _workflow(self, workflow_id: str) -> WorkflowRecord:
        workflow = self.journal.workflow(workflow_id)
        if workflow is None:
            recent = ", ".join(w.workflow_id for w in self.journal.workflows(5)) or "none"
            raise InvalidInput(
                f"No workflow {workflow_id!r} in {self.settings.db_path}; recent ones: {recent} "
                "(see `claude-pm workflow list`).",
                field="workflow_id",
            )
        return workflow

    def _executor_name(self) -> str:
        return self.executor.name if self.executor is not None else str(self.settings.executor)

    def _execute(
        self,
        workflow_id: str,
        checked: CheckedWorkflow,
        budget: float | None,
        cancel: CancelToken | None,
        on_event: EventCallback | None,
        restored: Restored | None,
    ) -> WorkflowResult:
        supervisor = Supervisor()
        runner = AgentRunner(self.settings, self.registry, self.database, launcher=supervisor)
        holder: list[WorkflowRun] = []
        try:
            executor, owned = self._open_executor(checked.spec, runner, supervisor, holder)
        except BaseException:
            self.journal.set_status(workflow_id, WorkflowStatus.FAILED)
            raise
        run = WorkflowRun(
            workflow_id=workflow_id,
            spec=checked.spec,
            plan=checked.plan,
            settings=self.settings,
            definitions=checked.definitions,
            journal=self.journal,
            runner=runner,
            executor=executor,
            owns_executor=owned,
            can_write=checked.can_write,
            budget_usd=budget,
            options=self.options,
            cancel=cancel,
            on_event=on_event,
            restored=restored,
        )
        holder.append(run)
        return run.execute()

    def _open_executor(
        self,
        spec: WorkflowSpec,
        runner: AgentRunner,
        supervisor: Supervisor,
        holder: list[WorkflowRun],
    ) -> tuple[TaskExecutor, bool]:
        if self.executor is not None:
            return self.executor, False
        kind = self.settings.executor
        if kind is ExecutorKind.LOCAL:
            from claude_pm.workflow.executors.local import LocalExecutor

            local = LocalExecutor(runner, supervisor, max_workers=spec.max_concurrency)
            return local, True
        try:
            module = importlib.import_module("claude_pm.workflow.executors.ray")
        except ImportError as e:
            raise NotAvailable(
                f"The ray executor is not available in this installation: {e}. Run with "
                "--executor local (the executor setting).",
                feature="ray executor",
            ) from e
        # RayExecutor imports Ray when built, and says so when Ray is not installed.
        executor: TaskExecutor = module.RayExecutor(self.settings.ray_address)
        return executor, True

    # -- cancelling and reclaiming ------------------------------------------------------

    def cancel(
        self, workflow_id: str, reason: str = "cancelled with `claude-pm workflow cancel`"
    ) -> str:
        """Cancel a workflow: ask its live orchestrator, or close a dead one's.

        Returns ``requested`` (a live orchestrator was asked; it stops its
        trees and journals them cancelled), ``cancelled`` (the orchestrator was
        dead: its leftovers were reclaimed and the workflow marked cancelled)
        or the workflow's final status when it had already ended.

        Raises:
            InvalidInput: no workflow has this id.
        """
        workflow = self._workflow(workflow_id)
        if workflow.status is not WorkflowStatus.RUNNING and workflow.status is not (
            WorkflowStatus.INTERRUPTED
        ):
            return str(workflow.status)
        if workflow.status is WorkflowStatus.RUNNING and identity_alive(workflow.orchestrator):
            self.journal.request_cancel(workflow_id, reason)
            return "requested"
        reclaim_workflow(self.journal, self.runs, workflow)
        tasks = self.journal.tasks(workflow_id)
        self.journal.task_ended(
            workflow_id,
            [(t.task_id, TaskStatus.CANCELLED, reason) for t in tasks if not t.status.final],
        )
        self.journal.set_status(workflow_id, WorkflowStatus.CANCELLED)
        return "cancelled"

    # -- reading ------------------------------------------------------------------------

    def snapshot(self, workflow_id: str) -> WorkflowResult:
        """A workflow as its journal has it now, running or ended (``workflow status``).

        A workflow journaled running whose orchestrator no longer exists reads
        ``interrupted`` (``workflow resume`` continues it).

        Raises:
            InvalidInput: no workflow has this id.
        """
        workflow = self._workflow(workflow_id)
        status = workflow.status
        if status is WorkflowStatus.RUNNING and not identity_alive(workflow.orchestrator):
            status = WorkflowStatus.INTERRUPTED
        try:
            spec = parse_workflow(workflow.input)
            plan: WorkflowPlan | None = plan_workflow(spec)
        except WorkflowInvalid:
            plan = None
        in_doubt: dict[str, list[str]] = {}
        for effect in self.journal.effects(workflow_id):
            if effect.status.value == "in_doubt":
                in_doubt.setdefault(effect.task_id, []).append(effect.key)
        outcomes = tuple(
            TaskOutcome(
                task_id=t.task_id,
                agent_type=t.agent_type,
                status=t.status,
                attempts=t.attempts,
                interrupted=t.interrupted,
                started_at=t.started_at,
                finished_at=t.finished_at,
                reason=t.reason,
                record=self.runs.get(t.run_id) if t.run_id else None,
                worktree=WorktreeNote.from_dict(t.worktree) if t.worktree else None,
                effects_in_doubt=tuple(in_doubt.get(t.task_id, ())),
                cost_usd=t.cost_usd,
            )
            for t in self.journal.tasks(workflow_id)
        )
        costs = [t.cost_usd for t in outcomes if t.cost_usd is not None]
        started = workflow.started_at or workflow.created_at
        return WorkflowResult(
            workflow_id=workflow_id,
            description=workflow.description,
            status=status,
            coordination_mode=CoordinationMode(workflow.coordination_mode),
            coordination_mode_used=CoordinationMode(workflow.mode_used),
            tasks=outcomes,
            critical_path=plan.critical_path if plan is not None else (),
            makespan_s=(workflow.finished_at or time.time()) - started,
            mode_note=plan.mode_note if plan is not None else None,
            cost_usd=sum(costs) if costs else None,
            budget_usd=workflow.budget_usd,
            resumed=workflow.resumes > 0,
            cancelled_reason=workflow.cancel_reason,
            executor=workflow.executor,
        )

    def reclaim_dead(self) -> list[Reclaimed]:
        """Reclaim every workflow whose orchestrator died (``claude-pm doctor`` calls it)."""
        return reclaim_dead_workflows(self.journal, self.runs)

    def close(self) -> None:
        self.journal.close()


_KEPT = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED})


__all__ = ["CheckedWorkflow", "EngineOptions", "WorkflowEngine", "new_workflow_id"]
