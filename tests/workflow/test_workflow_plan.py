"""The plan: priority-aware order, levels, critical path, and the mode really used."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_pm.workflow.parse import parse_workflow
from claude_pm.workflow.plan import plan_workflow
from claude_pm.workflow.spec import CoordinationMode, WorkflowSpec


def spec_of(*tasks: dict[str, Any], **fields: Any) -> WorkflowSpec:
    full = [{"agent_type": "qa", "task": "x", **t} for t in tasks]
    return parse_workflow({"workflow_description": "w", "agent_tasks": full, **fields})


def test_the_reference_example_runs_by_priority() -> None:
    spec = spec_of({"priority": 3}, {"priority": 1}, {"priority": 2})
    plan = plan_workflow(spec)
    assert plan.order == ("task-1", "task-2", "task-0")
    assert plan.levels == (("task-1", "task-2", "task-0"),)
    assert plan.coordination_mode_used is CoordinationMode.HYBRID
    assert plan.mode_note is None


def test_tasks_without_a_priority_come_after_those_with_one_then_by_position() -> None:
    spec = spec_of({}, {"priority": 5}, {}, {"priority": -1})
    assert plan_workflow(spec).order == ("task-3", "task-1", "task-0", "task-2")


def test_a_dependency_comes_first_whatever_the_priorities() -> None:
    spec = spec_of({"id": "a", "priority": 9}, {"id": "b", "priority": 0, "dependencies": ["a"]})
    assert plan_workflow(spec).order == ("a", "b")


DIAMOND = [
    {"id": "a", "timeout": 10},
    {"id": "b", "timeout": 5, "dependencies": ["a"]},
    {"id": "c", "timeout": 20, "dependencies": ["a"]},
    {"id": "d", "timeout": 1, "dependencies": ["b", "c"]},
    {"id": "e", "timeout": 25},
]


def test_levels_and_the_critical_path_of_a_diamond() -> None:
    plan = plan_workflow(spec_of(*DIAMOND))
    assert plan.levels == (("a", "e"), ("b", "c"), ("d",))
    assert plan.critical_path == ("a", "c", "d")
    assert plan.critical_path_s == 31.0


def test_estimates_beat_timeouts_and_the_default_fills_the_rest() -> None:
    tasks = [*DIAMOND[:4], {"id": "e"}]
    plan = plan_workflow(spec_of(*tasks), estimates_s={"b": 40.0}, default_estimate_s=100.0)
    assert plan.critical_path == ("e",)
    assert plan.critical_path_s == 100.0
    assert plan.estimates_s["b"] == 40.0
    plan = plan_workflow(spec_of(*tasks), estimates_s={"b": 40.0}, default_estimate_s=1.0)
    assert plan.critical_path == ("a", "b", "d")
    assert plan.critical_path_s == 51.0


def test_a_tie_on_the_critical_path_goes_to_the_earlier_task() -> None:
    plan = plan_workflow(spec_of({}, {}, {}))
    assert plan.critical_path == ("task-0",)
    assert plan.critical_path_s == 300.0


def test_bad_estimates_are_refused() -> None:
    spec = spec_of({"id": "a"})
    with pytest.raises(ValueError, match="unknown tasks: z"):
        plan_workflow(spec, estimates_s={"z": 1.0})
    with pytest.raises(ValueError, match="zero or more"):
        plan_workflow(spec, estimates_s={"a": -1.0})


def test_parallel_with_dependencies_runs_as_hybrid_and_says_so() -> None:
    with_deps = spec_of({"id": "a"}, {"dependencies": ["a"]}, coordination_mode="parallel")
    plan = plan_workflow(with_deps)
    assert plan.coordination_mode_used is CoordinationMode.HYBRID
    assert plan.mode_note is not None and "hybrid" in plan.mode_note
    without = plan_workflow(spec_of({}, {}, coordination_mode="parallel"))
    assert without.coordination_mode_used is CoordinationMode.PARALLEL
    assert without.mode_note is None
    sequential = plan_workflow(
        spec_of({"id": "a"}, {"dependencies": ["a"]}, coordination_mode="sequential")
    )
    assert sequential.coordination_mode_used is CoordinationMode.SEQUENTIAL


def test_the_plan_lists_each_tasks_dependents() -> None:
    plan = plan_workflow(spec_of(*DIAMOND))
    assert plan.dependents == {"a": ("b", "c"), "b": ("d",), "c": ("d",), "d": (), "e": ()}


@settings(max_examples=150, deadline=None)
@given(
    edges=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=14),
    timeouts=st.lists(st.integers(1, 100), min_size=8, max_size=8),
)
def test_levels_and_critical_path_hold_their_definitions(
    edges: list[tuple[int, int]], timeouts: list[int]
) -> None:
    tasks: list[dict[str, Any]] = [{"id": f"t{i}", "timeout": timeouts[i]} for i in range(8)]
    for later, earlier in edges:
        if earlier < later:
            tasks[later].setdefault("dependencies", []).append(f"t{earlier}")
    spec = spec_of(*tasks)
    plan = plan_workflow(spec)
    level = {tid: n for n, tids in enumerate(plan.levels) for tid in tids}
    for task in spec.tasks:
        assert level[task.id] == 1 + max((level[d] for d in task.dependencies), default=-1)
    path = plan.critical_path
    assert not spec.task(path[0]).dependencies
    for earlier, later in itertools.pairwise(path):
        assert earlier in spec.task(later).dependencies
    assert plan.critical_path_s == sum(spec.task(t).timeout_s or 0 for t in path)

    def longest(tid: str) -> float:
        task = spec.task(tid)
        return (task.timeout_s or 0) + max((longest(d) for d in task.dependencies), default=0)

    assert plan.critical_path_s == max(longest(t) for t in spec.task_ids)
