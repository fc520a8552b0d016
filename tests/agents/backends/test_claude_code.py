"""The claude-code backend: any agent definition as a headless Claude Code session.

Three kinds of test. The command a definition becomes and the backend's
option checks are pure functions. A stand-in ``claude`` (:mod:`fakes.claude_cli`,
selected with ``CLAUDE_PM_CLAUDE_PATH``) replays recorded sessions and then
misbehaves (lingers after its result, ignores SIGTERM, goes silent), driven
through ``execute_agent_subprocess`` like any run. The real CLI bundled in
``claude-agent-sdk`` (marked ``slow`` and ``claude_code``) runs against the
fake Messages API on loopback, which doubles as its HTTPS proxy so nothing
leaves the machine. Every test proves no process is left (``conftest.py``).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from claude_pm import ClaudeToolHandler
from claude_pm.agents.backends import claude_code as cc
from claude_pm.agents.backends.claude_code_session import STREAM_FILENAME
from claude_pm.agents.handoff import AgentSpec, BackendReport
from claude_pm.config import load_settings
from fakes.claude_cli import STREAMS, install
from fakes.claude_code_api import FakeClaudeCodeAPI, Turn, offers, result_text, tool_results
from fakes.messages_api import Scripted, message, rate_limited, text, tool_use

CLI = "/opt/claude"
SESSION = "7f0c2a4e-8a31-4a55-9a43-2d1f6c0b9e11"


def _front_matter(fields: dict[str, Any]) -> str:
    return "".join(f"{key}: {json.dumps(value)}\n" for key, value in fields.items())


def write_claude_agent(project: Path, name: str, body: str = "You review.", **fields: Any) -> Path:
    """A project agent on the claude-code backend (front-matter values as JSON, which is YAML)."""
    agents = project / ".claude" / "agents"
    agents.mkdir(parents=True, exist_ok=True)
    path = agents / f"{name}.md"
    front = {"name": name, "description": f"{name} test agent", "backend": "claude-code", **fields}
    path.write_text(f"---\n{_front_matter(front)}---\n{body}\n", encoding="utf-8")
    return path


def handler_for(project: Path, **environ: str) -> ClaudeToolHandler:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project.parent / "home"), **environ}
    return ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))


def execute(handler: ClaudeToolHandler, agent: str, task: str = "Review it.", **params: Any) -> Any:
    result = handler.handle_tool_call(
        "execute_agent_subprocess",
        {"agent_type": agent, "task_description": task, "timeout": 60, **params},
    )
    json.dumps(result)
    return result


def report_of(result: dict[str, Any]) -> BackendReport:
    report = BackendReport.read(str(Path(result["log_paths"]["run_dir"]) / "result.json"))
    assert report is not None, result
    return report


def recorded(record: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(record.read_text(encoding="utf-8"))
    return data


def fake_clis_running() -> list[int]:
    """Stand-in CLIs still running under this test (pids, as the host sees them)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(arg.endswith("claude_cli.py") for arg in proc.cmdline()):
                found.append(proc.pid)
    return found


def fake_claude(project: Path, **kwargs: Any) -> tuple[Path, Path]:
    """The stand-in CLI and its record, inside the project: a sandboxed agent may write there."""
    return install(project / ".fake-claude", **kwargs)


# -- the command a definition becomes (pure) ----------------------------------------------


def spec(**fields: Any) -> AgentSpec:
    claude_code = fields.pop("claude_code", {})
    return AgentSpec(name="reviewer", agent_type="reviewer", claude_code=claude_code, **fields)


