"""The anthropic backend end to end: a Claude Code agent file, the real SDK, a fake Messages API.

Each test runs ``execute_agent_subprocess`` on a project agent that says
``backend: anthropic``, with ``ANTHROPIC_BASE_URL`` pointing at a fake on
127.0.0.1 that scripts the model's turns; the tool calls really run in the
agent's process, on the project's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llm_support import PID_COMMAND, bash_facts, handler_for, report_of, run_agent, transcript_of
from llm_support import write_llm_agent as write_agent

from claude_pm.agents.registry import SHIPPED_DIR
from fakes.messages_api import (
    FakeMessagesAPI,
    Scripted,
    api_error,
    message,
    overloaded,
    rate_limited,
    text,
    tool_results,
    tool_use,
)

APP = "def add(a, b):\n    return a - b\n"


def _env(fake: FakeMessagesAPI, **more: str) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "test-key", **more}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the secret\n")
    return secret


def test_an_agent_reads_searches_runs_bash_in_its_tree_is_confined_and_files_tickets(
    project: Path, outside: Path
) -> None:
    (project / "app.py").write_text(APP)
    (project / "link_out").symlink_to(outside)
    write_agent(project, "reviewer", "anthropic", tools="Read, Grep, Glob, Bash", model="sonnet")
    facts: dict[str, Any] = {}
    calls = [
        tool_use("Read", {"file_path": "app.py"}, "read"),
        tool_use("Grep", {"pattern": "return", "output_mode": "content"}, "grep"),
        tool_use("Glob", {"pattern": "**/*.py"}, "glob"),
        tool_use("Edit", {"file_path": "app.py", "old_string": "-", "new_string": "+"}, "edit"),
        tool_use("Read", {"file_path": "../outside/secret.txt"}, "dotdot"),
        tool_use("Read", {"file_path": str(outside)}, "absolute"),
        tool_use("Read", {"file_path": "link_out"}, "link"),
        tool_use("Bash", {"command": PID_COMMAND}, "bash"),
    ]

    def report(body: dict[str, Any]) -> Scripted:
        facts.update(bash_facts(tool_results(body)["bash"]["content"]))
        return message(text("Reviewed.\nBUG: app.py:2: add subtracts\nTODO: app.py: add tests"))

    script = [rate_limited(5), overloaded(5), message(*calls), report]
    with FakeMessagesAPI(script) as fake:
        result = run_agent(handler_for(project, **_env(fake)), "reviewer")

    assert result["success"], result
    assert (result["backend"], result["stop_reason"], result["turns"]) == (
        "anthropic",
        "end_turn",
        2,
    )
    assert set(result["usage"]) == {
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    }
    assert result["cost_usd"] is not None and result["cost_usd"] > 0
    assert result["session_id"].startswith("anthropic-")
    assert "BUG: app.py:2" in result["output"]
    assert result["tickets_created_count"] == 2
    # The 429 and the 529 were retried by the SDK, and both are on record.
    assert [e["kind"] for e in result["rate_limits"]] == ["rate_limited", "overloaded"]
    assert result["rate_limits"][0]["retry_after_s"] == pytest.approx(0.005)
    assert report_of(result)["rate_limits"] == result["rate_limits"]

    first = fake.requests[2]
    assert first["model"] == "claude-sonnet-5-5"
    assert [t["name"] for t in first["tools"]] == ["Read", "Glob", "Grep", "Bash"]
    assert first["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["system"][0]["text"].startswith("You review code.")
    assert '"project_root"' in first["messages"][0]["content"]

    answers = tool_results(fake.requests[3])
    assert "2\t    return a - b" in answers["read"]["content"]
    assert "app.py:2:    return a - b" in answers["grep"]["content"]
    assert answers["glob"]["content"] == "app.py"
    for refused in ("edit", "dotdot", "absolute", "link"):
        assert answers[refused]["is_error"], answers[refused]
    assert "not allowed" in answers["edit"]["content"]
    assert "outside the project" in answers["dotdot"]["content"]
    assert "outside the project" in answers["absolute"]["content"]
    assert "symbolic link" in answers["link"]["content"]
    assert not any("the secret" in a["content"] for a in answers.values())
    assert (project / "app.py").read_text() == APP
    assert facts == {"parent_is_the_agent": True, "parent_is_ours": True, "shell_gone": True}

    kinds = [line["kind"] for line in transcript_of(result)]
    assert kinds[0] == "session" and kinds[-1] == "stop"
    assert kinds.count("rate_limit") == 2 and "tool_result" in kinds


def test_an_agent_without_tools_inherits_edit_and_write_and_stops_at_max_turns(
    project: Path,
) -> None:
    (project / "app.py").write_text(APP)
    write_agent(project, "fixer", "anthropic", model="inherit", disallowedTools="Bash", maxTurns=2)
    turn_1 = message(
        tool_use("Edit", {"file_path": "app.py", "old_string": "a - b", "new_string": "a + b"}),
        tool_use("Write", {"file_path": "tests/test_app.py", "content": "# tests\n"}),
        tool_use("Bash", {"command": "true"}, "bash"),
    )
    turn_2 = message(text("Checking."), tool_use("Read", {"file_path": "app.py"}))
    with FakeMessagesAPI([turn_1, turn_2]) as fake:
        handler = handler_for(project, **_env(fake, CLAUDE_PM_MODEL="opus"))
        result = run_agent(handler, "fixer")

    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert (project / "tests" / "test_app.py").read_text() == "# tests\n"
    bash = tool_results(fake.requests[1])["bash"]
    assert bash["is_error"] and "disallowedTools" in bash["content"]
    assert fake.requests[0]["model"] == "claude-opus-5-5"
    assert [t["name"] for t in fake.requests[0]["tools"]] == [
        "Read",
        "Glob",
        "Grep",
        "Write",
        "Edit",
    ]
    assert len(fake.requests) == 2
    assert result["success"] is False and result["exit_code"] == 3
    assert result["stop_reason"] == "max_turns" and result["turns"] == 2
    assert "turn limit (2)" in result["error"]
    assert result["output"].strip() == "Checking."


def test_a_shipped_agent_on_the_configured_backend_fails_at_once_on_a_401(project: Path) -> None:
    # The shipped agents pin no backend: CLAUDE_PM_BACKEND=anthropic runs them as LLM agents.
    refused = api_error(401, "authentication_error", "invalid x-api-key")
    with FakeMessagesAPI([refused, message(text("never sent"))]) as fake:
        handler = handler_for(project, **_env(fake, CLAUDE_PM_BACKEND="anthropic"))
        result = run_agent(handler, "architecture")
        assert len(fake.requests) == 1
    body = (SHIPPED_DIR / "architecture.md").read_text().split("---\n", 2)[2].strip()
    assert fake.requests[0]["system"][0]["text"].startswith(body[:200])
    assert (result["error_kind"], result["stop_reason"]) == ("authentication", "api_error")
    assert result["backend"] == "anthropic"
    assert result["success"] is False and result["exit_code"] == 77
    assert "ANTHROPIC_API_KEY" in result["error"]


def test_the_dollar_budget_stops_the_loop_before_the_tools_run(project: Path) -> None:
    (project / "app.py").write_text(APP)
    write_agent(project, "fixer", "anthropic", model="sonnet")
    edit = tool_use("Edit", {"file_path": "app.py", "old_string": "a - b", "new_string": "a + b"})
    with FakeMessagesAPI([message(edit), message(text("never sent"))]) as fake:
        env = _env(fake, CLAUDE_PM_RUN_BUDGET_USD="0.0001")
        result = run_agent(handler_for(project, **env), "fixer")
        assert len(fake.requests) == 1
    # 100 input and 20 output tokens at claude-sonnet-5-5's $2 and $10 per million.
    assert result["cost_usd"] == pytest.approx(0.0004)
    assert (result["stop_reason"], result["exit_code"]) == ("budget_usd", 3)
    assert "dollar budget spent" in result["error"]
    assert (project / "app.py").read_text() == APP
