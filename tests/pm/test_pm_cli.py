"""``claude-pm pm`` as a real process, against fake Anthropic and OpenAI-compatible APIs."""

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

import psutil
import pytest

from claude_pm.cli import main
from fakes.messages_api import FakeMessagesAPI, api_error, message, text, tool_use
from fakes.openai_api import FakeChatCompletionsAPI, completion, function_call

#: Environment variables that would change which endpoint or key a test run uses.
_AMBIENT = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "CLAUDE_PM_MODEL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "CLAUDE_PM_OPENAI_BASE_URL",
    "CLAUDE_PM_OPENAI_MODEL",
)


@pytest.fixture
def fake() -> Iterator[FakeMessagesAPI]:
    with FakeMessagesAPI() as api:
        yield api


@pytest.fixture
def fake_openai() -> Iterator[FakeChatCompletionsAPI]:
    with FakeChatCompletionsAPI() as api:
        yield api


@pytest.fixture(autouse=True)
def no_ambient_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _AMBIENT:
        monkeypatch.delenv(name, raising=False)


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in _AMBIENT}, **extra}


def _cli(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "pm", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _anthropic_env(fake: FakeMessagesAPI) -> dict[str, str]:
    return _env(
        ANTHROPIC_API_KEY="test", ANTHROPIC_BASE_URL=fake.url, CLAUDE_PM_MODEL="claude-test"
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
    done = _cli(project, _anthropic_env(fake), "Document the API")
    assert done.returncode == 0, done.stderr
    assert "-> create_tickets_from_output" in done.stdout
    assert "<- tickets: 1 found, 1 new, 0 already filed" in done.stdout
    assert "Filed the docs TODO." in done.stdout
    [run_dir] = (project / ".claude-pm" / "pm").iterdir()
    assert f"Transcript: {run_dir / 'transcript.txt'}" in done.stdout
    assert "Filed the docs TODO." in (run_dir / "transcript.txt").read_text()
    assert fake.requests[0]["model"] == "claude-test"
    sent = fake.headers[0]
    assert "test" in (sent.get("x-api-key"), sent.get("authorization", "").removeprefix("Bearer "))


def test_cli_exits_non_zero_on_an_api_error(fake: FakeMessagesAPI, project: Path) -> None:
    fake.add(api_error(401, "authentication_error", "invalid x-api-key"))
    done = _cli(project, _anthropic_env(fake), "anything", "--max-retries", "0", "--json")
    assert done.returncode == 1
    assert "invalid x-api-key" in done.stderr and "ANTHROPIC_API_KEY" in done.stderr
    assert json.loads(done.stdout)["stop_reason"] == "api_error"


def test_cli_exits_3_when_a_limit_stops_it(
    fake: FakeMessagesAPI,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in _anthropic_env(fake).items():
        monkeypatch.setenv(name, value)
    fake.add(message(tool_use("discover_available_agents", {})))
    argv = ["--project", str(project), "pm", "anything", "--max-turns", "1", "--json"]
    assert main(argv) == 3
    assert json.loads(capsys.readouterr().out)["stop_reason"] == "max_turns"


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--parallel", "0"], "--parallel must be at least 1"),
        (["--max-retries", "-1"], "--parallel must be at least 1"),
        (["--request-timeout", "0"], "--request-timeout must be above 0"),
        (["--max-turns", "0"], "max_turns must be at least 1"),
        (["--budget-usd", "1", "--model", "local-llama"], "No price is known for model"),
    ],
)
def test_nonsense_flags_are_bad_input(
    fake: FakeMessagesAPI,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    problem: str,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    assert main(["--project", str(project), "pm", "anything", *flags]) == 2
    assert problem in capsys.readouterr().err
    assert fake.requests == []


@pytest.mark.parametrize(
    ("flags", "environ", "problem"),
    [
        (["--provider", "anthropic"], {}, "set ANTHROPIC_API_KEY"),
        (
            ["--provider", "openai", "--base-url", "http://127.0.0.1:9/v1"],
            {},
            "CLAUDE_PM_OPENAI_MODEL",
        ),
        (["--provider", "openai", "--model", "gpt-4.1"], {}, "set OPENAI_API_KEY"),
    ],
)
def test_a_missing_setting_says_what_to_set(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    environ: dict[str, str],
    problem: str,
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(["--project", str(project), "pm", "anything", *flags]) == 2
    assert problem in capsys.readouterr().err


def test_the_help_says_what_each_provider_needs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["pm", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--provider {anthropic,openai}" in out
    for needed in ("ANTHROPIC_API_KEY", "CLAUDE_PM_OPENAI_BASE_URL", "CLAUDE_PM_OPENAI_MODEL"):
        assert needed in out
    assert "the placeholder key 'no-key' is sent" in out


#: An agent that reports a bug, so the run files a ticket through a real process.
REVIEWER = """
import sys
print("reviewed:", sys.stdin.read())
print("BUG: pager skips page 2")
"""


def test_cli_runs_a_real_agent_through_an_openai_compatible_server(
    fake_openai: FakeChatCompletionsAPI, project: Path, write_agent: Any
) -> None:
    write_agent("reviewer", REVIEWER, specializations=["review"])
    fake_openai.add(
        completion(
            "Asking the reviewer.",
            function_call(
                "execute_agent_subprocess",
                {"agent_type": "reviewer", "task_description": "review the pager"},
                "call_review",
            ),
        ),
        completion("The reviewer found a pager bug; it is filed."),
    )
    done = _cli(
        project,
        _env(),  # no OPENAI_API_KEY: a local server gets the placeholder
        "Review the pager",
        "--provider",
        "openai",
        "--base-url",
        fake_openai.base_url,
        "--model",
        "local-test",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["stop_reason"] == "end_turn" and result["model"] == "local-test"
    assert result["final_text"] == "The reviewer found a pager bug; it is filed."
    assert (result["turns"], result["tool_calls"], result["tool_errors"]) == (2, 1, 0)
    assert result["cost_usd"] is None  # a local model has no price
    [ticket] = result["tickets_created"]

    first, second = fake_openai.requests
    assert first["model"] == "local-test"
    assert first["messages"][0]["role"] == "system"
    assert (
        "- reviewer (custom): reviewer test agent [specializations: review]"
        in (first["messages"][0]["content"])
    )
    assert [t["function"]["name"] for t in first["tools"]] == [
        "execute_agent_subprocess",
        "discover_available_agents",
        "coordinate_multi_agent_workflow",
        "create_tickets_from_output",
    ]
    answer = second["messages"][-1]
    assert (answer["role"], answer["tool_call_id"]) == ("tool", "call_review")
    report = json.loads(answer["content"])
    assert report["status"] == "completed" and report["exit_code"] == 0
    assert "reviewed: review the pager" in report["output"]
    assert report["tickets_created"] == [ticket]
    assert fake_openai.headers[0]["authorization"] == "Bearer no-key"

    run_dir = Path(result["transcript_dir"])
    readable = (run_dir / "transcript.txt").read_text()
    assert "<- agent reviewer: completed (exit 0" in readable
    assert json.loads((run_dir / "result.json").read_text())["tickets_created"] == [ticket]


def test_cli_reads_the_openai_endpoint_and_model_from_the_environment(
    fake_openai: FakeChatCompletionsAPI,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_openai.add(completion("Nothing to do."))
    monkeypatch.setenv("CLAUDE_PM_OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("CLAUDE_PM_OPENAI_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    assert main(["--project", str(project), "pm", "Anything?", "--provider", "openai"]) == 0
    assert "Nothing to do." in capsys.readouterr().out
    assert fake_openai.requests[0]["model"] == "env-model"
    assert fake_openai.headers[0]["authorization"] == "Bearer sk-local"


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
    proc = subprocess.Popen(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "pm", "wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_anthropic_env(fake),
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
    assert saved["stop_reason"] == "cancelled" and saved["message"] == "interrupted"
    assert "-> execute_agent_subprocess" in out
