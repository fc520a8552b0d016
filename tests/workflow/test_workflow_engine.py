"""The workflow tool end to end with real agents: results, skips, policies, write safety,
retries through the shared limiter, the budget, and the journal it leaves."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from wf_support import ECHO, FAIL, LOGGED, by_id, workflow

from claude_pm import ClaudeToolHandler
from claude_pm.agents.runs import RunStore
from claude_pm.state import Database
from claude_pm.tickets.store import TicketStore
from claude_pm.workflow.journal import JOURNAL_MIGRATION, AttemptStatus, WorkflowJournal

CALL = "coordinate_multi_agent_workflow"

REFERENCE = {
    "workflow_description": "Complete feature development cycle",
    "agent_tasks": [
        {"agent_type": "engineer", "task": "Implement user authentication", "priority": 1},
        {"agent_type": "qa", "task": "Create comprehensive tests", "priority": 2},
        {"agent_type": "documentation", "task": "Update API docs", "priority": 3},
    ],
    "coordination_mode": "hybrid",
}


def journal(project: Path) -> WorkflowJournal:
    return WorkflowJournal(Database(project / ".claude-pm" / "state.db"))


@pytest.mark.slow
def test_the_reference_example_runs_with_the_shipped_agents(
    handler: ClaudeToolHandler, project: Path
) -> None:
    (project / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (project / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    )
    progress: list[tuple[str, float | None, float | None]] = []

    result = handler.handle_tool_call(
        CALL, REFERENCE, on_progress=lambda m, d, t: progress.append((m, d, t))
    )

    assert result["success"] is True, result.get("error")
    assert (result["total_tasks"], result["completed_tasks"]) == (3, 3)
    assert result["coordination_mode"] == result["coordination_mode_used"] == "hybrid"
    tasks = by_id(result)
    assert list(tasks) == ["task-0", "task-1", "task-2"]
    assert [t["agent_type"] for t in tasks.values()] == ["engineer", "qa", "documentation"]
    assert all(t["status"] == "completed" and t["attempts"] == 1 for t in tasks.values())
    assert "1 passed" in tasks["task-1"]["output"]
    # documentation files its findings (no docstrings, no README) as tickets.
    assert tasks["task-2"]["tickets_created"]
    # Three writers (no writes declared): one at a time, in priority order.
    started = [m for m, _, _ in progress if m.endswith("started (attempt 1)")]
    assert [m.split(" ")[0] for m in started] == ["task-0", "task-1", "task-2"]
    assert progress[-1][1:] == (3.0, 3.0)
    assert result["critical_path"] and result["makespan_s"] > 0


def test_a_dependent_sees_its_dependencies_results(
    handler: ClaudeToolHandler, write_agent: Any
) -> None:
    write_agent("echo", ECHO)
    # This agent lists no context key at all: dependency_results reaches it all the same.
    write_agent("reader", ECHO, context_keys=[])

    result = handler.handle_tool_call(
        CALL,
        workflow(
            {"id": "first", "agent_type": "echo", "task": "alpha", "writes": []},
            {"id": "second", "agent_type": "echo", "task": "beta", "writes": []},
            {
                "id": "last",
                "agent_type": "reader",
                "task": "omega",
                "dependencies": ["first", "second"],
            },
        ),
    )

    assert result["success"] is True, result.get("error")
    tasks = by_id(result)
    seen = json.loads(tasks["last"]["output"].splitlines()[1].removeprefix("deps: "))
    assert sorted(seen) == ["first", "second"]
    first = seen["first"]
    assert first["status"] == "completed"
    assert first["summary"].startswith("agent echo completed")
    assert first["output"] == tasks["first"]["output"]
    assert first["tickets"] == tasks["first"]["tickets_created"] != []
    assert first["run_id"] == tasks["first"]["run_id"]
    assert Path(first["log_paths"]["stdout"]).read_text() == tasks["first"]["output"]
    assert "deps: {}" in tasks["first"]["output"]


def test_a_failed_dependency_skips_its_dependents_and_the_rest_goes_on(
    handler: ClaudeToolHandler, write_agent: Any, project: Path
) -> None:
    write_agent("echo", ECHO)
    write_agent("fail", FAIL)

    result = handler.handle_tool_call(
        CALL,
        workflow(
            {"id": "broken", "agent_type": "fail", "task": "x", "writes": []},
            {"id": "child", "agent_type": "echo", "task": "c", "dependencies": ["broken"]},
            {"id": "grandchild", "agent_type": "echo", "task": "g", "dependencies": ["child"]},
            {"id": "apart", "agent_type": "echo", "task": "a", "writes": []},
        ),
    )

    assert result["success"] is False
    assert (result["completed_tasks"], result["failed_tasks"], result["skipped_tasks"]) == (1, 1, 2)
    tasks = by_id(result)
    assert tasks["broken"]["status"] == "failed" and tasks["broken"]["exit_code"] == 3
    assert tasks["child"]["skipped_reason"] == "dependency 'broken' failed"
    assert tasks["grandchild"]["skipped_reason"] == "dependency 'child' was skipped"
    assert tasks["child"]["attempts"] == 0 and "run_id" not in tasks["child"]
    assert tasks["apart"]["task_status"] == "completed"
    assert "broken failed" in result["error"]
    with journal(project) as j:
        stored = {t.task_id: t.status.value for t in j.tasks(result["workflow_id"])}
        assert stored == {
            "broken": "failed",
            "child": "skipped",
            "grandchild": "skipped",
            "apart": "completed",
        }
        assert j.workflow(result["workflow_id"]).status.value == "failed"  # type: ignore[union-attr]


def test_failure_policy_stop_skips_what_has_not_started(
    handler: ClaudeToolHandler, write_agent: Any
) -> None:
    write_agent("echo", ECHO)
    write_agent("fail", FAIL)

    result = handler.handle_tool_call(
        CALL,
        workflow(
            {"id": "first", "agent_type": "fail", "task": "x", "priority": 1},
            {"id": "second", "agent_type": "echo", "task": "y", "priority": 2},
            {"id": "third", "agent_type": "echo", "task": "z", "priority": 3},
            failure_policy="stop",
            max_concurrency=1,
        ),
    )

    tasks = by_id(result)
    assert tasks["first"]["task_status"] == "failed"
    for name in ("second", "third"):
        assert tasks[name]["task_status"] == "skipped"
        assert tasks[name]["skipped_reason"] == "task 'first' failed and failure_policy is stop"


def test_overlapping_writers_never_run_at_the_same_time(
    handler: ClaudeToolHandler, write_agent: Any, project: Path
) -> None:
    write_agent("logged", LOGGED)

    result = handler.handle_tool_call(
        CALL,
        workflow(
            # w1 and doc must meet (they run at once); w2 overlaps w1 and must wait for it.
            {
                "id": "w1",
                "agent_type": "logged",
                "task": "w1 meet doc",
                "writes": ["src/**"],
                "priority": 1,
            },
            {
                "id": "w2",
                "agent_type": "logged",
                "task": "w2",
                "writes": ["src/app.py"],
                "priority": 2,
            },
            {
                "id": "doc",
                "agent_type": "logged",
                "task": "doc meet w1",
                "writes": ["docs/**"],
                "priority": 3,
            },
            max_concurrency=3,
        ),
    )

    assert result["success"] is True, result.get("error")
    log = (project / "log.txt").read_text().split("\n")
    assert log.index("end w1") < log.index("start w2")
    assert log.index("start doc") < log.index("end w1")


def test_a_rate_limited_task_pauses_the_whole_workflow_then_succeeds(
    handler: ClaudeToolHandler, write_agent: Any, project: Path
) -> None:
    # The first attempt is told to retry after 1 s and fails; the next succeeds.
    write_agent(
        "limited",
        """