def test_the_argv_carries_every_mapped_field_of_the_definition() -> None:
    agent = spec(
        system_prompt="You review code.",
        tools=("Read", "Grep", "Bash(git diff *)", "mcp__github__get_issue"),
        model="sonnet",
        claude_code={
            "disallowedTools": "WebFetch, Bash(rm *)",
            "maxTurns": 12,
            "effort": "high",
            "permissionMode": "acceptEdits",
        },
    )
    invocation = cc.build_argv(
        CLI, agent, session_id=SESSION, model_setting="opus", budget_usd=0.5, extra_args=["--bare"]
    )
    assert invocation.argv == (
        CLI,
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--input-format",
        "text",
        "--session-id",
        SESSION,
        "--append-system-prompt",
        "You review code.",
        "--tools",
        "Read,Grep,Bash",
        "--allowedTools",
        "Read",
        "Grep",
        "Bash(git diff *)",
        "mcp__github__get_issue",
        "--disallowedTools",
        "WebFetch",
        "Bash(rm *)",
        "--model",
        "sonnet",
        "--max-turns",
        "12",
        "--effort",
        "high",
        "--max-budget-usd",
        "0.5",
        "--permission-mode",
        "acceptEdits",
        "--bare",
    )
    assert invocation.model == "sonnet" and invocation.permission_mode == "acceptEdits"
    assert invocation.notes == ()


@pytest.mark.parametrize(
    ("fields", "setting", "present", "absent"),
    [
        pytest.param({"model": "inherit"}, "opus", ["--model", "opus"], [], id="inherit-setting"),
        pytest.param({"model": "inherit"}, None, [], ["--model"], id="inherit-no-setting"),
        pytest.param({}, None, [], ["--tools", "--allowedTools", "--model"], id="no-tools-field"),
        pytest.param({"tools": ()}, None, ["--tools", ""], ["--allowedTools"], id="no-tools"),
        pytest.param(
            {"system_prompt": "- a list first"},
            None,
            ["--append-system-prompt=- a list first"],
            [],
            id="dash-body-as-one-arg",
        ),
        pytest.param({"system_prompt": "  \n"}, None, [], ["--append-system-prompt"], id="no-body"),
        pytest.param(
            {}, None, ["--permission-mode", "default"], [], id="no-mode-is-default-not-settings"
        ),
    ],
)
def test_fields_that_are_absent_or_inherited_pass_nothing(
    fields: dict[str, Any], setting: str | None, present: list[str], absent: list[str]
) -> None:
    argv = list(cc.build_argv(CLI, spec(**fields), session_id=SESSION, model_setting=setting).argv)
    joined = "\0".join(argv)
    assert "\0".join(present) in joined
    for flag in absent:
        assert flag not in argv


def test_bypass_permissions_needs_both_the_definition_and_the_operator() -> None:
    agent = spec(claude_code={"permissionMode": "bypassPermissions"})
    refused = cc.build_argv(CLI, agent, session_id=SESSION)
    assert refused.argv[-2:] == ("--permission-mode", "dontAsk")
    assert "bypassPermissions" not in refused.argv and refused.permission_mode == "dontAsk"
    assert "allow_bypass_permissions" in refused.notes[0]
    allowed = cc.build_argv(CLI, agent, session_id=SESSION, allow_bypass=True)
    assert allowed.argv[-2:] == ("--permission-mode", "bypassPermissions")
    assert allowed.notes == ()
    for invocation in (refused, allowed):
        assert not any("skip-permissions" in arg for arg in invocation.argv)


