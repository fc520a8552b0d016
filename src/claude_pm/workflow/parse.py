"""Checking a workflow before anything runs: every problem found, in one error.

The life of one check (:func:`parse_workflow`):

1. The input is the tool's arguments (already checked against the JSON
   schema) or a workflow file the CLI loaded from YAML (not checked yet: the
   same keys, plus YAML's surprises, such as ``id: no`` read as a boolean or
   ``timeout: 30.5``). Nothing here trusts the schema check to have happened.
2. Every field is checked in input order, workflow fields first, then task by
   task (:mod:`claude_pm.workflow.fields`). A problem is recorded, saying what
   is wrong and what to do, and the check goes on: the caller gets them all
   at once. ``check_agent`` (the engine's registry check: unknown agents,
   agents that cannot run here) is asked once per agent type; its answer,
   when not ``None``, is a problem of each task of that type.
3. Task ids: the given ones, else ``task-<position>``. Two tasks with one id
   is a problem (including a given id that equals another task's default);
   the graph checks wait until ids are unique.
4. Dependencies are resolved: a name is a task id if a task has that id;
   otherwise it may be an ``agent_type`` that exactly one task has
   (``data-engineer`` and ``data_engineer`` are one agent type), because
   models write dependencies that way. An unknown name, an agent type that
   several tasks share, and a task depending on itself are problems.
5. Cycles: one per group of tasks that depend on each other, named
   ``a -> b -> a`` (each depends on the next).
6. Problems found: :class:`~claude_pm.errors.WorkflowInvalid`, with every
   problem in ``problems``, the first in the message, its ``field`` and
   ``task_id``, and the first ``cycle``. None: the
   :class:`~claude_pm.workflow.spec.WorkflowSpec`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from claude_pm.agents.definition import agent_type_of
from claude_pm.errors import WorkflowInvalid
from claude_pm.workflow.fields import (
    AgentCheck,
    FieldCheck,
    Problem,
    TaskDraft,
    kind_of,
    read_budget,
    read_task,
)
from claude_pm.workflow.graph import find_cycles
from claude_pm.workflow.spec import (
    MAX_CONCURRENCY_RANGE,
    MAX_TASKS,
    WORKFLOW_FIELDS,
    CoordinationMode,
    FailurePolicy,
    TaskSpec,
    WorkflowSpec,
)


def _check_ids(check: FieldCheck, drafts: list[TaskDraft]) -> bool:
    """Record duplicate ids; whether every id is unique."""
    first_at: dict[str, TaskDraft] = {}
    unique = True
    for draft in drafts:
        earlier = first_at.setdefault(draft.id, draft)
        if earlier is draft:
            continue
        unique = False
        field_path = f"agent_tasks[{draft.position}].id"
        if draft.id_given:
            check.add(
                f"{draft.label}id {draft.id!r} is already used by agent_tasks[{earlier.position}]; "
                "give each task its own id",
                field_path,
                draft.id,
            )
        else:
            check.add(
                f"agent_tasks[{draft.position}] has no id, and its default id {draft.id!r} is "
                f"already used by agent_tasks[{earlier.position}]; give one of them another id",
                field_path,
                draft.id,
            )
    return unique


def _listed(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _resolve(check: FieldCheck, drafts: list[TaskDraft]) -> dict[str, list[str]]:
    """Each task's dependencies as task ids; unresolvable names are recorded and dropped."""
    ids = [d.id for d in drafts]
    known = set(ids)
    by_agent: dict[str, list[str]] = {}
    for draft in drafts:
        if draft.agent_type is not None:
            by_agent.setdefault(agent_type_of(draft.agent_type), []).append(draft.id)
    resolved: dict[str, list[str]] = {}
    for draft in drafts:
        out: list[str] = []
        where, path = draft.label, f"agent_tasks[{draft.position}].dependencies"
        for name in draft.dependency_names:
            via = ""
            if name in known:
                target = name
            elif len(matches := by_agent.get(agent_type_of(name), [])) == 1:
                target, via = matches[0], f" (through its agent_type {name!r})"
            elif matches:
                check.add(
                    f"{where}dependency {name!r} is the agent_type of {len(matches)} tasks "
                    f"({_listed(matches)}); name the one you mean by its id",
                    path,
                    draft.id,
                )
                continue
            else:
                check.add(
                    f"{where}dependency {name!r} is neither a task id nor the agent_type of a "
                    f"task in this workflow; task ids are: {_listed(ids)}",
                    path,
                    draft.id,
                )
                continue
            if target == draft.id:
                check.add(
                    f"{where}depends on itself{via}; remove {name!r} from its dependencies",
                    path,
                    draft.id,
                )
                continue
            if target not in out:
                out.append(target)
        resolved[draft.id] = out
    return resolved


