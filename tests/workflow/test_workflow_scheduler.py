"""The scheduler: modes, priorities, the bound, write safety, failures, retries, holds, cancel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from claude_pm.workflow.parse import parse_workflow
from claude_pm.workflow.plan import plan_workflow
from claude_pm.workflow.scheduler import Scheduler, SchedulingError
from claude_pm.workflow.spec import TaskStatus, WorkflowSpec
from claude_pm.workflow.writes import effective_writes, writes_overlap

S = TaskStatus


def spec_of(*tasks: dict[str, Any], **fields: Any) -> WorkflowSpec:
    full = [{"agent_type": "qa", "task": "x", **t} for t in tasks]
    return parse_workflow({"workflow_description": "w", "agent_tasks": full, **fields})


def scheduler(
    spec: WorkflowSpec,
    *,
    writers: bool = False,
    can_write: Mapping[str, bool] | None = None,
    **kw: Any,
) -> Scheduler:
    if can_write is None:
        can_write = dict.fromkeys(spec.task_ids, writers)
    return Scheduler(spec, plan_workflow(spec), can_write=can_write, **kw)


def start(s: Scheduler, now: float = 0.0) -> list[str]:
    """Start whatever may start now, as the engine does."""
    ids = s.ready_to_start(now)
    for tid in ids:
        s.started(tid)
    return ids


def status(s: Scheduler) -> dict[str, str]:
    return {tid: str(st.status) for tid, st in s.states().items()}


# -- modes and priorities -------------------------------------------------------------------


def test_the_reference_example_starts_by_priority_up_to_the_bound() -> None:
    spec = spec_of(
        {"agent_type": "engineer", "priority": 1},
        {"agent_type": "qa", "priority": 2},
        {"agent_type": "documentation", "priority": 3},
        coordination_mode="hybrid",
        max_concurrency=2,
    )
    s = scheduler(spec)
    assert start(s) == ["task-0", "task-1"]
    assert s.ready_to_start(0) == []
    s.finished("task-1", S.COMPLETED)
    assert start(s) == ["task-2"]
    s.finished("task-0", S.COMPLETED)
    s.finished("task-2", S.COMPLETED)
    assert s.done


def test_writers_without_declared_writes_run_one_at_a_time() -> None:
    spec = spec_of({}, {}, {}, max_concurrency=3)
    s = scheduler(spec, writers=True)
    assert start(s) == ["task-0"]
    s.finished("task-0", S.COMPLETED)
    assert start(s) == ["task-1"]


def test_a_task_starts_as_soon_as_its_dependencies_completed() -> None:
    spec = spec_of(
        {"id": "a"},
        {"id": "b"},
        {"id": "c", "dependencies": ["a", "b"]},
        {"id": "d", "dependencies": ["a"]},
    )
    s = scheduler(spec, max_concurrency=4)
    assert start(s) == ["a", "b"]
    assert s.state("c").status is S.PENDING
    s.finished("a", S.COMPLETED)
    assert start(s) == ["d"]
    s.finished("b", S.COMPLETED)
    assert start(s) == ["c"]


def test_sequential_runs_one_at_a_time_in_dependency_order_ties_by_priority() -> None:
    spec = spec_of(
        {"id": "a", "priority": 5},
        {"id": "b", "priority": 1, "dependencies": ["a"]},
        {"id": "c", "priority": 2},
        coordination_mode="sequential",
        max_concurrency=8,
    )
    s = scheduler(spec)
    seen = []
    while not s.done:
        ids = start(s)
        assert len(ids) == 1
        seen += ids
        s.finished(ids[0], S.COMPLETED)
    assert seen == ["c", "a", "b"]


def test_sequential_goes_on_past_a_failure_with_what_does_not_depend_on_it() -> None:
    spec = spec_of(
        {"id": "a"}, {"id": "b", "dependencies": ["a"]}, {"id": "c"}, coordination_mode="sequential"
    )
    s = scheduler(spec)
    assert start(s) == ["a"]
    assert s.finished("a", S.FAILED) == ("b",)
    assert start(s) == ["c"]
    s.finished("c", S.COMPLETED)
    assert s.done
    assert status(s) == {"a": "failed", "b": "skipped", "c": "completed"}


def test_parallel_without_dependencies_starts_everything_up_to_the_bound() -> None:
    spec = spec_of(*({} for _ in range(5)), coordination_mode="parallel", max_concurrency=3)
    s = scheduler(spec)
    assert start(s) == ["task-0", "task-1", "task-2"]


def test_parallel_with_dependencies_honours_them() -> None:
    spec = spec_of({"id": "a"}, {"id": "b", "dependencies": ["a"]}, coordination_mode="parallel")
    s = scheduler(spec, max_concurrency=2)
    assert start(s) == ["a"]


# -- write safety -----------------------------------------------------------------------------


def test_overlapping_writers_never_run_together_unless_both_are_isolated() -> None:
    spec = spec_of(
        {"id": "a", "writes": ["src/**"]},
        {"id": "b", "writes": ["src/pkg/a.py"]},
        {"id": "c", "writes": ["docs/**"]},
        {"id": "d", "writes": []},
        max_concurrency=4,
    )
    s = scheduler(spec, writers=True)
    assert start(s) == ["a", "c", "d"]
    assert s.conflicts("a", "b")
    s.finished("a", S.COMPLETED)
    assert start(s) == ["b"]


def test_two_isolated_tasks_may_write_the_same_paths() -> None:
    spec = spec_of(
        {"id": "a", "isolation": "worktree"},
        {"id": "b", "isolation": "worktree"},
        {"id": "c"},
        max_concurrency=3,
    )
    s = scheduler(spec, writers=True)
    assert start(s) == ["a", "b"]  # c writes everything in the shared tree: it waits
    assert not s.conflicts("a", "b")
    assert s.conflicts("a", "c")


def test_a_waiting_writer_keeps_its_claim_against_lower_priority_tasks() -> None:
    spec = spec_of(
        {"id": "docs", "writes": ["docs/**"], "priority": 0},
        {"id": "big", "writes": ["**"], "priority": 1},
        {"id": "small", "writes": ["src/x.py"], "priority": 2},
        {"id": "reader", "writes": [], "priority": 3},
        max_concurrency=4,
    )
    s = scheduler(spec, writers=True)
    # big waits for docs; small would overlap big, so it waits behind it; the reader goes.
    assert start(s) == ["docs", "reader"]
    s.finished("docs", S.COMPLETED)
    assert start(s) == ["big"]


def test_a_task_missing_from_can_write_counts_as_a_writer() -> None:
    spec = spec_of({"id": "a"}, {"id": "b"}, max_concurrency=2)
    s = scheduler(spec, can_write={"a": False})
    assert start(s) == ["a", "b"]
    s2 = scheduler(spec, can_write={"a": True})
    assert start(s2) == ["a"]


# -- failures, retries, holds, the bound, cancel -------------------------------------------------


def test_a_failure_skips_its_dependents_naming_the_dependency() -> None:
    spec = spec_of(
        {"id": "a"},
        {"id": "b", "dependencies": ["a"]},
        {"id": "c", "dependencies": ["b"]},
        {"id": "d"},
    )
    s = scheduler(spec, max_concurrency=1)
    assert start(s) == ["a"]
    assert s.finished("a", S.FAILED) == ("b", "c")
    assert s.state("b").reason == "dependency 'a' failed"
    assert s.state("b").blocked_by == "a"
    assert s.state("c").reason == "dependency 'b' was skipped"
    assert start(s) == ["d"]


def test_a_cancelled_task_skips_its_dependents() -> None:
    spec = spec_of({"id": "a"}, {"id": "b", "dependencies": ["a"]})
    s = scheduler(spec)
    start(s)
    assert s.finished("a", S.CANCELLED) == ("b",)
    assert s.state("b").reason == "dependency 'a' was cancelled"
    assert s.done


def test_stop_policy_starts_nothing_after_a_failure() -> None:
    spec = spec_of(
        {"id": "a"},
        {"id": "b"},
        {"id": "c", "dependencies": ["a"]},
        {"id": "d"},
        failure_policy="stop",
        max_concurrency=2,
    )
    s = scheduler(spec)
    assert start(s) == ["a", "b"]
    assert s.finished("a", S.FAILED) == ("c", "d")
    assert s.state("c").reason == "dependency 'a' failed"
    assert s.state("d").reason == "task 'a' failed and failure_policy is stop"
    assert s.halted == "task 'a' failed and failure_policy is stop"
    assert s.running == ("b",)  # a running task runs to its end
    assert s.ready_to_start(0) == []
    assert s.retry("b", not_before=1.0) is S.FAILED
    assert s.state("b").reason == "not retried: task 'a' failed and failure_policy is stop"
    assert s.done


def test_continue_policy_runs_what_does_not_depend_on_the_failure() -> None:
    spec = spec_of({"id": "a"}, {"id": "b", "dependencies": ["a"]}, {"id": "c"}, max_concurrency=1)
    s = scheduler(spec)
    start(s)
    s.finished("a", S.FAILED)
    assert start(s) == ["c"]


def test_a_retry_counts_the_attempt_and_waits_for_its_time() -> None:
    spec = spec_of({"id": "a", "retries": 2}, {"id": "b", "dependencies": ["a"]})
    s = scheduler(spec)
    assert start(s, now=0) == ["a"]
    assert s.state("a").attempt == 1
    assert s.retry("a", not_before=10.0) is S.READY
    assert s.state("a").not_before == 10.0
    assert s.ready_to_start(9.9) == []
    assert s.next_wakeup(9.9) == 10.0
    assert start(s, now=10.0) == ["a"]
    assert s.state("a").attempt == 2
    assert s.state("a").not_before is None
    s.finished("a", S.COMPLETED)
    assert start(s, now=10.0) == ["b"]


def test_a_task_waiting_for_its_retry_does_not_hold_others_in_hybrid() -> None:
    spec = spec_of({"id": "a", "priority": 0}, {"id": "b", "priority": 1}, max_concurrency=1)
    s = scheduler(spec)
    assert start(s) == ["a"]
    s.retry("a", not_before=5.0)
    assert start(s, now=1.0) == ["b"]


def test_a_task_waiting_for_its_retry_holds_the_line_in_sequential() -> None:
    spec = spec_of({"id": "a"}, {"id": "b"}, coordination_mode="sequential")
    s = scheduler(spec)
    start(s)
    s.retry("a", not_before=5.0)
    assert s.ready_to_start(1.0) == []
    assert start(s, now=5.0) == ["a"]


def test_a_pause_holds_every_new_start_and_only_grows() -> None:
    spec = spec_of({}, {}, max_concurrency=2)
    s = scheduler(spec)
    s.pause_until(30.0)
    s.pause_until(20.0)
    assert s.hold_until == 30.0
    assert s.ready_to_start(29.0) == []
    assert s.next_wakeup(29.0) == 30.0
    assert s.ready_to_start(30.0) == ["task-0", "task-1"]


def test_lowering_the_bound_stops_nothing_and_delays_new_starts() -> None:
    spec = spec_of(*({} for _ in range(4)), max_concurrency=3)
    s = scheduler(spec)
    assert start(s) == ["task-0", "task-1", "task-2"]
    s.set_concurrency(1)
    assert s.concurrency == 1
    s.finished("task-0", S.COMPLETED)
    assert s.ready_to_start(0) == []
    s.finished("task-1", S.COMPLETED)
    s.finished("task-2", S.COMPLETED)
    assert start(s) == ["task-3"]
    s.set_concurrency(50)
    assert s.concurrency == 3  # never above the bound it was built with
    with pytest.raises(ValueError, match="at least 1"):
        s.set_concurrency(0)


def test_cancel_cancels_what_has_not_started_and_lets_running_tasks_end() -> None:
    spec = spec_of({"id": "a"}, {"id": "b", "dependencies": ["a"]}, {"id": "c"}, max_concurrency=1)
    s = scheduler(spec)
    start(s)
    assert s.cancel() == ("b", "c")
    assert s.state("b").reason == "the workflow was cancelled"
    assert s.ready_to_start(0) == []
    assert not s.done
    assert s.retry("a", not_before=0) is S.CANCELLED
    assert s.done
    assert s.cancel() == ()


def test_the_engine_cannot_break_the_rules_by_mistake() -> None:
    spec = spec_of({"id": "a"}, {"id": "b", "dependencies": ["a"]}, {"id": "c"}, max_concurrency=1)
    s = scheduler(spec, writers=True)
    with pytest.raises(SchedulingError, match="'b' is pending, not ready"):
        s.started("b")
    s.started("a")
    with pytest.raises(SchedulingError, match="1 already run"):
        s.started("c")
    s.set_concurrency(1)
    with pytest.raises(SchedulingError, match="not running"):
        s.finished("c", S.COMPLETED)
    with pytest.raises(SchedulingError, match="not skipped"):
        s.finished("a", S.SKIPPED)
    wide = scheduler(spec_of({"id": "x"}, {"id": "y"}, max_concurrency=2), writers=True)
    wide.started("x")
    with pytest.raises(SchedulingError, match="'x' writes the same paths"):
        wide.started("y")
    seq = scheduler(spec_of({"id": "x"}, {"id": "y"}, coordination_mode="sequential"))
    with pytest.raises(SchedulingError, match="not next in the sequential order"):
        seq.started("y")


def test_a_plan_of_another_workflow_is_refused() -> None:
    with pytest.raises(ValueError, match="does not belong"):
        Scheduler(spec_of({"id": "a"}), plan_workflow(spec_of({"id": "b"})), can_write={})
    with pytest.raises(ValueError, match="at least 1"):
        scheduler(spec_of({"id": "a"}), max_concurrency=0)


def test_a_replayed_history_gives_the_same_decisions() -> None:
    spec = spec_of(*({"writes": [f"d{i % 3}/**"]} for i in range(9)), max_concurrency=4)
    runs = []
    for _ in range(2):
        s = scheduler(spec, writers=True)
        log = []
        while not s.done:
            ids = start(s)
            log.append(tuple(ids))
            s.finished(s.running[0], S.COMPLETED)
        runs.append(log)
    assert runs[0] == runs[1]


# -- properties -------------------------------------------------------------------------------

_WRITES = [
    None,
    [],
    [],
    ["src/**"],
    ["src/a.py"],
    ["docs/**"],
    ["tests/*"],
    ["**"],
    ["src/b*", "x"],
]


@st.composite
def workflows(draw: st.DrawFn, *, wide: bool = False) -> tuple[WorkflowSpec, dict[str, bool]]:
    """Random workflows; ``wide`` ones have few dependencies and room to run tasks together."""
    n = draw(st.integers(2 if wide else 1, 10))
    tasks: list[dict[str, Any]] = []
    for i in range(n):
        task: dict[str, Any] = {"id": f"t{i}", "priority": draw(st.integers(0, 3))}
        most = 1 if wide else 2
        deps = (
            draw(st.lists(st.integers(0, max(0, i - 1)), max_size=most, unique=True)) if i else []
        )
        task["dependencies"] = [f"t{d}" for d in deps]
        if (writes := draw(st.sampled_from(_WRITES[1:] if wide else _WRITES))) is not None:
            task["writes"] = writes
        if draw(st.booleans()):
            task["isolation"] = "worktree"
        task["retries"] = draw(st.integers(0, 2))
        tasks.append(task)
    modes = ["hybrid", "parallel"] if wide else ["sequential", "parallel", "hybrid", "hybrid"]
    spec = spec_of(
        *tasks,
        coordination_mode=draw(st.sampled_from(modes)),
        failure_policy=draw(st.sampled_from(["continue", "continue", "stop"])),
        max_concurrency=draw(st.integers(2, 4) if wide else st.sampled_from([1, 2, 3, 4, 4])),
    )
    can_write = {t.id: draw(st.booleans()) for t in spec.tasks}
    return spec, can_write


def run_randomly(spec: WorkflowSpec, can_write: dict[str, bool], data: st.DataObject) -> int:
    """Drive a scheduler as an engine would, with random outcomes, pauses, bounds and a cancel.

    Checks every rule at every start and every final state at the end; returns
    the most tasks that ran at once.
    """
    plan = plan_workflow(spec)
    s = Scheduler(spec, plan, can_write=can_write)
    writes = {t.id: effective_writes(t.writes, can_write=can_write[t.id]) for t in spec.tasks}
    now, hold, cancelled, peak = 0.0, 0.0, False, 0

    def clash(a: str, b: str) -> bool:
        both_isolated = spec.task(a).isolated and spec.task(b).isolated
        return not both_isolated and writes_overlap(writes[a], writes[b])

    def next_in_order() -> str | None:
        return next((t for t in plan.order if not s.state(t).status.final), None)

    for _step in range(500):
        if s.done:
            break
        event = data.draw(st.sampled_from(["run"] * 16 + ["pause", "bound", "cancel"]))
        if event == "pause":
            until = now + data.draw(st.integers(1, 5))
            s.pause_until(until)
            hold = max(hold, until)
        elif event == "bound":
            s.set_concurrency(data.draw(st.integers(1, 5)))
        elif event == "cancel" and data.draw(st.integers(0, 9)) == 0:
            s.cancel()
            cancelled = True

        ready = s.ready_to_start(now)
        candidates = list(spec.task_ids)
        if plan.coordination_mode_used == "sequential":
            candidates = [t for t in [next_in_order()] if t is not None]
        startable = [
            t
            for t in candidates
            if s.state(t).status is S.READY and (s.state(t).not_before or 0) <= now
        ]
        if not s.running and s.halted is None and hold <= now and startable:
            assert ready, "nothing runs, a task could start, yet none is offered"
        # Mostly start everything offered, as the engine does; sometimes only a part.
        some = data.draw(st.integers(1 if ready and not s.running else 0, len(ready)))
        count = some if data.draw(st.integers(0, 4)) == 4 else len(ready)
        for tid in ready[:count]:
            assert all(s.state(d).status is S.COMPLETED for d in spec.task(tid).dependencies)
            assert len(s.running) < s.concurrency <= spec.max_concurrency
            assert hold <= now and (s.state(tid).not_before or 0) <= now
            for other in s.running:
                assert not clash(tid, other), f"{tid} would write beside {other}"
            if plan.coordination_mode_used == "sequential":
                assert not s.running and tid == next_in_order()
            s.started(tid)
            peak = max(peak, len(s.running))

        if s.running and (not s.ready_to_start(now) or data.draw(st.booleans())):
            tid = data.draw(st.sampled_from(s.running))
            outcome = data.draw(
                st.sampled_from(["completed"] * 4 + ["failed", "cancelled", "retry"])
            )
            if outcome == "retry" and s.state(tid).attempt <= spec.task(tid).retries:
                s.retry(tid, not_before=now + data.draw(st.integers(0, 3)))
            else:
                s.finished(tid, S.FAILED if outcome == "retry" else S(outcome))
        elif not s.running and not ready and not s.done:
            wake = s.next_wakeup(now)
            assert wake is not None, f"stuck: {status(s)}"
            now = wake
    assert s.done, f"not finished after 500 steps: {status(s)}"

    states = s.states()
    halted = cancelled or spec.failure_policy == "stop"
    for task in spec.tasks:
        state = states[task.id]
        assert state.status.final
        assert state.attempt <= 1 + task.retries
        if state.status is S.COMPLETED:
            assert all(states[d].status is S.COMPLETED for d in task.dependencies)
        if state.status is S.SKIPPED:
            assert state.reason
            if state.blocked_by is not None:
                assert state.blocked_by in task.dependencies
                assert states[state.blocked_by].status in (S.FAILED, S.SKIPPED, S.CANCELLED)
        if not halted and all(states[d].status is S.COMPLETED for d in task.dependencies):
            assert state.attempt >= 1, f"{task.id} could run but never started"
    return peak


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflow=workflows(), data=st.data())
def test_every_run_keeps_the_rules_and_ends_with_every_task_final(
    workflow: tuple[WorkflowSpec, dict[str, bool]], data: st.DataObject
) -> None:
    run_randomly(*workflow, data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflow=workflows(wide=True), data=st.data())
def test_wide_runs_keep_the_bound_and_write_safety(
    workflow: tuple[WorkflowSpec, dict[str, bool]], data: st.DataObject
) -> None:
    peak = run_randomly(*workflow, data)
    event(f"most tasks at once: {peak}")