import json, os, pathlib, time
marker = pathlib.Path("limited.first")
if not marker.exists():
    now = time.time()
    marker.write_text(repr(now + 1.0))
    report = {"version": 1, "backend": "command", "error": "429 Too Many Requests",
              "error_kind": "rate_limited",
              "rate_limits": [{"kind": "rate_limited", "at": now, "retry_after_s": 1.0}]}
    pathlib.Path(os.environ["CLAUDE_PM_RESULT_FILE"]).write_text(json.dumps(report))
    raise SystemExit(1)
print("done after the reset")
""",
    )
    write_agent(
        "stamp", "import pathlib, time; pathlib.Path('stamp.at').write_text(repr(time.time()))"
    )

    result = handler.handle_tool_call(
        CALL,
        workflow(
            {"id": "limited", "agent_type": "limited", "task": "x", "priority": 1},
            {"id": "later", "agent_type": "stamp", "task": "y", "priority": 2, "writes": []},
            max_concurrency=1,
        ),
    )

    assert result["success"] is True, result.get("error")
    tasks = by_id(result)
    assert tasks["limited"]["attempts"] == 2
    assert tasks["limited"]["output"] == "done after the reset\n"
    assert result["rate_limit_pauses"] == 1
    # Nothing started before the time the backend was told to wait for, not even another task.
    reset_at = float((project / "limited.first").read_text())
    assert float((project / "stamp.at").read_text()) >= reset_at
    with journal(project) as j:
        attempts = j.attempts(result["workflow_id"])
        first = next(a for a in attempts if a.task_id == "limited" and a.attempt == 1)
        assert (first.status, first.retry_kind) == (AttemptStatus.FAILED, "rate_limit")


def test_the_budget_is_reserved_at_each_start_and_stops_new_starts(
    project: Path, write_agent: Any
) -> None:
    # Each task spends all it was given (its run's budget_usd in the hand-off) and says so.
    write_agent(
        "spender",
        """
