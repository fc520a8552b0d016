"""Checking a workflow before it runs: the parser's checks, the registry's, and the engine's own.

:class:`WorkflowChecker` is step 1 of a workflow's life (see
:mod:`claude_pm.workflow.engine`): :func:`~claude_pm.workflow.parse.parse_workflow`
with the registry's check of each agent type (unknown, or unable to run on its
backend here), and the engine's own checks of each task the registry knows (a
``backend`` its agent cannot run on, a project root outside the boundaries,
``isolation: worktree`` outside a git repository with a commit). Every problem
of both kinds comes in one :class:`~claude_pm.errors.WorkflowInvalid`. A task
whose agent definition says ``isolation: worktree`` (the Claude Code field) is
isolated as if the task said so, and the plan estimates each task by its
timeout, else its agent's, else the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.context import resolve_project_root
from claude_pm.errors import ClaudePMError, WorkflowInvalid
from claude_pm.workflow.attempts import can_write
from claude_pm.workflow.parse import parse_workflow
from claude_pm.workflow.plan import WorkflowPlan, plan_workflow
from claude_pm.workflow.spec import Isolation, WorkflowSpec
from claude_pm.workflow.worktrees import find_repository

if TYPE_CHECKING:
    from claude_pm.agents.definition import AgentDefinition
    from claude_pm.agents.registry import AgentRegistry
    from claude_pm.config import Settings


@dataclass(frozen=True)
class CheckedWorkflow:
    """A workflow that passed every check, ready to run.

    ``spec`` is the one that runs (agent-level isolation applied);
    ``input_hash`` is the hash of the input as given (``spec.input_hash`` of
    the parsed input, before the engine's changes).
    """

    spec: WorkflowSpec
    plan: WorkflowPlan
    input: Mapping[str, Any]
    input_hash: str
    definitions: Mapping[str, tuple[AgentDefinition, str]]
    can_write: Mapping[str, bool]


class WorkflowChecker:
    """Checks workflows against one project's settings and agents."""

    def __init__(self, settings: Settings, registry: AgentRegistry) -> None:
        self.settings = settings
        self.registry = registry

    def _agent_problem(self, agent_type: str) -> str | None:
        try:
            definition = self.registry.get(agent_type)
        except ClaudePMError as e:
            return e.message
        reason = definition.unavailable_reason(self.settings.default_backend)
        return None if reason is None else f"agent {agent_type!r} cannot run here: {reason}"

    def _definition(self, agent_type: str, known: dict[str, AgentDefinition]) -> AgentDefinition:
        """The registry's definition, looked up once per agent type of a workflow."""
        if agent_type not in known:
            known[agent_type] = self.registry.get(agent_type)
        return known[agent_type]

    def _task_problems(self, tasks: Any) -> list[str]:
        """The engine's own problems with each task the registry knows (best effort on raw
        input, so they join the parser's in one error)."""
        problems: list[str] = []
        boundaries = (self.settings.project_root, *self.settings.allowed_project_roots)
        repos: dict[Path, str | None] = {}
        roots: dict[str, Path | str] = {}
        known: dict[str, AgentDefinition] = {}
        for position, task in enumerate(tasks if isinstance(tasks, (list, tuple)) else ()):
            if not isinstance(task, Mapping) or not isinstance(task.get("agent_type"), str):
                continue
            try:
                definition = self._definition(task["agent_type"], known)
            except ClaudePMError:
                continue  # the parser says so
            tid = task.get("id")
            where = (
                f"task {tid!r} " if isinstance(tid, str) else ""
            ) + f"(agent_tasks[{position}]): "
            backend = task.get("backend")
            if isinstance(backend, str):
                reason = definition.unavailable_reason(backend)
                if reason is not None:
                    problems.append(f"{where}agent {definition.agent_type!r} cannot run: {reason}")
            given = task.get("context")
            context: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
            named = context.get("project_root", self.settings.project_root)
            key = str(named) if isinstance(named, (str, Path)) else repr(named)
            if key not in roots:
                try:
                    roots[key] = resolve_project_root(named, boundaries)
                except ClaudePMError as e:
                    roots[key] = e.message
            root = roots[key]
            if isinstance(root, str):
                problems.append(where + root)
                continue
            if task.get("isolation") == Isolation.WORKTREE.value or _definition_isolated(
                definition
            ):
                if root not in repos:
                    found = find_repository(root)
                    repos[root] = found if isinstance(found, str) else None
                if repos[root] is not None:
                    problems.append(f"{where}isolation: worktree: {repos[root]}")
        return problems

    def check(self, arguments: Any) -> CheckedWorkflow:
        """Parse and check a workflow (tool arguments or a workflow file's content).

        Raises:
            WorkflowInvalid: every problem found, the first in the message.
        """
        raw_tasks = arguments.get("agent_tasks") if isinstance(arguments, Mapping) else None
        try:
            parsed = parse_workflow(arguments, check_agent=self._agent_problem)
        except WorkflowInvalid as e:
            extra = self._task_problems(raw_tasks)
            if not extra:
                raise
            raise WorkflowInvalid(
                _with_more(e.message, len(extra)),
                problems=[*e.problems, *extra],
                field=e.field,
                task_id=e.task_id,
                cycle=e.cycle,
            ) from None
        problems = self._task_problems(raw_tasks)
        if problems:
            raise WorkflowInvalid(
                _with_more(f"Invalid workflow: {problems[0]}.", len(problems) - 1),
                problems=problems,
            )
        definitions: dict[str, tuple[AgentDefinition, str]] = {}
        known: dict[str, AgentDefinition] = {}
        tasks = []
        for task in parsed.tasks:
            definition = self._definition(task.agent_type, known)
            backend = definition.backend_for(task.backend or self.settings.default_backend)
            definitions[task.id] = (definition, backend)
            if task.isolation is None and _definition_isolated(definition):
                task = replace(task, isolation=Isolation.WORKTREE)
            tasks.append(task)
        spec = replace(parsed, tasks=tuple(tasks))
        estimates = {
            t.id: float(
                t.timeout_s or definitions[t.id][0].timeout_s or self.settings.default_timeout_s
            )
            for t in spec.tasks
        }
        return CheckedWorkflow(
            spec=spec,
            plan=plan_workflow(spec, estimates_s=estimates),
            input=parsed.to_dict(),
            input_hash=parsed.input_hash,
            definitions=definitions,
            can_write={t.id: can_write(definitions[t.id][0]) for t in spec.tasks},
        )


def _with_more(message: str, more: int) -> str:
    """``message`` saying ``more`` further problems (after any count it already has)."""
    if more <= 0:
        return message
    head = message.rstrip(".")
    if head.endswith("more problem)") or head.endswith("more problems)"):
        count = int(head.rsplit("(and ", 1)[1].split(" ")[0]) + more
        head = head.rsplit(" (and ", 1)[0]
    else:
        count = more
    return f"{head} (and {count} more problem{'s' if count > 1 else ''})."


def _definition_isolated(definition: AgentDefinition) -> bool:
    return str(definition.claude_code.get("isolation") or "") == Isolation.WORKTREE.value


__all__ = ["CheckedWorkflow", "WorkflowChecker"]
