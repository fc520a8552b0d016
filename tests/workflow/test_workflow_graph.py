"""Graph validation: random DAGs are accepted in a valid order; a back edge is a cycle, named."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_pm.errors import WorkflowInvalid
from claude_pm.workflow.graph import CycleError, find_cycles, topological_order
from claude_pm.workflow.parse import parse_workflow
from claude_pm.workflow.plan import plan_workflow


@st.composite
def dags(draw: st.DrawFn, max_tasks: int = 12) -> tuple[list[str], dict[str, list[str]]]:
    """Task ids in a random order, each depending only on tasks earlier in a hidden order."""
    n = draw(st.integers(1, max_tasks))
    hidden = draw(st.permutations(list(range(n))))
    ids = [f"t{i}" for i in range(n)]
    deps: dict[str, list[str]] = {tid: [] for tid in ids}
    for rank in range(1, n):
        chosen = draw(st.lists(st.integers(0, rank - 1), max_size=3, unique=True))
        deps[ids[hidden[rank]]] = [ids[hidden[r]] for r in chosen]
    return ids, deps


def as_workflow(ids: list[str], deps: dict[str, list[str]], **fields: Any) -> dict[str, Any]:
    tasks = [{"id": t, "agent_type": "qa", "task": "x", "dependencies": deps[t]} for t in ids]
    return {"workflow_description": "w", "agent_tasks": tasks, **fields}


def reachable(deps: dict[str, list[str]], start: str) -> list[str]:
    """Every task ``start`` depends on, directly or not (depth first, in a stable order)."""
    seen: list[str] = []
    stack = list(deps[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.append(node)
            stack.extend(deps[node])
    return seen


@settings(max_examples=200, deadline=None)
@given(graph=dags(), priorities=st.lists(st.integers(-3, 3), min_size=12, max_size=12))
def test_random_dags_are_accepted_and_ordered_after_every_dependency(
    graph: tuple[list[str], dict[str, list[str]]], priorities: list[int]
) -> None:
    ids, deps = graph
    workflow = as_workflow(ids, deps)
    for task, priority in zip(workflow["agent_tasks"], priorities, strict=False):
        task["priority"] = priority
    spec = parse_workflow(workflow)
    order = plan_workflow(spec).order
    assert sorted(order) == sorted(ids)
    place = {tid: i for i, tid in enumerate(order)}
    for tid, dependencies in deps.items():
        for dep in dependencies:
            assert place[dep] < place[tid], f"{tid} runs before its dependency {dep}"


@settings(max_examples=200, deadline=None)
@given(graph=dags(), data=st.data())
def test_a_back_edge_is_rejected_naming_a_real_cycle(
    graph: tuple[list[str], dict[str, list[str]]], data: st.DataObject
) -> None:
    ids, deps = graph
    starts = [t for t in ids if deps[t]]
    if not starts:
        return
    start = data.draw(st.sampled_from(starts))
    target = data.draw(st.sampled_from(reachable(deps, start)))
    deps[target] = [*deps[target], start]  # target now depends on something that depends on it
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(as_workflow(ids, deps))
    cycle = caught.value.cycle
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1, "a cycle visits each task once"
    for task, dependency in itertools.pairwise(cycle):
        assert dependency in deps[task], f"{task} -> {dependency} is no dependency"
    assert " -> ".join(cycle) in caught.value.message


def test_every_group_of_mutually_dependent_tasks_is_named() -> None:
    deps = {"a": ["b"], "b": ["a"], "c": [], "d": ["e"], "e": ["f"], "f": ["d", "c"]}
    assert find_cycles(list(deps), deps) == [["a", "b", "a"], ["d", "e", "f", "d"]]


def test_the_shortest_cycle_through_the_first_task_is_named() -> None:
    deps = {"a": ["b", "c"], "b": ["c"], "c": ["a"]}
    assert find_cycles(list(deps), deps) == [["a", "c", "a"]]


def test_self_dependencies_are_left_to_the_caller() -> None:
    assert find_cycles(["a"], {"a": ["a"]}) == []


def test_a_thousand_task_chain_needs_no_recursion() -> None:
    ids = [f"t{i}" for i in range(1000)]
    deps = {tid: ([ids[i - 1]] if i else []) for i, tid in enumerate(ids)}
    assert topological_order(ids[::-1], deps) == ids
    deps["t0"] = ["t999"]
    (cycle,) = find_cycles(ids, deps)
    assert cycle[0] == cycle[-1] == "t0"
    assert len(cycle) == 1001
    with pytest.raises(CycleError) as caught:
        topological_order(ids, deps)
    assert caught.value.cycle == cycle


def test_ties_go_to_the_smallest_key_then_the_earliest_node() -> None:
    deps: dict[str, list[str]] = {"a": [], "b": [], "c": ["a"], "d": []}
    key = {"a": 1, "b": 0, "c": 0, "d": 1}
    assert topological_order(list(deps), deps, key=key.__getitem__) == ["b", "a", "c", "d"]