def test_a_malformed_field_is_an_error_that_names_it() -> None:
    with pytest.raises(ValueError, match="maxTurns must be a positive integer"):
        cc.build_argv(CLI, spec(claude_code={"maxTurns": "ten"}), session_id=SESSION)
    with pytest.raises(ValueError, match="disallowedTools must be"):
        cc.build_argv(CLI, spec(claude_code={"disallowedTools": 3}), session_id=SESSION)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        pytest.param({}, None, id="none"),
        pytest.param({"idle_timeout": 30, "extra_args": ["--effort=low", "--bare"]}, None, id="ok"),
        pytest.param({"extra_args": ["--fallback-model", "haiku"]}, None, id="value-as-next-item"),
        pytest.param({"idle_timeout": 0}, "idle_timeout must be a number of seconds", id="idle-0"),
        pytest.param({"idle_timeout": "1m"}, "idle_timeout must be", id="idle-text"),
        pytest.param({"timeout": 5}, "unknown backend_options 'timeout'", id="unknown"),
        pytest.param(
            {"extra_args": ["--dangerously-skip-permissions"]},
            "'--dangerously-skip-permissions' is not a flag claude-pm passes",
            id="skip-permissions",
        ),
        pytest.param(
            {"extra_args": ["--permission-mode", "bypassPermissions"]},
            "'--permission-mode' is not a flag",
            id="permission-mode",
        ),
        pytest.param({"extra_args": ["--effort"]}, "--effort needs a value", id="no-value"),
        pytest.param({"extra_args": ["--bare=yes"]}, "--bare takes no value", id="extra-value"),
        pytest.param({"extra_args": "--bare"}, "must be a list of strings", id="not-a-list"),
    ],
)
def test_check_options_says_what_to_fix(options: dict[str, Any], problem: str | None) -> None:
    problems = cc.check_options(options)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0], problems


def test_a_definition_with_bad_options_does_not_load(project: Path) -> None:
    path = write_claude_agent(project, "risky", backend_options={"extra_args": ["--add-dir", "/"]})
    handler = handler_for(project)
    assert execute(handler, "risky")["error_type"] == "AgentNotFound"
    [problem] = handler.handle_tool_call("discover_available_agents", {})["problems"]
    assert problem["path"] == str(path) and problem["field"] == "backend_options"
    assert "'--add-dir' is not a flag claude-pm passes" in problem["message"]


