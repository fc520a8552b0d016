"""The openai backend end to end: a Claude Code agent file on a local OpenAI-compatible server.

Each test runs ``execute_agent_subprocess`` on a project agent that says
``backend: openai``, with the ``openai_base_url`` setting pointing at a fake
Chat Completions API on 127.0.0.1 (the real ``openai`` SDK talks to it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llm_support import PID_COMMAND, bash_facts, handler_for, report_of, run_agent
from llm_support import write_llm_agent as write_agent

from fakes.openai_api import (
    FakeChatCompletionsAPI,
    Scripted,
    api_error,
    completion,
    function_call,
    never_answers,
    overloaded,
    rate_limited,
    tool_messages,
)

APP = "def add(a, b):\n    return a - b\n"


def _env(fake: FakeChatCompletionsAPI, **more: str) -> dict[str, str]:
    return {
        "CLAUDE_PM_OPENAI_BASE_URL": fake.base_url,
        "CLAUDE_PM_OPENAI_MODEL": "local-coder",
        **more,
    }


def test_an_agent_on_a_local_server_edits_what_it_may_and_nothing_outside(
    project: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the secret\n")
    (project / "app.py").write_text(APP)
    (project / "linked").symlink_to(outside, target_is_directory=True)
    write_agent(project, "fixer", "openai", tools=["Read", "Edit", "Bash"], model="sonnet")
    facts: dict[str, Any] = {}
    fix = {"file_path": "app.py", "old_string": "a - b", "new_string": "a + b"}
    away = {"old_string": "the secret", "new_string": "gone"}
    calls = [
        function_call("Edit", fix, "fix"),
        function_call("Edit", {**away, "file_path": str(outside / "secret.txt")}, "absolute"),
        function_call("Edit", {**away, "file_path": "linked/secret.txt"}, "link"),
        function_call("Edit", {**away, "file_path": "../outside/secret.txt"}, "dotdot"),
        function_call("Write", {"file_path": "new.py", "content": "x = 1\n"}, "write"),
        function_call("Bash", {"command": PID_COMMAND}, "bash"),
    ]

    def report(body: dict[str, Any]) -> Scripted:
        facts.update(bash_facts(tool_messages(body)["bash"]))
        return completion("Fixed add.\nTODO: app.py: add a test for add")

    script = [rate_limited(), overloaded(), completion(None, *calls), report]
    with FakeChatCompletionsAPI(script) as fake:
        result = run_agent(handler_for(project, **_env(fake)), "fixer")

    assert result["success"], result
    assert (result["backend"], result["model"], result["stop_reason"]) == (
        "openai",
        "local-test",
        "end_turn",
    )
    assert result["cost_usd"] is None  # a local model has no price unless the agent gives one
    assert result["usage"]["input_tokens"] == 200 and result["tickets_created_count"] == 1
    limits = result["rate_limits"]
    assert [e["kind"] for e in limits] == ["rate_limited", "overloaded"]
    assert limits[0]["retry_after_s"] == pytest.approx(0.005)
    request = fake.requests[2]
    assert request["model"] == "local-coder"  # "sonnet" is a Claude alias: the setting wins
    assert request["messages"][0]["role"] == "system"
    assert [t["function"]["name"] for t in request["tools"]] == [
        "Read",
        "Glob",
        "Grep",
        "Edit",
        "Bash",
    ]
    assert fake.headers[2]["authorization"] == "Bearer no-key"

    answers = tool_messages(fake.requests[3])
    assert answers["fix"].startswith("edited app.py: 1 replacement(s)")
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    for refused in ("absolute", "link", "dotdot", "write"):
        assert answers[refused].startswith("Error:"), answers[refused]
    assert "symbolic link" in answers["link"]
    assert "not allowed" in answers["write"]
    assert (outside / "secret.txt").read_text() == "the secret\n"
    assert not (project / "new.py").exists()
    assert facts == {"parent_is_the_agent": True, "parent_is_ours": True, "shell_gone": True}


def test_a_dollar_budget_stops_the_loop_and_needs_a_price(project: Path) -> None:
    (project / "app.py").write_text(APP)
    edit = function_call(
        "Edit", {"file_path": "app.py", "old_string": "a - b", "new_string": "a + b"}
    )
    write_agent(project, "fixer", "openai", model="local-coder")
    with FakeChatCompletionsAPI([completion("unused")]) as fake:
        env = _env(fake, CLAUDE_PM_RUN_BUDGET_USD="0.0001")
        refused = run_agent(handler_for(project, **env), "fixer")
        assert fake.requests == []
    assert refused["exit_code"] == 78 and refused["stop_reason"] == "configuration_error"
    assert report_of(refused)["error_kind"] == "configuration"
    assert "backend_options.price" in refused["error"]

    price = {"input": 1.0, "output": 1.0}
    write_agent(project, "fixer", "openai", model="local-coder", backend_options={"price": price})
    with FakeChatCompletionsAPI([completion("Fixing.", edit), completion("unused")]) as fake:
        result = run_agent(
            handler_for(project, **_env(fake, CLAUDE_PM_RUN_BUDGET_USD="0.0001")), "fixer"
        )
        assert len(fake.requests) == 1
    assert result["stop_reason"] == "budget_usd" and result["exit_code"] == 3
    assert result["cost_usd"] == pytest.approx(120 / 1_000_000)
    assert "1 requested tool call(s) not run" in result["error"]
    assert (project / "app.py").read_text() == APP


@pytest.mark.parametrize(
    ("fields", "settings", "says"),
    [
        (
            {"model": "sonnet"},
            {"CLAUDE_PM_OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
            "openai_model",
        ),
        ({"model": "local-coder"}, {}, "openai_base_url"),
    ],
    ids=["no model", "no endpoint"],
)
def test_a_missing_model_or_endpoint_stops_the_run_before_any_request(
    project: Path, fields: dict[str, str], settings: dict[str, str], says: str
) -> None:
    write_agent(project, "fixer", "openai", **fields)
    result = run_agent(handler_for(project, **settings), "fixer")
    assert result["exit_code"] == 78 and result["stop_reason"] == "configuration_error"
    assert says in result["error"]
    assert "no model to ask for" in result["error"] or "no endpoint" in result["error"]


def test_a_401_fails_at_once_with_error_kind_authentication(project: Path) -> None:
    write_agent(project, "fixer", "openai")
    refused = api_error(401, "invalid_request_error", "Incorrect API key provided.")
    with FakeChatCompletionsAPI([refused, completion("never sent")]) as fake:
        env = _env(fake, OPENAI_API_KEY="sk-wrong")
        result = run_agent(handler_for(project, **env), "fixer")
        assert len(fake.requests) == 1
        assert fake.headers[0]["authorization"] == "Bearer sk-wrong"
    assert result["error_kind"] == "authentication" and result["exit_code"] == 77
    assert "OPENAI_API_KEY" in result["error"]


def test_overloaded_until_the_retries_run_out_is_reported_as_overloaded(project: Path) -> None:
    write_agent(project, "fixer", "openai", backend_options={"max_retries": 1})
    with FakeChatCompletionsAPI([overloaded(), overloaded()]) as fake:
        result = run_agent(handler_for(project, **_env(fake)), "fixer")
        assert len(fake.requests) == 2
    report = report_of(result)
    assert report["error_kind"] == "overloaded" and result["exit_code"] == 69
    assert [e["kind"] for e in report["rate_limits"]] == ["overloaded", "overloaded"]
    assert "final answer, after 1 retries" in report["rate_limits"][-1]["message"]


def test_a_server_that_never_answers_is_ended_by_the_run_timeout(project: Path) -> None:
    write_agent(project, "fixer", "openai", backend_options={"max_retries": 0})
    with FakeChatCompletionsAPI([never_answers()]) as fake:
        result = run_agent(handler_for(project, **_env(fake)), "fixer", timeout=10)
        assert len(fake.requests) == 1, "the agent never reached the model"
    assert result["status"] == "timeout"
    report = report_of(result)
    assert report["stop_reason"] == "cancelled" and "SIGTERM" in report["error"]
    assert report["backend"] == "openai" and report["model"] == "local-coder"
