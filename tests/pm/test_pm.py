"""The PM loop through the real Anthropic SDK against a scripted Messages API on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from claude_pm.config import load_settings
from claude_pm.errors import InvalidInput
from claude_pm.llm import AnthropicClient, EventKind, LoopEvent
from claude_pm.pm import (
    PMConfig,
    PMResult,
    StopReason,
    Team,
    TeamMember,
    build_system_prompt,
    run_pm,
    team_from_handler,
)
from claude_pm.state import Database
from claude_pm.tickets.store import TicketStore
from claude_pm.tools import as_anthropic
from claude_pm.tools.handler import ClaudeToolHandler
from fakes.messages_api import (
    FakeMessagesAPI,
    api_error,
    message,
    overloaded,
    rate_limited,
    text,
    tool_use,
)

#: Two agents that each wait for the other: both complete only if they run at the same time.
MEETS = """
import pathlib, sys, time
me, other = "{me}", "{other}"
pathlib.Path(me + ".ready").write_text("yes")
deadline = time.monotonic() + 60
while not pathlib.Path(other + ".ready").exists():
    if time.monotonic() > deadline:
        print("never met " + other)
        sys.exit(3)
    time.sleep(0.01)
print("met " + other)
print("BUG: {me} found an off-by-one in the pager")
"""


@pytest.fixture
def fake() -> Iterator[FakeMessagesAPI]:
    with FakeMessagesAPI() as api:
        yield api


@pytest.fixture
def handler(project: Path) -> ClaudeToolHandler:
    return ClaudeToolHandler(settings=load_settings(project_root=project, environ={}))


def _run(
    fake: FakeMessagesAPI,
    handler: ClaudeToolHandler,
    goal: str = "ship it",
    *,
    max_retries: int = 2,
    transcript_dir: Path | None = None,
    on_event: Any = None,
    **limits: Any,
) -> PMResult:
    sdk = anthropic.Anthropic(base_url=fake.url, api_key="test", max_retries=max_retries)
    limits.setdefault("model", "claude-test")
    config = PMConfig(team=team_from_handler(handler), **limits)
    with AnthropicClient(sdk) as client:
        return run_pm(
            goal,
            handler=handler,
            client=client,
            config=config,
            transcript_dir=transcript_dir,
            on_event=on_event,
        )


def _system(request: dict[str, Any]) -> str:
    return "".join(block["text"] for block in request["system"])


def _tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    last = request["messages"][-1]
    assert last["role"] == "user"
    return [b for b in last["content"] if b["type"] == "tool_result"]


def test_goal_leads_to_discovery_workflow_agents_and_tickets(
    fake: FakeMessagesAPI, handler: ClaudeToolHandler, project: Path, write_agent: Any
) -> None:
    write_agent("left", MEETS.format(me="left", other="right"), specializations=["testing"])
    write_agent("right", MEETS.format(me="right", other="left"))
    workflow = {
        "workflow_description": "review the pager",
        "agent_tasks": [
            {"id": "a", "agent_type": "left", "task": "check the pager", "dependencies": ["b"]},
            {"id": "b", "agent_type": "right", "task": "check it too", "dependencies": ["a"]},
        ],
    }
    fake.add(
        message(text("First, the team."), tool_use("discover_available_agents", {})),
        message(tool_use("coordinate_multi_agent_workflow", workflow)),
        message(
            text("That workflow has a cycle: running both agents directly."),
            tool_use("execute_agent_subprocess", {"agent_type": "left", "task_description": "x"}),
            tool_use("execute_agent_subprocess", {"agent_type": "right", "task_description": "y"}),
        ),
        message(
            tool_use(
                "create_tickets_from_output",
                {
                    "output_text": "FEATURE: page size setting",
                    "source_agent": "pm",
                    "auto_create": True,
                },
            )
        ),
        message(text("Both agents reviewed the pager; bugs and a feature are filed.")),
    )
    events: list[LoopEvent] = []
    run_dir = project / ".claude-pm" / "pm" / "run-1"

    result = _run(fake, handler, "Review the pager", transcript_dir=run_dir, on_event=events.append)

    assert result.stop_reason is StopReason.END_TURN and result.ok
    assert result.final_text == "Both agents reviewed the pager; bugs and a feature are filed."
    assert (result.turns, result.tool_calls, result.tool_errors) == (5, 5, 1)
    assert result.usage.total_tokens == 5 * 120
    assert len(result.tickets_created) == 3
    assert result.run_id == "run-1" and result.model == "claude-test"
    assert fake.remaining == 0 and fake.unexpected == 0

    first = fake.requests[0]
    assert first["model"] == "claude-test"
    tools = [dict(t) for t in first["tools"]]
    assert tools[-1].pop("cache_control") == {"type": "ephemeral"}
    assert tools == as_anthropic()
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["messages"] == [{"role": "user", "content": "Review the pager"}]
    assert "- left (custom): left test agent [specializations: testing]" in _system(first)
    assert "- right (custom)" in _system(first)
    assert f"for the project at {project}" in _system(first)

    [discovered] = _tool_results(fake.requests[1])
    assert discovered["is_error"] is False
    names = {a["type"] for a in json.loads(discovered["content"])["available_agents"]}
    assert {"left", "right"} <= names

    [refused] = _tool_results(fake.requests[2])
    assert refused["is_error"] is True
    assert "dependency cycle a -> b -> a" in refused["content"]

    pair = _tool_results(fake.requests[3])
    assert [r["is_error"] for r in pair] == [False, False]
    outputs = [json.loads(r["content"]) for r in pair]
    assert [o["status"] for o in outputs] == ["completed", "completed"]
    assert "met right" in outputs[0]["output"] and "met left" in outputs[1]["output"]
    assert all(len(o["tickets_created"]) == 1 for o in outputs)
    # The assistant turn with both tool_use blocks went back unchanged.
    assistant = fake.requests[3]["messages"][-2]
    assert [b["type"] for b in assistant["content"]] == ["text", "tool_use", "tool_use"]

    [filed] = _tool_results(fake.requests[4])
    assert len(json.loads(filed["content"])["tickets_created"]) == 1

    # The PM's tickets are exactly the ones its tool calls filed, as the store has them.
    by_agents = [t for o in outputs for t in o["tickets_created"]]
    by_pm = json.loads(filed["content"])["tickets_created"]
    assert result.tickets_created == (*by_agents, *by_pm)
    stored = TicketStore(Database(project / ".claude-pm" / "state.db")).find()
    assert sorted(t.id for t in stored) == sorted(result.tickets_created)

    kinds = [e.kind for e in events]
    assert kinds[0] is EventKind.GOAL and kinds[-1] is EventKind.STOP
    assert kinds.count(EventKind.TOOL_CALL) == kinds.count(EventKind.TOOL_RESULT) == 5
    assert events[0].data["run_id"] == "run-1"

    lines = (run_dir / "transcript.jsonl").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines if '"tool_progress"' not in line] == [
        e.kind.value for e in events if e.kind is not EventKind.TOOL_PROGRESS
    ]
    readable = (run_dir / "transcript.txt").read_text()
    assert "Goal: Review the pager" in readable
    assert "-> discover_available_agents" in readable
    assert "<- error (WorkflowInvalid)" in readable
    assert "<- agent left: completed (exit 0" in readable
    assert "BUG: left found an off-by-one" in readable
    assert "Stopped: end_turn after 5 turn(s), 5 tool call(s), 600 tokens" in readable
    saved = json.loads((run_dir / "result.json").read_text())
    assert saved["stop_reason"] == "end_turn"
    assert saved["tickets_created"] == list(result.tickets_created)
    assert saved == result.to_dict()


def test_a_finding_filed_again_is_not_a_new_ticket_of_the_pm(
    fake: FakeMessagesAPI, handler: ClaudeToolHandler, project: Path
) -> None:
    fake.add(
        message(
            tool_use(
                "create_tickets_from_output",
                {
                    "output_text": "FEATURE: page size setting\nTODO: document the pager",
                    "source_agent": "pm",
                    "auto_create": True,
                },
            )
        ),
        message(
            tool_use(
                "create_tickets_from_output",
                {
                    "output_text": "FEATURE: page size setting",
                    "source_agent": "pm",
                    "auto_create": True,
                },
            )
        ),
        message(text("Filed a feature and a task.")),
    )
    result = _run(fake, handler)
    assert result.ok
    [filed] = _tool_results(fake.requests[1])
    created = json.loads(filed["content"])["tickets_created"]
    [again] = _tool_results(fake.requests[2])
    assert json.loads(again["content"])["tickets_created"] == []  # the same finding again
    stored = TicketStore(Database(project / ".claude-pm" / "state.db")).find()
    assert result.tickets_created == tuple(created) == tuple(t.id for t in stored)
    assert len(result.tickets_created) == 2


def test_the_model_recovers_from_a_tool_error(
    fake: FakeMessagesAPI, handler: ClaudeToolHandler
) -> None:
    fake.add(
        message(tool_use("create_tickets_from_output", {"text": "TODO: x"}, "toolu_bad")),
        message(
            tool_use(
                "create_tickets_from_output",
                {"output_text": "TODO: x", "source_agent": "pm"},
                "toolu_good",
            )
        ),
        message(text("Found one TODO.")),
    )
    result = _run(fake, handler)

    assert result.ok and result.tool_errors == 1
    [bad] = _tool_results(fake.requests[1])
    assert bad == {
        "type": "tool_result",
        "tool_use_id": "toolu_bad",
        "content": bad["content"],
        "is_error": True,
    }
    assert bad["content"].startswith("Error: Invalid arguments for create_tickets_from_output")
    assert "output_text" in bad["content"]
    [good] = _tool_results(fake.requests[2])
    assert good["tool_use_id"] == "toolu_good" and good["is_error"] is False


def test_rate_limits_and_overload_are_retried_by_the_sdk(
    fake: FakeMessagesAPI, handler: ClaudeToolHandler
) -> None:
    fake.add(rate_limited(), overloaded(), message(text("All done.")))
    result = _run(fake, handler, max_retries=2)
    assert result.ok and result.final_text == "All done."
    assert len(fake.requests) == 3 and result.turns == 1


def test_a_rate_limit_that_outlasts_the_retries_is_reported(
    fake: FakeMessagesAPI, handler: ClaudeToolHandler, project: Path
) -> None:
    fake.add(rate_limited(), rate_limited())
    run_dir = project / "run"
    result = _run(fake, handler, max_retries=1, transcript_dir=run_dir)
    assert result.stop_reason is StopReason.API_ERROR and not result.ok
    assert result.message is not None
    assert "rate limited" in result.message and "429" in result.message
    assert "after 1 retries" in result.message
    assert fake.unexpected == 0
    assert "Messages API error: rate limited" in (run_dir / "transcript.txt").read_text()


def test_a_client_error_is_reported_without_retrying(
    fake: FakeMessagesAPI, handler: ClaudeToolHandler
) -> None:
    fake.add(api_error(400, "invalid_request_error", "model: unknown model 'claude-nope'"))
    result = _run(fake, handler, max_retries=3)
    assert result.stop_reason is StopReason.API_ERROR
    assert result.message is not None
    assert "HTTP 400" in result.message and "unknown model 'claude-nope'" in result.message
    assert len(fake.requests) == 1


def test_the_turn_limit_stops_the_loop_without_running_unseen_calls(
    fake: FakeMessagesAPI, handler: ClaudeToolHandler
) -> None:
    fake.add(
        message(tool_use("discover_available_agents", {})),
        message(tool_use("discover_available_agents", {})),
    )
    result = _run(fake, handler, max_turns=2)
    assert result.stop_reason is StopReason.MAX_TURNS and result.hit_limit
    assert result.tool_calls == 1
    assert result.message is not None and "1 requested tool call(s) not run" in result.message


def test_the_token_budget_stops_the_loop(fake: FakeMessagesAPI, handler: ClaudeToolHandler) -> None:
    fake.add(
        message(tool_use("discover_available_agents", {}), input_tokens=50, output_tokens=10),
        message(tool_use("discover_available_agents", {}), input_tokens=80, output_tokens=10),
    )
    result = _run(fake, handler, max_tokens_budget=100)
    assert result.stop_reason is StopReason.TOKEN_BUDGET and result.hit_limit
    assert result.usage.total_tokens == 150
    assert result.message is not None and "150 > 100" in result.message
    assert len(fake.requests) == 2


def test_the_dollar_budget_stops_the_loop_and_the_cost_is_recorded(
    fake: FakeMessagesAPI, handler: ClaudeToolHandler, project: Path
) -> None:
    # claude-sonnet-4-5 at $3/$15 per million: 100k in + 10k out is $0.45 a turn.
    heavy = {"input_tokens": 100_000, "output_tokens": 10_000, "model": "claude-sonnet-4-5"}
    fake.add(
        message(tool_use("discover_available_agents", {}), **heavy),
        message(tool_use("discover_available_agents", {}), **heavy),
    )
    run_dir = project / "run"
    result = _run(fake, handler, model="claude-sonnet-4-5", budget_usd=0.5, transcript_dir=run_dir)
    assert result.stop_reason is StopReason.BUDGET_USD and result.hit_limit
    assert result.cost_usd == pytest.approx(0.90)
    assert result.tool_calls == 1 and len(fake.requests) == 2
    assert json.loads((run_dir / "result.json").read_text())["cost_usd"] == pytest.approx(0.90)
    assert ", $0.9000" in (run_dir / "transcript.txt").read_text()


def test_a_missing_project_still_starts_with_a_fallback_team(fake: FakeMessagesAPI) -> None:
    broken = ClaudeToolHandler({"project_root": "/nonexistent/claude-pm-project"})
    fake.add(message(tool_use("discover_available_agents", {})), message(text("Cannot proceed.")))
    result = _run(fake, broken)
    assert result.ok
    system = _system(fake.requests[0])
    assert "- qa" in system and "could not be read" in system
    [error] = _tool_results(fake.requests[1])
    assert error["is_error"] is True and "does not exist" in error["content"]


def test_without_a_team_the_prompt_asks_the_model_to_discover_it(
    fake: FakeMessagesAPI, handler: ClaudeToolHandler
) -> None:
    fake.add(message(text("I will discover the team first.")))
    sdk = anthropic.Anthropic(base_url=fake.url, api_key="test", max_retries=0)
    with AnthropicClient(sdk) as client:
        result = run_pm("plan", handler=handler, client=client, config=PMConfig(model="m"))
    assert result.ok
    system = _system(fake.requests[0])
    assert "no team was given" in system and "Call discover_available_agents" in system


def test_a_given_system_prompt_replaces_the_built_one(
    fake: FakeMessagesAPI, handler: ClaudeToolHandler
) -> None:
    fake.add(message(text("ok")))
    _run(fake, handler, system_prompt="You are terse.")
    assert _system(fake.requests[0]) == "You are terse."


def test_the_prompt_lists_a_given_team() -> None:
    team = Team(
        (TeamMember("fuzzer", "Fuzzes parsers.", ("fuzzing",), custom=True, unavailable="no AFL"),),
        project_root=Path("/srv/app"),
    )
    prompt = build_system_prompt(team)
    assert "You are the project manager for the project at /srv/app." in prompt
    line = "- fuzzer (custom): Fuzzes parsers. [specializations: fuzzing]"
    assert line + " (cannot run here yet: no AFL)" in prompt
    assert "could not be read" not in prompt


def test_bad_input_is_refused_before_anything_is_sent(
    fake: FakeMessagesAPI, handler: ClaudeToolHandler
) -> None:
    with pytest.raises(InvalidInput, match="goal is empty"):
        _run(fake, handler, " ")
    with pytest.raises(InvalidInput) as info:
        PMConfig(max_parallel_calls=0)
    assert info.value.field == "max_parallel_calls"
    with pytest.raises(InvalidInput, match="No price is known for model 'local-llama'"):
        PMConfig(model="local-llama", budget_usd=1.0)
    assert fake.requests == []