def test_the_cli_is_the_setting_else_claude_on_path_else_the_bundled_one(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    on_path = bin_dir / "claude"
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    other = bin_dir / "claude-nightly"
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    assert cc.find_cli(str(other), str(bin_dir)) == str(other)
    assert cc.find_cli("claude-nightly", str(bin_dir)) == str(other)
    assert cc.find_cli(None, str(bin_dir)) == str(on_path)
    assert cc.find_cli(str(tmp_path / "missing"), str(bin_dir)) is None
    bundled = cc.bundled_cli()
    assert cc.find_cli(None, str(tmp_path / "empty")) == bundled
    if bundled is not None:  # found without importing the SDK: see the next test
        assert Path(bundled).parent.name == "_bundled"


def test_the_backend_imports_no_sdk_and_nothing_heavy() -> None:
    code = (
        "import sys; import claude_pm.agents.backends.claude_code as cc; "
        "import claude_pm.agents.backends.claude_code_session; cc.bundled_cli(); "
        "heavy = [m for m in ('claude_agent_sdk', 'anthropic', 'mcp', 'pydantic', 'yaml', "
        "'psutil', 'claude_pm.tools', 'claude_pm.agents.registry') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- sessions replayed by a stand-in CLI --------------------------------------------------


def test_a_session_reports_its_model_usage_cost_and_session_and_files_its_todo(
    project: Path, tmp_path: Path
) -> None:
    write_claude_agent(project, "reader", tools=["Read", "Grep"], model="sonnet", maxTurns=4)
    wrapper, record = fake_claude(project, stream="success.jsonl")
    handler = handler_for(
        project,
        CLAUDE_PM_CLAUDE_PATH=str(wrapper),
        ANTHROPIC_API_KEY="test-key-not-a-secret",
        CLAUDE_CODE_MAX_RETRIES="1",
        CLAUDECODE="1",
        CLAUDE_CODE_ENTRYPOINT="cli",
        CLAUDE_CODE_SSE_PORT="41234",
        UNRELATED_SECRET="never-passed",
    )
    result = execute(handler, "reader", "Read the notes.", context={"user_requirements": "brief"})

    assert result["success"] is True and result["exit_code"] == 0, result
    assert result["output"] == "The notes name a pelican.\nTODO: rename the pelican\n"
    assert result["backend"] == "claude-code" and result["model"] == "claude-sonnet-5-5"
    assert result["usage"] == {
        "input_tokens": 200,
        "output_tokens": 50,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    assert result["cost_usd"] == pytest.approx(0.0009) and result["turns"] == 2
    assert result["stop_reason"] == "completed" and result["tickets_created"] == ["PM-1"]
    fake = recorded(record)
    session_id = fake["argv"][fake["argv"].index("--session-id") + 1]
    assert result["session_id"] == session_id == str(uuid.UUID(session_id))
    assert fake["argv"][-6:] == [
        "--model",
        "sonnet",
        "--max-turns",
        "4",
        "--permission-mode",
        "default",
    ]
    assert fake["stdin"].startswith("Read the notes.\n\n<claude-pm-context>\n")
    assert '"user_requirements": "brief"' in fake["stdin"]
    assert fake["cwd"] == str(project.resolve())
    env = fake["env"]
    assert env["ANTHROPIC_API_KEY"] == "test-key-not-a-secret"
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "1" and env["HOME"] == str(tmp_path / "home")
    for name in ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "CLAUDE_CODE_SSE_PORT"):
        assert name not in env, "a nested-session variable reached the CLI"
    assert "UNRELATED_SECRET" not in env
    run_dir = Path(result["log_paths"]["run_dir"])
    stream = (run_dir / STREAM_FILENAME).read_text(encoding="utf-8")
    assert stream == (STREAMS / "success.jsonl").read_text(encoding="utf-8").replace(
        "{session_id}", session_id
    ).replace("{cwd}", str(project.resolve()))


@pytest.mark.slow
def test_a_cli_that_lingers_after_its_result_and_ignores_sigterm_does_not_hold_the_run(
    project: Path, tmp_path: Path
) -> None:
    write_claude_agent(project, "reader", tools=["Read"])
    wrapper, _ = fake_claude(project, stream="success.jsonl", then="deaf")
    result = execute(handler_for(project, CLAUDE_PM_CLAUDE_PATH=str(wrapper)), "reader")

    assert result["success"] is True and result["exit_code"] == 0, result
    assert "TODO: rename the pelican" in result["output"]
    assert "still running 2 s after its result" in result["errors"]
    assert result["stop_reason"] == "completed"
    assert result["execution_time_seconds"] < 30  # the run's timeout (60 s) did not end it
    assert fake_clis_running() == [], "the run returned with its CLI still alive"


def test_an_api_error_that_says_success_is_a_failed_run_with_the_error(
    project: Path, tmp_path: Path
) -> None:
    write_claude_agent(project, "reader", tools=["Read"])
    wrapper, _ = fake_claude(project, stream="api_error.jsonl", exit_code=1)
    result = execute(handler_for(project, CLAUDE_PM_CLAUDE_PATH=str(wrapper)), "reader")

    assert result["success"] is False and result["exit_code"] == 1
    assert result["output"] == "" and result["tickets_created"] == []
    assert "API Error: 500 Internal server error" in result["error"]
    assert result["stop_reason"] == "api_error"
    report = report_of(result)
    assert report.error_kind == "api_error" and "HTTP 500" in (report.error or "")
    assert report.rate_limits == ()


def test_a_rate_limited_session_reports_every_limit_and_its_kind(
    project: Path, tmp_path: Path
) -> None:
    write_claude_agent(project, "reader", tools=["Read"])
    wrapper, _ = fake_claude(project, stream="rate_limited.jsonl", exit_code=1)
    result = execute(handler_for(project, CLAUDE_PM_CLAUDE_PATH=str(wrapper)), "reader")

    assert result["success"] is False and "429" in result["error"]
    report = report_of(result)
    assert report.error_kind == "rate_limited"
    window, retry, final = report.rate_limits
    assert window.kind == "rate_limited" and window.reset_at == 4102444800
    assert window.message == "five_hour limit rejected, 100% used"
    assert retry.kind == "rate_limited" and retry.retry_after_s == pytest.approx(0.603)
    assert retry.reset_at is None and "HTTP 429" in (retry.message or "")
    assert final.kind == "rate_limited" and "HTTP 429, final" in (final.message or "")
    assert window.at <= retry.at <= final.at


def test_the_idle_watchdog_ends_a_silent_cli(project: Path, tmp_path: Path) -> None:
    silent = tmp_path / "init-only.jsonl"
    silent.write_text((STREAMS / "success.jsonl").read_text().splitlines()[0] + "\n")
    write_claude_agent(project, "reader", backend_options={"idle_timeout": 1})
    wrapper, _ = fake_claude(project, stream=silent, then="linger")
    result = execute(handler_for(project, CLAUDE_PM_CLAUDE_PATH=str(wrapper)), "reader")

    assert result["success"] is False and result["exit_code"] == 1
    assert result["status"] == "failed"  # ended by the watchdog, not by the run's timeout
    assert "wrote no event for 1 s" in result["error"]
    report = report_of(result)
    assert report.error_kind == "idle_timeout" and report.stop_reason == "idle_timeout"
    assert report.model == "claude-sonnet-5-5" and report.turns is None
    assert fake_clis_running() == [], "the run returned with its CLI still alive"


def test_bypass_permissions_asked_for_but_not_enabled_is_not_passed(
    project: Path, tmp_path: Path
) -> None:
    write_claude_agent(project, "root", tools=["Bash"], permissionMode="bypassPermissions")
    wrapper, record = fake_claude(project, stream="success.jsonl")
    result = execute(handler_for(project, CLAUDE_PM_CLAUDE_PATH=str(wrapper)), "root")

    assert result["success"] is True, result
    argv = recorded(record)["argv"]
    assert argv[-2:] == ["--permission-mode", "dontAsk"]
    assert not any("bypass" in a.lower() or "skip-permissions" in a for a in argv)
    assert "does not allow" in result["errors"] and "dontAsk" in result["errors"]

    enabled = handler_for(
        project, CLAUDE_PM_CLAUDE_PATH=str(wrapper), CLAUDE_PM_ALLOW_BYPASS_PERMISSIONS="true"
    )
    assert execute(enabled, "root")["success"] is True
    argv = recorded(record)["argv"]
    assert argv[-2:] == ["--permission-mode", "bypassPermissions"]
    assert not any("skip-permissions" in a for a in argv)


def test_follow_up_turns_after_a_background_task_are_read_to_the_last_result(
    project: Path, tmp_path: Path
) -> None:
    write_claude_agent(project, "reader", tools=["Bash"])
    wrapper, _ = fake_claude(project, stream="background.jsonl")
    result = execute(handler_for(project, CLAUDE_PM_CLAUDE_PATH=str(wrapper)), "reader")

    assert result["success"] is True, result
    assert result["output"] == (
        "Started the check in the background.\nTODO: read its output\n\n"
        "The background check finished.\n"
    )
    assert result["turns"] == 3 and result["usage"]["input_tokens"] == 300
    assert result["cost_usd"] == pytest.approx(0.0012)  # the session's total, not a sum


def test_a_cli_that_dies_before_its_result_passes_on_its_exit_code(
    project: Path, tmp_path: Path
) -> None:
    write_claude_agent(project, "reader")
    wrapper, _ = fake_claude(project, exit_code=3)
    result = execute(handler_for(project, CLAUDE_PM_CLAUDE_PATH=str(wrapper)), "reader")
    assert result["success"] is False and result["exit_code"] == 3
    assert "Claude Code exited with code 3 before its result" in result["error"]


def test_a_missing_cli_is_an_error_that_says_how_to_fix_it(project: Path, tmp_path: Path) -> None:
    write_claude_agent(project, "reader")
    missing = tmp_path / "no-such-claude"
    result = execute(handler_for(project, CLAUDE_PM_CLAUDE_PATH=str(missing)), "reader")
    assert result["success"] is False and result["exit_code"] == 127
    assert "CLAUDE_PM_CLAUDE_PATH" in result["error"] and str(missing) in result["error"]
    assert report_of(result).backend == "claude-code"


def test_a_long_system_prompt_travels_in_a_file(project: Path, tmp_path: Path) -> None:
    body = "Review every module carefully.\n" * 4000
    write_claude_agent(project, "verbose", body=body)
    wrapper, record = fake_claude(project, stream="success.jsonl")
    assert execute(handler_for(project, CLAUDE_PM_CLAUDE_PATH=str(wrapper)), "verbose")["success"]
    argv = recorded(record)["argv"]
    assert "--append-system-prompt" not in argv
    prompt_file = Path(argv[argv.index("--append-system-prompt-file") + 1])
    assert prompt_file.read_text(encoding="utf-8") == body.strip()
    assert max(len(a) for a in argv) < 4096


@pytest.mark.slow
@pytest.mark.xfail(
    strict=False,
    reason="known race (about 1 run in 3): the supervisor's freeze + KILL can land while the "
    "backend is writing result.json after its own TERM to a deaf CLI (result.json.tmp left "
    "empty); see the closing note of the backends issue",
)
def test_the_run_timeout_stops_a_session_and_its_report_is_written(
    project: Path, tmp_path: Path
) -> None:
    silent = tmp_path / "init-only.jsonl"
    silent.write_text((STREAMS / "success.jsonl").read_text().splitlines()[0] + "\n")
    write_claude_agent(project, "reader")
    wrapper, _ = fake_claude(project, stream=silent, then="deaf")
    handler = handler_for(project, CLAUDE_PM_CLAUDE_PATH=str(wrapper))
    # Long enough for the backend to be running its session when the timeout strikes,
    # even on a loaded machine (the interpreter's start alone can take seconds then).
    result = execute(handler, "reader", timeout=8)

    assert result["status"] == "timeout" and result["success"] is False
    report = report_of(result)
    assert report.stop_reason == "stopped" and "SIGTERM" in (report.error or "")
    assert report.session_id == result["session_id"] and report.model == "claude-sonnet-5-5"
    assert fake_clis_running() == [], "the run returned with its CLI still alive"


# -- the real CLI against the fake Messages API -------------------------------------------


@pytest.fixture
def bundled_cli() -> Path:
    cli = cc.bundled_cli()
    if cli is None:
        pytest.skip("claude-agent-sdk (which bundles the Claude Code CLI) is not installed")
    return Path(cli)


#: What a real session needs besides the allowlist: the fake is also the proxy, so any
#: attempt to leave loopback reaches it and is refused.
OFFLINE_ENV = [
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "DISABLE_AUTOUPDATER",
    "DISABLE_TELEMETRY",
    "DISABLE_ERROR_REPORTING",
]


def real_handler(
    project: Path, cli: Path, fake: FakeClaudeCodeAPI, **env: str
) -> ClaudeToolHandler:
    scratch = project.parent / "tmp"
    scratch.mkdir(exist_ok=True)
    return handler_for(
        project,
        CLAUDE_PM_CLAUDE_PATH=str(cli),
        TMPDIR=str(scratch),
        LANG="C.UTF-8",
        ANTHROPIC_BASE_URL=fake.url,
        ANTHROPIC_API_KEY="test-key-not-a-secret",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
        HTTPS_PROXY=fake.url,
        HTTP_PROXY=fake.url,
        NO_PROXY="127.0.0.1,localhost",
        **env,
    )


@pytest.mark.slow
@pytest.mark.claude_code
def test_the_real_cli_uses_a_granted_tool_and_its_todo_becomes_a_ticket(
    project: Path, bundled_cli: Path
) -> None:
    settings = project.parent / "home" / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"permissions": {"defaultMode": "bypassPermissions"}}')
    notes = project / "docs" / "release.md"
    notes.parent.mkdir()
    notes.write_text("The signing key expires in March.\n", encoding="utf-8")
    write_claude_agent(
        project,
        "release-reviewer",
        body="You review release notes and list the open work as TODO lines.",
        tools=["Read", "Grep"],
        model="claude-sonnet-5-5",
        env=OFFLINE_ENV,
    )

    def report(request: dict[str, Any]) -> Scripted:
        [read] = tool_results(request)
        line = result_text(read).splitlines()[0].split("\t", 1)[-1].strip()
        return message(text(f"Read: {line}\nTODO: renew the signing key before March"))

    turns: list[Turn] = [message(tool_use("Read", {"file_path": str(notes)})), report]
    with FakeClaudeCodeAPI(turns, main=offers("Read")) as fake:
        handler = real_handler(project, bundled_cli, fake)
        result = execute(handler, "release-reviewer", "Review docs/release.md.")

    assert result["success"] is True, result
    assert fake.unexpected == 0 and fake.other_paths == [], "nothing may leave loopback"
    first = fake.main_request(0)
    assert first["model"] == "claude-sonnet-5-5"
    assert {t["name"] for t in first["tools"]} >= {"Read", "Grep"}
    assert "Bash" not in {t["name"] for t in first["tools"]}
    assert "You review release notes" in json.dumps(first["system"])
    assert "Review docs/release.md." in json.dumps(first["messages"])
    [read] = tool_results(fake.main_request(1))
    assert not read.get("is_error"), "--allowedTools let the headless session read"
    assert "The signing key expires in March." in result_text(read)
    assert result["output"] == (
        "Read: The signing key expires in March.\nTODO: renew the signing key before March\n"
    )
    assert result["tickets_created"] == ["PM-1"]
    assert result["backend"] == "claude-code" and result["model"] == "claude-sonnet-5-5"
    assert result["usage"]["input_tokens"] == 200 and result["usage"]["output_tokens"] == 40
    assert result["cost_usd"] > 0 and result["turns"] == 2
    assert result["stop_reason"] == "completed"
    stream = Path(result["log_paths"]["run_dir"]) / STREAM_FILENAME
    events = [json.loads(line) for line in stream.read_text(encoding="utf-8").splitlines()]
    assert events[0]["type"] == "system" and events[0]["subtype"] == "init"
    assert events[0]["permissionMode"] == "default", "the user's bypass default was overridden"
    assert events[-1]["type"] == "result" and events[-1]["session_id"] == result["session_id"]


@pytest.mark.slow
@pytest.mark.claude_code
def test_the_real_cli_rate_limited_to_the_end_is_a_rate_limited_failure(
    project: Path, bundled_cli: Path
) -> None:
    write_claude_agent(project, "reader", tools=["Read"], env=OFFLINE_ENV)
    with FakeClaudeCodeAPI([rate_limited(5)], main=offers("Read")) as fake:
        handler = real_handler(project, bundled_cli, fake, CLAUDE_CODE_MAX_RETRIES="1")
        result = execute(handler, "reader")

    assert result["success"] is False and result["exit_code"] == 1, result
    assert fake.other_paths == []
    assert "429" in result["error"] and result["stop_reason"] == "api_error"
    report = report_of(result)
    assert report.error_kind == "rate_limited"
    retry, final = report.rate_limits  # the CLI's one retry, then the 429 that ended it
    assert retry.kind == final.kind == "rate_limited"
    assert (retry.retry_after_s or 0) > 0 and "Claude Code retries" in (retry.message or "")
    assert "HTTP 429, final" in (final.message or "")
