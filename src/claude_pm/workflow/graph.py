"""Graph algorithms over task ids: topological order and dependency cycles.

The graph is given as ``deps``: for each node, the nodes it depends on (its
edges point at what must come first). Nodes are visited in the order given
and edges in their listed order, so every answer is deterministic. Both
algorithms are iterative (no recursion limit) and linear in nodes + edges.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from typing import Any


class CycleError(ValueError):
    """The graph has a cycle, so it has no topological order (``cycle`` names one)."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__("dependency cycle: " + " -> ".join(cycle))
        self.cycle = cycle


def dependents_of(nodes: Sequence[str], deps: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """For each node, the nodes that depend on it, in node order."""
    out: dict[str, list[str]] = {n: [] for n in nodes}
    for node in nodes:
        for dep in deps.get(node, ()):
            out[dep].append(node)
    return out


def topological_order(
    nodes: Sequence[str],
    deps: Mapping[str, Sequence[str]],
    *,
    key: Callable[[str], Any] | None = None,
) -> list[str]:
    """Every node after all of its dependencies; among nodes free at once, smallest ``key`` first.

    ``key`` defaults to the node's position in ``nodes``. This is Kahn's
    algorithm with a heap, so the order is the same on every run.

    Raises:
        CycleError: naming one cycle when there is no such order.
    """
    position = {n: i for i, n in enumerate(nodes)}
    sort_key = key or position.__getitem__
    waiting = {n: len(set(deps.get(n, ()))) for n in nodes}
    dependents = dependents_of(nodes, {n: list(dict.fromkeys(deps.get(n, ()))) for n in nodes})
    heap = [(sort_key(n), position[n], n) for n in nodes if waiting[n] == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        _, _, node = heapq.heappop(heap)
        order.append(node)
        for dependent in dependents[node]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(heap, (sort_key(dependent), position[dependent], dependent))
    if len(order) < len(nodes):
        raise CycleError(find_cycles(nodes, deps)[0])
    return order


def _strongly_connected(nodes: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, edge = work.pop()
            if edge == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            edges = deps.get(node, ())
            recursed = False
            while edge < len(edges):
                nxt = edges[edge]
                edge += 1
                if nxt not in index:
                    work.append((node, edge))
                    work.append((nxt, 0))
                    recursed = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if recursed:
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _cycle_through(start: str, members: set[str], deps: Mapping[str, Sequence[str]]) -> list[str]:
    """A shortest cycle from ``start`` back to itself inside one component (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt in deps.get(node, ()):
                if nxt not in members:
                    continue
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start!r} is on no cycle of its component")  # pragma: no cover


def find_cycles(nodes: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One cycle per group of mutually dependent nodes, each ``[a, b, ..., a]``.

    Each cycle starts at the group's earliest node (in ``nodes`` order) and
    follows dependency edges (``a`` depends on ``b``). Self-dependencies
    (``a`` on ``a``) are not reported here: callers say those in their own
    words. Groups come in the order of their earliest node.
    """
    position = {n: i for i, n in enumerate(nodes)}
    no_self = {n: [d for d in deps.get(n, ()) if d != n and d in position] for n in nodes}
    cycles = []
    for component in _strongly_connected(nodes, no_self):
        if len(component) < 2:
            continue
        start = min(component, key=position.__getitem__)
        cycles.append(_cycle_through(start, set(component), no_self))
    cycles.sort(key=lambda c: position[c[0]])
    return cycles