import json, os, pathlib
with open(os.environ["CLAUDE_PM_CONTEXT_FILE"]) as f:
    budget = json.load(f)["budget_usd"]
print("budget", budget)
report = {"version": 1, "backend": "command", "cost_usd": budget}
pathlib.Path(os.environ["CLAUDE_PM_RESULT_FILE"]).write_text(json.dumps(report))
""",
    )
    handler = ClaudeToolHandler({"project_root": str(project), "run_budget_usd": 0.4})
    tasks = [{"id": f"t{i}", "agent_type": "spender", "task": "x", "writes": []} for i in range(4)]

    result = handler.handle_tool_call(CALL, workflow(*tasks, budget_usd=1.0, max_concurrency=4))

    done = by_id(result)
    budgets = sorted(float(t["output"].split()[1]) for t in done.values() if "output" in t)
    assert budgets == pytest.approx([0.2, 0.4, 0.4])
    assert result["cost_usd"] == pytest.approx(1.0)
    assert result["budget_usd"] == 1.0
    [skipped] = [t for t in done.values() if t["task_status"] == "skipped"]
    assert skipped["skipped_reason"].startswith("budget spent")
    assert skipped["attempts"] == 0


def test_every_change_is_journaled_and_tickets_are_effects(
    handler: ClaudeToolHandler, write_agent: Any, project: Path
) -> None:
    write_agent("echo", ECHO)

    result = handler.handle_tool_call(
        CALL, workflow({"id": "a", "agent_type": "echo", "task": "alpha"})
    )

    wid = result["workflow_id"]
    database = Database(project / ".claude-pm" / "state.db")
    assert database.schema_version >= JOURNAL_MIGRATION
    with WorkflowJournal(database) as j:
        record = j.workflow(wid)
        assert record is not None and record.status.value == "completed"
        assert record.input["agent_tasks"][0]["id"] == "a"
        assert len(record.input_hash) == 64
        [attempt] = j.attempts(wid)
        assert attempt.run_id == result["task_results"][0]["run_id"]
        run = RunStore(database, reclaim=False).get(attempt.run_id)
        assert run is not None and run.tree is not None and run.tree.root_pid > 0
        [effect] = j.effects(wid)
        assert (effect.kind, effect.status.value) == ("tickets", "done")
        kinds = [e["kind"] for e in j.events(wid, last=50)]
    assert kinds[0] == "workflow_created" and kinds[-1] == "workflow_completed"
    assert "task_completed" in kinds
    [ticket] = TicketStore(database).find()
    assert ticket.title == "follow up on alpha"
    assert time.time() - record.created_at < 600
