"""The pure parts the engine added: the scheduler's stop and replay, the limiter, the budget."""

from __future__ import annotations

from typing import Any

import pytest

from claude_pm.agents.handoff import BackendReport, RateLimitEvent
from claude_pm.workflow.governance import Budget, RateLimiter
from claude_pm.workflow.parse import parse_workflow
from claude_pm.workflow.plan import plan_workflow
from claude_pm.workflow.scheduler import Scheduler, SchedulingError
from claude_pm.workflow.spec import TaskStatus

S = TaskStatus


def scheduler(*tasks: dict[str, Any], **fields: Any) -> Scheduler:
    full = [{"agent_type": "qa", "task": "x", **t} for t in tasks]
    spec = parse_workflow({"workflow_description": "w", "agent_tasks": full, **fields})
    return Scheduler(spec, plan_workflow(spec), can_write=dict.fromkeys(spec.task_ids, False))


def test_stop_skips_what_has_not_started_and_lets_the_running_end() -> None:
    s = scheduler({"id": "a"}, {"id": "b"}, {"id": "c", "dependencies": ["a"]}, max_concurrency=1)
    s.started("a")
    assert s.stop("budget spent") == ("b", "c")
    assert s.ready_to_start(0.0) == [] and s.halted == "budget spent"
    s.finished("a", S.COMPLETED)
    assert s.done and s.state("b").reason == "budget spent"
    assert s.state("a").status is S.COMPLETED


def test_replay_restores_what_ended_whatever_the_start_rules() -> None:
    s = scheduler(
        {"id": "a"},
        {"id": "b", "dependencies": ["a"]},
        {"id": "c", "dependencies": ["b"]},
        {"id": "d"},
        {"id": "e", "dependencies": ["d"]},
        max_concurrency=1,
    )
    # b completed after a; d failed: e is skipped again, c is next.
    assert s.replay([("b", S.COMPLETED), ("a", S.COMPLETED), ("d", S.FAILED)]) == ("e",)
    assert s.state("a").attempt == 1 and s.state("e").reason == "dependency 'd' failed"
    assert s.ready_to_start(0.0) == ["c"]


def test_replay_of_failures_under_stop_halts_again_even_with_several() -> None:
    s = scheduler({"id": "a"}, {"id": "b"}, {"id": "c"}, failure_policy="stop")
    s.replay([("a", S.FAILED), ("b", S.FAILED)])
    assert s.done and s.state("c").status is S.SKIPPED
    assert s.state("b").status is S.FAILED


@pytest.mark.parametrize("status", [S.CANCELLED, S.SKIPPED, S.RUNNING])
def test_only_completed_and_failed_tasks_are_replayed(status: TaskStatus) -> None:
    with pytest.raises(SchedulingError):
        scheduler({"id": "a"}).replay([("a", status)])


def test_the_limiter_pauses_until_the_reported_reset_and_halves_the_bound() -> None:
    limiter = RateLimiter(8, default_pause_s=2.0)
    report = BackendReport(
        backend="anthropic",
        error_kind="rate_limited",
        rate_limits=(RateLimitEvent("rate_limited", at=1000.0, reset_at=1030.0),),
    )
    assert limiter.pause_for(report, now=50.0, wall_now=1010.0) == pytest.approx(70.0)
    assert limiter.bound == 4
    after = BackendReport(
        backend="anthropic",
        error_kind="overloaded",
        rate_limits=(RateLimitEvent("overloaded", at=1000.0, retry_after_s=5.0),),
    )
    assert limiter.pause_for(after, now=50.0, wall_now=1001.0) == pytest.approx(54.0)
    # Without a word on when: the default, doubled for each pause in a row.
    bare = BackendReport(backend="anthropic", error_kind="overloaded")
    assert limiter.pause_for(bare, now=0.0, wall_now=0.0) == pytest.approx(8.0)
    assert (limiter.bound, limiter.pauses) == (1, 3)
    for _ in range(10):
        limiter.succeeded()
    assert limiter.bound == 8
    assert limiter.pause_for(bare, now=0.0, wall_now=0.0) == pytest.approx(2.0)


def test_the_budget_reserves_each_tasks_cap_or_what_is_left() -> None:
    budget = Budget(1.0, run_cap_usd=0.4)
    first, second, third = (budget.reserve(uses_model=True) for _ in range(3))
    assert first is not None and second is not None and third is not None
    assert [r.usd for r in (first, second, third)] == pytest.approx([0.4, 0.4, 0.2])
    assert third.cap_usd == pytest.approx(0.2)
    assert budget.reserve(uses_model=True) is None and not budget.spent
    budget.settle(first, 0.1)
    assert budget.left_usd == pytest.approx(0.3)
    budget.settle(second, 0.5)
    budget.settle(third, 0.4)
    assert budget.spent and budget.spent_usd == pytest.approx(1.0)


def test_without_a_run_cap_a_model_backend_reserves_all_that_is_left() -> None:
    budget = Budget(1.0)
    model = budget.reserve(uses_model=True)
    assert model is not None and model.usd == pytest.approx(1.0)
    assert budget.reserve(uses_model=True) is None
    program = Budget(1.0).reserve(uses_model=False)
    assert program is not None and (program.usd, program.cap_usd) == (0.0, 1.0)
    unlimited = Budget(None, run_cap_usd=0.3).reserve(uses_model=True)
    assert unlimited is not None and (unlimited.usd, unlimited.cap_usd) == (0.0, 0.3)