def _check_cycles(check: FieldCheck, drafts: list[TaskDraft], deps: dict[str, list[str]]) -> None:
    position = {d.id: d.position for d in drafts}
    for cycle in find_cycles([d.id for d in drafts], deps):
        check.problems.append(
            Problem(
                f"dependency cycle {' -> '.join(cycle)} (each task depends on the next); "
                "remove one of these dependencies",
                f"agent_tasks[{position[cycle[0]]}].dependencies",
                cycle[0],
                cycle,
            )
        )


def available_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS says), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def parse_workflow(
    arguments: Any,
    *,
    check_agent: AgentCheck | None = None,
    cpu_count: int | None = None,
) -> WorkflowSpec:
    """The validated :class:`WorkflowSpec` for a workflow's tool arguments or workflow file.

    Args:
        arguments: the tool's arguments, or a workflow file's content loaded
            from YAML (the same keys).
        check_agent: asked once per agent type; returns why that agent cannot
            run here (unknown, backend unavailable...), or ``None``.
        cpu_count: the default ``max_concurrency`` (default: the CPUs this
            process may use); capped to the largest accepted bound.

    Raises:
        WorkflowInvalid: every problem found, the first in the message.
    """
    check = FieldCheck(check_agent)
    if not isinstance(arguments, Mapping):
        check.add(
            "the workflow must be a mapping with workflow_description and agent_tasks, "
            f"got {kind_of(arguments)}",
            "(workflow)",
        )
        _raise(check)
    check.unknown_keys(arguments, WORKFLOW_FIELDS, "", "", None)
    description = check.text(
        arguments, "workflow_description", "what the workflow is for", "", "", None
    )
    mode = check.enum(arguments, "coordination_mode", CoordinationMode, "", "")
    policy = check.enum(arguments, "failure_policy", FailurePolicy, "", "")
    concurrency = check.integer(
        arguments, "max_concurrency", MAX_CONCURRENCY_RANGE, " (tasks at once)", "", "", None
    )
    budget = read_budget(check, arguments)

    raw_tasks = arguments.get("agent_tasks")
    drafts: list[TaskDraft] = []
    if "agent_tasks" not in arguments:
        check.add("agent_tasks is required (the list of tasks to run)", "agent_tasks")
    elif not isinstance(raw_tasks, (list, tuple)):
        check.add(f"agent_tasks must be a list of tasks, got {kind_of(raw_tasks)}", "agent_tasks")
    elif not raw_tasks:
        check.add("agent_tasks is empty; give at least one task", "agent_tasks")
    elif len(raw_tasks) > MAX_TASKS:
        check.add(
            f"agent_tasks has {len(raw_tasks)} tasks; a workflow may have at most {MAX_TASKS}",
            "agent_tasks",
        )
    else:
        drafts = [read_task(check, i, raw) for i, raw in enumerate(raw_tasks)]

    deps: dict[str, list[str]] = {}
    if drafts and _check_ids(check, drafts):
        deps = _resolve(check, drafts)
        _check_cycles(check, drafts, deps)
    if check.problems:
        _raise(check)

    assert description is not None
    tasks = tuple(
        TaskSpec(
            id=d.id,
            position=d.position,
            agent_type=str(d.agent_type),
            task_description=str(d.task),
            dependencies=tuple(deps[d.id]),
            **d.values,
        )
        for d in drafts
    )
    default_bound = min(cpu_count or available_cpus(), MAX_CONCURRENCY_RANGE[1])
    return WorkflowSpec(
        description=description,
        tasks=tasks,
        max_concurrency=concurrency or max(1, default_bound),
        coordination_mode=mode or CoordinationMode.HYBRID,
        failure_policy=policy or FailurePolicy.CONTINUE,
        max_concurrency_requested=concurrency,
        budget_usd=budget,
    )


def _raise(check: FieldCheck) -> NoReturn:
    first = check.problems[0]
    more = len(check.problems) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    raise WorkflowInvalid(
        f"Invalid workflow: {first.message}{suffix}.",
        problems=[p.message for p in check.problems],
        field=first.field,
        task_id=first.task_id,
        cycle=next((p.cycle for p in check.problems if p.cycle is not None), None),
    )


__all__ = ["AgentCheck", "available_cpus", "parse_workflow"]
