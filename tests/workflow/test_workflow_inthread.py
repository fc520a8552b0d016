"""The engine on the in-thread executor (claude_pm.testing): scripted outcomes, no processes.

What it drives is the real engine: the journal, the runner's records and tickets, retries
with backoff, the limiter, the budget, and the bounded result of a large workflow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from wf_support import workflow

from claude_pm.agents.registry import AgentRegistry
from claude_pm.config import load_settings
from claude_pm.state import Database
from claude_pm.testing import InThreadExecutor, Outcome
from claude_pm.tools.results import workflow_result
from claude_pm.workflow.engine import EngineOptions, WorkflowEngine
from claude_pm.workflow.outcome import EventKind, WorkflowEvent
from claude_pm.workflow.spec import TaskStatus

FAST = EngineOptions(backoff_base_s=0.01, rate_limit_pause_s=0.01, poll_s=0.05)


@pytest.fixture
def engine_for(project: Path, write_agent: Any) -> Any:
    write_agent("worker", "print('never run: the executor is scripted')")
    write_agent("other", "print('never run')")
    settings = load_settings(project_root=project)

    def make(executor: InThreadExecutor, **flags: Any) -> WorkflowEngine:
        s = load_settings(project_root=project, **flags) if flags else settings
        return WorkflowEngine(
            s, AgentRegistry.from_settings(s), Database(s.db_path), options=FAST, executor=executor
        )

    return make


def test_scripted_outcomes_flow_through_the_real_runner_and_journal(engine_for: Any) -> None:
    executor = InThreadExecutor({"worker": Outcome(output="BUG: the parser drops the last line\n")})
    events: list[WorkflowEvent] = []

    result = engine_for(executor).run(
        workflow(
            {"id": "a", "agent_type": "worker", "task": "x", "writes": []},
            {"id": "b", "agent_type": "worker", "task": "y", "dependencies": ["a"]},
        ),
        on_event=events.append,
    )

    assert result.completed
    [a, b] = result.tasks
    assert a.result is not None and a.result.process.pid is None
    assert (a.result.tickets.created_count, a.result.tickets.filed_count) == (1, 0)
    assert b.result is not None
    assert (b.result.tickets.created_count, b.result.tickets.filed_count) == (0, 1)
    assert b.result.tickets.filed_ids == a.result.tickets.created_ids
    context = executor.submitted[1].handoff.context
    assert context["dependency_results"]["a"]["output"] == "BUG: the parser drops the last line\n"
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.STARTED) == 2 and kinds[-1] is EventKind.WORKFLOW_ENDED
    assert events[-1].done == events[-1].total == 2


def test_spawn_errors_are_retried_with_backoff_up_to_the_tasks_retries(engine_for: Any) -> None:
    executor = InThreadExecutor(
        {"worker": [Outcome("spawn_error", errors="no such program")] * 2 + [Outcome()]}
    )

    result = engine_for(executor).run(
        workflow({"id": "a", "agent_type": "worker", "task": "x", "retries": 2})
    )

    assert result.completed and result.tasks[0].attempts == 3


def test_a_failure_of_the_tasks_own_is_not_retried(engine_for: Any) -> None:
    executor = InThreadExecutor({"worker": Outcome("failed", exit_code=2)})

    result = engine_for(executor).run(
        workflow({"id": "a", "agent_type": "worker", "task": "x", "retries": 3})
    )

    [a] = result.tasks
    assert (a.status, a.attempts) == (TaskStatus.FAILED, 1)
    assert a.reason == "agent worker failed with exit code 2"


def test_too_many_spawn_errors_fail_the_task_saying_so(engine_for: Any) -> None:
    executor = InThreadExecutor({"worker": Outcome("spawn_error", errors="no such program")})

    result = engine_for(executor).run(
        workflow({"id": "a", "agent_type": "worker", "task": "x", "retries": 1})
    )

    [a] = result.tasks
    assert (a.status, a.attempts) == (TaskStatus.FAILED, 2)
    assert a.reason is not None and a.reason.endswith("(after 1 retry)")


def test_rate_limits_shrink_the_concurrency_and_do_not_use_up_retries(engine_for: Any) -> None:
    limited = Outcome("failed", error_kind="overloaded", retry_after_s=0.01)
    executor = InThreadExecutor({"worker": [limited, limited, Outcome()]})

    result = engine_for(executor).run(
        workflow(
            {"id": "a", "agent_type": "worker", "task": "x"},
            {"id": "b", "agent_type": "other", "task": "y", "writes": []},
            max_concurrency=4,
        )
    )

    assert result.completed and result.rate_limit_pauses == 2
    assert result.tasks[0].attempts == 3


def test_a_task_rate_limited_too_often_fails(engine_for: Any) -> None:
    executor = InThreadExecutor({"worker": Outcome("failed", error_kind="rate_limited")})
    engine = engine_for(executor)
    engine.options = EngineOptions(rate_limit_retries=2, rate_limit_pause_s=0.0, poll_s=0.05)

    result = engine.run(workflow({"id": "a", "agent_type": "worker", "task": "x"}))

    [a] = result.tasks
    assert (a.status, a.attempts) == (TaskStatus.FAILED, 3)
    assert "rate_limited 3 times" in (a.reason or "")


def test_costs_add_up_and_a_spent_budget_skips_the_rest(engine_for: Any) -> None:
    executor = InThreadExecutor({"worker": Outcome(cost_usd=0.3)})
    tasks = [{"id": f"t{i}", "agent_type": "worker", "task": "x"} for i in range(5)]

    result = engine_for(executor).run(workflow(*tasks, budget_usd=0.5, max_concurrency=1))

    statuses = [t.status for t in result.tasks]
    assert statuses == [TaskStatus.COMPLETED] * 2 + [TaskStatus.SKIPPED] * 3
    assert result.cost_usd == pytest.approx(0.6)
    assert all(
        (t.reason or "").startswith("budget spent: $0.6000 of $0.5000") for t in result.tasks[2:]
    )


def test_a_thousand_task_result_stays_small_and_says_where_the_rest_is(engine_for: Any) -> None:
    executor = InThreadExecutor({"worker": Outcome(output="x" * 20_000)})
    tasks = [
        {"id": f"t{i}", "agent_type": "worker", "task": "x", "writes": []} for i in range(1000)
    ]

    result = engine_for(executor).run(workflow(*tasks, max_concurrency=16))
    document = workflow_result(result, max_report_bytes=16384, max_tickets_listed=50)

    size = len(json.dumps(document))
    assert size < 300 * 1024
    assert document["total_tasks"] == document["completed_tasks"] == 1000
    assert document["task_results_truncated"] is True
    assert f"claude-pm workflow status {result.workflow_id}" in document["read_more"]
    full = [t for t in document["task_results"] if "output" in t]
    assert full and all(len(t["output"]) <= 16384 for t in full)
    every = workflow_result(result, max_report_bytes=16384, max_tickets_listed=50, every_task=True)
    assert len(every["task_results"]) == 1000
