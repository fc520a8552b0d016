"""The analysis of a validated workflow: order, levels, critical path and the mode really used.

:func:`plan_workflow` reads a :class:`~claude_pm.workflow.spec.WorkflowSpec`
and decides nothing that depends on time; the scheduler and the engine read
the :class:`WorkflowPlan` it returns.

- ``order``: every task after its dependencies; among tasks free at the same
  point, lower priority first (tasks without one last), then input position.
  ``sequential`` runs exactly this order.
- ``levels``: level 0 holds the tasks without dependencies, level *n* those
  whose longest chain of dependencies below them has *n* tasks. Tasks of one
  level never depend on each other; each level is in start order (priority,
  then position).
- ``critical_path``: the chain of dependencies with the largest sum of
  estimates, which bounds how fast the workflow can finish however many
  tasks run at once. A task's estimate is the one the caller passes, else its
  ``timeout``, else ``default_estimate_s`` (the engine passes the agent's
  default timeout).
- ``coordination_mode_used``: the mode asked for, except ``parallel`` with
  dependencies, which runs as ``hybrid`` (dependencies are always honoured);
  ``mode_note`` then says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from claude_pm.workflow.graph import dependents_of, topological_order
from claude_pm.workflow.spec import CoordinationMode, WorkflowSpec
from claude_pm.workflow.writes import globs_overlap, literal_prefix, writes_overlap

#: The estimate of a task with neither an estimate nor a timeout (execute_agent_subprocess's
#: default timeout).
DEFAULT_ESTIMATE_S = 300.0


@dataclass(frozen=True)
class WorkflowPlan:
    """What the graph of a workflow implies, computed once before it runs."""

    order: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]
    critical_path: tuple[str, ...]
    critical_path_s: float
    coordination_mode_used: CoordinationMode
    mode_note: str | None = None
    estimates_s: Mapping[str, float] = field(default_factory=dict, hash=False)
    dependents: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)


def mode_used(spec: WorkflowSpec) -> tuple[CoordinationMode, str | None]:
    """The mode a workflow runs in, and why it differs from the one asked for (if it does)."""
    if spec.coordination_mode is CoordinationMode.PARALLEL and spec.has_dependencies:
        return (
            CoordinationMode.HYBRID,
            "parallel was asked for, but some tasks have dependencies: running as hybrid "
            "(each task starts once its dependencies completed)",
        )
    return spec.coordination_mode, None


def plan_workflow(
    spec: WorkflowSpec,
    *,
    estimates_s: Mapping[str, float] | None = None,
    default_estimate_s: float = DEFAULT_ESTIMATE_S,
) -> WorkflowPlan:
    """Order, levels, critical path and mode of a validated workflow.

    Args:
        spec: from :func:`~claude_pm.workflow.parse.parse_workflow`.
        estimates_s: expected seconds per task id (from past runs, say);
            tasks left out use their timeout, else ``default_estimate_s``.
        default_estimate_s: the estimate of a task with neither.

    Raises:
        ValueError: an estimate names no task or is negative.
    """
    given = dict(estimates_s or {})
    unknown = sorted(set(given) - set(spec.task_ids))
    if unknown:
        raise ValueError(f"estimates for unknown tasks: {', '.join(unknown)}")
    if any(v < 0 for v in given.values()) or default_estimate_s < 0:
        raise ValueError("estimates must be zero or more seconds")
    estimate = {
        t.id: float(given.get(t.id, t.timeout_s if t.timeout_s is not None else default_estimate_s))
        for t in spec.tasks
    }
    ids = list(spec.task_ids)
    deps = {t.id: list(t.dependencies) for t in spec.tasks}
    order = topological_order(ids, deps, key=lambda tid: spec.task(tid).sort_key)

    level: dict[str, int] = {}
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    rank = {tid: i for i, tid in enumerate(order)}
    for tid in order:
        level[tid] = 1 + max((level[d] for d in deps[tid]), default=-1)
        slowest = max(deps[tid], key=lambda d: (finish[d], -rank[d]), default=None)
        via[tid] = slowest
        finish[tid] = estimate[tid] + (finish[slowest] if slowest is not None else 0.0)
    levels: list[list[str]] = [[] for _ in range(1 + max(level.values()))]
    for tid in sorted(ids, key=lambda tid: spec.task(tid).sort_key):
        levels[level[tid]].append(tid)

    end = max(order, key=lambda tid: (finish[tid], -rank[tid]))
    path = [end]
    while (previous := via[path[-1]]) is not None:
        path.append(previous)
    used, note = mode_used(spec)
    return WorkflowPlan(
        order=tuple(order),
        levels=tuple(tuple(lv) for lv in levels),
        critical_path=tuple(reversed(path)),
        critical_path_s=finish[end],
        coordination_mode_used=used,
        mode_note=note,
        estimates_s=estimate,
        dependents={k: tuple(v) for k, v in dependents_of(ids, deps).items()},
    )


__all__ = [
    "DEFAULT_ESTIMATE_S",
    "WorkflowPlan",
    "globs_overlap",
    "literal_prefix",
    "mode_used",
    "plan_workflow",
    "writes_overlap",
]
