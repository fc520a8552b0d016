"""The PM loop through the real Anthropic SDK against a scripted Messages API on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import psutil
import pytest

from claude_pm.config import load_settings
from claude_pm.pm import PMResult, StopReason, run_pm
from claude_pm.pm_transcript import EventKind, TranscriptEvent
from claude_pm.tools.export import as_anthropic
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


def _client(fake: FakeMessagesAPI, max_retries: int = 2) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.url, api_key="test", max_retries=max_retries)


def _run(
    fake: FakeMessagesAPI, handler: ClaudeToolHandler, goal: str = "ship it", **options: Any
) -> PMResult:
    max_retries = options.pop("max_retries", 2)
    with _client(fake, max_retries) as client:
        return run_pm(goal, handler=handler, client=client, model="claude-test", **options)


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
            {"id": "a", "agent_type": "left", "task": "check the pager"},
            {"id": "b", "agent_type": "right", "task": "check it too", "dependencies": ["a"]},
        ],
    }
    fake.add(
        message(text("First, the team."), tool_use("discover_available_agents", {})),
        message(tool_use("coordinate_multi_agent_workflow", workflow)),
        message(
            text("Workflows are not available: running both agents directly."),
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
    events: list[TranscriptEvent] = []
    run_dir = project / ".claude-pm" / "pm" / "run-1"

    result = _run(fake, handler, "Review the pager", transcript_dir=run_dir, on_event=events.append)

    assert result.stop_reason is StopReason.END_TURN and result.ok
    assert result.final_text == "Both agents reviewed the pager; bugs and a feature are filed."
    assert (result.turns, result.tool_calls, result.tool_errors) == (5, 5, 1)
    assert result.usage.total_tokens == 5 * 120
    assert len(result.tickets_created) == 3
    assert fake.remaining == 0 and fake.unexpected == 0

    first = fake.requests[0]
    assert first["model"] == "claude-test"
    assert first["tools"] == as_anthropic()
    assert first["messages"] == [{"role": "user", "content": "Review the pager"}]
    assert "- left (custom): left test agent [specializations: testing]" in first["system"]
    assert "- right (custom)" in first["system"]

    [discovered] = _tool_results(fake.requests[1])
    assert discovered["is_error"] is False
    names = {a["type"] for a in json.loads(discovered["content"])["available_agents"]}
    assert {"left", "right"} <= names

    [refused] = _tool_results(fake.requests[2])
    assert refused["is_error"] is True
    assert "not available" in refused["content"]

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

    kinds = [e.kind for e in events]
    assert kinds[0] is EventKind.GOAL and kinds[-1] is EventKind.STOP
    assert kinds.count(EventKind.TOOL_CALL) == kinds.count(EventKind.TOOL_RESULT) == 5

    lines = (run_dir / "transcript.jsonl").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines if '"tool_progress"' not in line] == [
        e.kind.value for e in events if e.kind is not EventKind.TOOL_PROGRESS
    ]
    readable = (run_dir / "transcript.txt").read_text()
    assert "Goal: Review the pager" in readable
    assert "-> discover_available_agents" in readable
    assert "<- error (NotAvailable)" in readable
    assert "<- agent left: completed (exit 0" in readable
    assert "BUG: left found an off-by-one" in readable
    assert "Stopped: end_turn after 5 turn(s), 5 tool call(s), 600 tokens" in readable
    saved = json.loads((run_dir / "result.json").read_text())
    assert saved["stop_reason"] == "end_turn"
    assert saved["tickets_created"] == list(result.tickets_created)


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
    assert result.stop_reason is StopReason.MAX_TURNS
    assert result.tool_calls == 1
    assert result.message is not None and "1 requested tool call(s) not run" in result.message


def test_the_token_budget_stops_the_loop(fake: FakeMessagesAPI, handler: ClaudeToolHandler) -> None:
    fake.add(
        message(tool_use("discover_available_agents", {}), input_tokens=50, output_tokens=10),
        message(tool_use("discover_available_agents", {}), input_tokens=80, output_tokens=10),
    )
    result = _run(fake, handler, max_tokens_budget=100)
    assert result.stop_reason is StopReason.TOKEN_BUDGET
    assert result.usage.total_tokens == 150
    assert result.message is not None and "150 > 100" in result.message
    assert len(fake.requests) == 2


def test_a_missing_project_still_starts_with_a_fallback_team(fake: FakeMessagesAPI) -> None:
    broken = ClaudeToolHandler({"project_root": "/nonexistent/claude-pm-project"})
    fake.add(message(tool_use("discover_available_agents", {})), message(text("Cannot proceed.")))
    result = _run(fake, broken)
    assert result.ok
    system = fake.requests[0]["system"]
    assert "- qa" in system and "could not be read" in system
    [error] = _tool_results(fake.requests[1])
    assert error["is_error"] is True and "does not exist" in error["content"]


def _cli(project: Path, fake: FakeMessagesAPI, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANTHROPIC_API_KEY": "test",
        "ANTHROPIC_BASE_URL": fake.url,
        "CLAUDE_PM_MODEL": "claude-test",
    }
    return subprocess.run(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "pm", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_prints_and_saves_the_transcript(fake: FakeMessagesAPI, project: Path) -> None:
    fake.add(
        message(
            tool_use(
                "create_tickets_from_output",
                {"output_text": "TODO: docs", "source_agent": "pm", "auto_create": True},
            )
        ),
        message(text("Filed the docs TODO.")),
    )
    done = _cli(project, fake, "Document the API")
    assert done.returncode == 0, done.stderr
    assert "-> create_tickets_from_output" in done.stdout
    assert "Filed the docs TODO." in done.stdout
    [run_dir] = (project / ".claude-pm" / "pm").iterdir()
    assert f"Transcript: {run_dir / 'transcript.txt'}" in done.stdout
    assert "Filed the docs TODO." in (run_dir / "transcript.txt").read_text()
    assert fake.requests[0]["model"] == "claude-test"
    sent = fake.headers[0]
    assert "test" in (sent.get("x-api-key"), sent.get("authorization", "").removeprefix("Bearer "))


def test_cli_exits_non_zero_on_an_api_error(fake: FakeMessagesAPI, project: Path) -> None:
    fake.add(api_error(401, "authentication_error", "invalid x-api-key"))
    done = _cli(project, fake, "anything", "--max-retries", "0", "--json")
    assert done.returncode == 1
    assert "invalid x-api-key" in done.stderr
    assert json.loads(done.stdout)["stop_reason"] == "api_error"


def test_cli_rejects_nonsense_limits(fake: FakeMessagesAPI, project: Path) -> None:
    for flags in (["--parallel", "0"], ["--max-retries", "-1"]):
        done = _cli(project, fake, "anything", *flags)
        assert done.returncode == 2
        assert "--parallel must be at least 1" in done.stderr
    assert fake.requests == []


SLEEPER = """
import os, time
with open("sleeper.pids.tmp", "w") as f:
    f.write(str(os.getpid()))
os.replace("sleeper.pids.tmp", "sleeper.pids")
time.sleep(300)
"""


def test_cli_interrupted_mid_run_kills_the_agent_and_records_the_stop(
    fake: FakeMessagesAPI, project: Path, write_agent: Any
) -> None:
    write_agent("sleeper", SLEEPER)
    fake.add(
        message(
            tool_use("execute_agent_subprocess", {"agent_type": "sleeper", "task_description": "w"})
        )
    )
    env = {**os.environ, "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": fake.url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "pm", "wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        pid_file = project / "sleeper.pids"
        deadline = time.monotonic() + 60
        while not pid_file.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the agent never started"
            time.sleep(0.02)
        agent = int(pid_file.read_text())
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert not psutil.pid_exists(agent) or psutil.Process(agent).status() == psutil.STATUS_ZOMBIE
    [run_dir] = (project / ".claude-pm" / "pm").iterdir()
    saved = json.loads((run_dir / "result.json").read_text())
    assert saved["stop_reason"] == "cancelled"
    assert "-> execute_agent_subprocess" in out
