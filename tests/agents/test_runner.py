"""execute_agent_subprocess end to end: real registry, executor, processes and SQLite."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from claude_pm import ClaudeToolHandler
from claude_pm.config import load_settings

PRINT_HANDOFF = """
import json, os, sys
handoff = json.load(open(os.environ["CLAUDE_PM_CONTEXT_FILE"], encoding="utf-8"))
task = sys.stdin.read()
print(json.dumps({
    "task_len": len(task),
    "task_head": task[:40],
    "context_keys": sorted(handoff["context"]),
    "context": {k: v for k, v in handoff["context"].items() if k != "blob"},
    "blob_len": len(handoff["context"].get("blob", "")),
    "env": sorted(os.environ),
    "inline": os.environ.get("CLAUDE_PM_CONTEXT"),
    "cwd": os.getcwd(),
}))
"""


def handler_for(project: Path, **environ: str) -> ClaudeToolHandler:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project), **environ}
    return ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))


def run(handler: ClaudeToolHandler, agent: str, task: str = "do it", **params: Any) -> Any:
    return handler.handle_tool_call(
        "execute_agent_subprocess", {"agent_type": agent, "task_description": task, **params}
    )


def payload(result: dict[str, Any]) -> dict[str, Any]:
    assert result["success"], result
    data: dict[str, Any] = json.loads(result["output"])
    return data


def test_completed_run_reports_reference_fields_and_measurements(project, write_agent):
    write_agent("echoer", PRINT_HANDOFF)
    result = run(handler_for(project), "echoer", "summarise the repo")
    data = payload(result)
    assert data["task_head"] == "summarise the repo"
    assert data["cwd"] == str(project.resolve())
    for key in (
        "success",
        "agent_type",
        "task_description",
        "output",
        "errors",
        "execution_time_seconds",
        "memory_usage",
        "tickets_created",
        "exit_code",
    ):
        assert key in result
    assert result["status"] == "completed"
    assert result["exit_code"] == 0
    assert result["memory_usage"]["peak_rss_bytes"] > 0
    assert result["enforcement"] in {"cgroup_v2", "cgroup_v1", "rlimit", "sampling"}
    assert Path(result["log_paths"]["stdout"]).read_text().strip() == result["output"].strip()
    assert result["agent"]["tier"] == "project"


def test_run_is_recorded_in_sqlite(project, write_agent):
    write_agent("echoer", "print('hello')")
    result = run(handler_for(project), "echoer")
    db = project / ".claude-pm" / "state.db"
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT agent_type, task, status, exit_code, peak_rss_bytes, stdout_path"
            " FROM runs WHERE run_id = ?",
            (result["run_id"],),
        ).fetchone()
    assert row[:4] == ("echoer", "do it", "completed", 0)
    assert row[4] > 0
    assert row[5] == result["log_paths"]["stdout"]


def test_context_is_filtered_by_the_agents_context_keys(project, write_agent):
    write_agent("auditor", PRINT_HANDOFF, context_keys=["security_config", "file_paths"])
    (project / "app.py").write_text("x = 1\n")
    context = {
        "project_root": str(project),
        "security_config": {"level": "strict"},
        "test_config": {"runner": "pytest"},
        "coverage_data": [1, 2],
        "user_requirements": "focus on auth",
        "file_paths": ["app.py"],
    }
    data = payload(run(handler_for(project), "auditor", context=context))
    assert data["context_keys"] == [
        "file_paths",
        "project_root",
        "security_config",
        "user_requirements",
    ]
    assert data["context"]["file_paths"] == [str((project / "app.py").resolve())]


def test_environment_is_an_allowlist_plus_markers(project, write_agent):
    write_agent("plain", PRINT_HANDOFF)
    write_agent("aws", PRINT_HANDOFF, env=["AWS_SECRET_ACCESS_KEY"])
    handler = handler_for(project, AWS_SECRET_ACCESS_KEY="s3cr3t", LC_ALL="C.UTF-8")
    plain = payload(run(handler, "plain"))
    assert "AWS_SECRET_ACCESS_KEY" not in plain["env"]
    assert "LC_ALL" in plain["env"]
    for marker in (
        "CLAUDE_PM_ORCHESTRATED",
        "CLAUDE_PM_SESSION_ID",
        "CLAUDE_PM_FRAMEWORK_VERSION",
        "CLAUDE_PM_PROJECT_ROOT",
        "CLAUDE_PM_LOG_LEVEL",
        "CLAUDE_PM_TICKET_AUTO_CREATE",
        "CLAUDE_PM_CONTEXT_FILE",
    ):
        assert marker in plain["env"]
    assert "AWS_SECRET_ACCESS_KEY" in payload(run(handler, "aws"))["env"]


def test_small_context_is_also_inline_base64(project, write_agent):
    write_agent("echoer", PRINT_HANDOFF)
    data = payload(run(handler_for(project), "echoer", context={"priority": "high"}))
    inline = json.loads(base64.b64decode(data["inline"]))
    assert inline["priority"] == "high"


def test_ten_megabyte_context_and_one_megabyte_task_travel_in_the_file(project, write_agent):
    write_agent("bulky", PRINT_HANDOFF, context_keys=["blob"])
    task = "t" * (1024 * 1024)
    blob = "b" * (10 * 1024 * 1024)
    data = payload(run(handler_for(project), "bulky", task, context={"blob": blob}))
    assert data["task_len"] == len(task)
    assert data["blob_len"] == len(blob)
    assert data["inline"] is None


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"project_root": "/nonexistent/claude-pm-test"}, "does not exist"),
        ({"file_paths": ["../outside.py"]}, "outside project_root"),
        ({"file_paths": ["/etc/passwd"]}, "outside project_root"),
    ],
)
def test_bad_context_is_a_clear_error_and_spawns_nothing(project, write_agent, context, expected):
    write_agent("echoer", "print('ran')")
    result = run(handler_for(project), "echoer", context=context)
    assert result["success"] is False
    assert expected in result["error"]
    assert not (project / ".claude-pm" / "runs").exists()


@pytest.mark.parametrize("root", ["/", "/etc", "escape"])
def test_a_call_cannot_move_the_project_root(project, write_agent, tmp_path, root):
    """The configured project is a boundary: ``/``, ``/etc`` or a link out are refused."""
    (tmp_path / "elsewhere").mkdir()
    (project / "escape").symlink_to(tmp_path / "elsewhere")
    write_agent("echoer", PRINT_HANDOFF, context_keys=["file_paths"])
    named = str(project / root) if root == "escape" else root
    context = {"project_root": named, "file_paths": ["/etc/shadow"]}
    result = run(handler_for(project), "echoer", context=context)
    assert result["success"] is False
    assert result["error_type"] == "ContextError"
    assert "outside the configured project" in result["error"]
    assert result["error_details"]["field"] == "context.project_root"
    assert not (project / ".claude-pm" / "runs").exists()


def test_a_directory_inside_the_project_or_an_allowed_root_may_be_named(
    project, write_agent, tmp_path
):
    (project / "pkg").mkdir()
    allowed = tmp_path / "shared-root"
    allowed.mkdir()
    write_agent("echoer", PRINT_HANDOFF)
    data = payload(run(handler_for(project), "echoer", context={"project_root": "pkg"}))
    assert data["cwd"] == str((project / "pkg").resolve())
    refused = run(handler_for(project), "echoer", context={"project_root": str(allowed)})
    assert "outside the configured project" in refused["error"]
    handler = handler_for(project, CLAUDE_PM_ALLOWED_ROOTS=str(allowed))
    data = payload(run(handler, "echoer", context={"project_root": str(allowed)}))
    assert data["cwd"] == str(allowed.resolve())


def test_project_root_that_is_a_file_is_rejected(project, write_agent):
    write_agent("echoer", "print('ran')")
    (project / "file.txt").write_text("x")
    result = run(
        handler_for(project), "echoer", context={"project_root": str(project / "file.txt")}
    )
    assert "not a directory" in result["error"] or "is a file" in result["error"]


def test_unknown_agent_lists_the_valid_ones(project, write_agent):
    write_agent("echoer", "print('ran')")
    result = run(handler_for(project), "no-such-agent")
    assert result["success"] is False
    assert result["error_type"] == "AgentNotFound"
    assert "echoer" in result["error"]
    assert "echoer" in result["error_details"]["valid_agents"]


def test_an_unknown_configured_backend_says_so_before_anything_starts(project):
    agents = project / ".claude" / "agents"
    agents.mkdir(parents=True)
    (agents / "helper.md").write_text("---\nname: helper\ndescription: Helps.\n---\nHelp.\n")
    result = run(handler_for(project, CLAUDE_PM_BACKEND="quantum"), "helper")
    assert result["error_type"] == "BackendUnavailable"
    assert "unknown backend 'quantum'" in result["error"]
    assert "claude-code" in result["error"]  # the known backends are named
    assert not (project / ".claude-pm" / "runs").exists()


def test_failing_agent_reports_exit_code_and_stderr(project, write_agent):
    write_agent("broken", "import sys\nprint('partial')\nsys.stderr.write('boom\\n')\nsys.exit(3)")
    result = run(handler_for(project), "broken")
    assert result["success"] is False
    assert result["status"] == "failed"
    assert result["exit_code"] == 3
    assert "boom" in result["errors"]
    assert "exit code 3" in result["error"]


def test_missing_program_fails_with_a_message_that_says_what_to_fix(project, write_agent):
    write_agent("ghost", "", backend_options={"command": ["no-such-program-xyz"]})
    result = run(handler_for(project), "ghost")
    assert result["success"] is False
    assert result["exit_code"] == 127
    assert "not found" in result["errors"]


def test_timeout_is_reported_as_such(project, write_agent):
    write_agent("sleeper", "import time\nprint('start', flush=True)\ntime.sleep(60)")
    result = run(handler_for(project), "sleeper", timeout=1)
    assert result["status"] == "timeout"
    assert result["success"] is False
    assert "timed out" in result["error"]


def test_memory_limit_kill_is_reported_as_such(project, write_agent):
    hog = "blocks = []\nwhile True:\n    blocks.append(bytearray(20 * 1024 * 1024))\n"
    write_agent("hog", hog)
    result = run(handler_for(project), "hog", memory_limit=100, timeout=60)
    assert result["status"] == "memory_exceeded"
    assert "memory limit" in result["error"]
    assert result["memory_usage"]["limit_mb"] == 100


def test_tickets_in_output_are_stored_with_real_ids(project, write_agent):
    write_agent("finder", "print('SECURITY: token logged in plain text')\nprint('TODO: add tests')")
    handler = handler_for(project)
    first = run(handler, "finder")
    assert first["tickets_found"] == 2
    assert len(first["tickets_created"]) == 2
    assert all(t.startswith("PM-") for t in first["tickets_created"])
    second = run(handler, "finder")
    assert second["tickets_found"] == 2
    assert second["tickets_created"] == []
    assert sorted(second["duplicate_tickets"]) == sorted(first["tickets_created"])


#: An agent that reports findings as `MARKER: path:line: message`, at the lines where they are.
AUDITOR = """
import os
lines = open("src/a.py", encoding="utf-8").read().splitlines()
for n, text in enumerate(lines, 1):
    if text.startswith("SECRET"):
        print(f"SECURITY(high): {os.path.abspath('src/a.py')}:{n}: hard-coded secret key")
    if "total = price" in text:
        print(f"BUG: src/a.py:{n}: total ignores the discount")
"""
SOURCE = """SECRET = "abc123"
def total(price, discount):
    total = price
    return total
def other(price, discount):
    total = price
    return total
"""


def test_a_finding_that_moved_is_the_same_ticket_on_the_next_run(project, write_agent):
    from claude_pm.state import Database
    from claude_pm.tickets.store import TicketStore

    (project / "src").mkdir()
    source = project / "src" / "a.py"
    source.write_text(SOURCE)
    write_agent("auditor", AUDITOR)
    handler = handler_for(project)
    first = run(handler, "auditor")
    assert first["tickets_found"] == 3
    assert (first["tickets_created"], first["duplicate_tickets"]) == (["PM-1", "PM-2"], [])
    assert first["repeated_findings_count"] == 1
    store = TicketStore(Database(project / ".claude-pm" / "state.db"))
    secret, bug = store.get("PM-1"), store.get("PM-2")
    # The absolute path inside the project is recorded relative to it.
    assert (secret.file, secret.line, secret.title) == ("src/a.py", 1, "hard-coded secret key")
    assert (bug.file, bug.line, bug.title) == ("src/a.py", 3, "total ignores the discount")
    # Two identical findings in one file: one ticket, both lines.
    assert [x.line for x in store.lines("PM-2")[0]] == [3, 6]

    source.write_text("import decimal\n" + SOURCE)  # one line at the top moves everything
    second = run(handler, "auditor")
    assert second["tickets_found"] == 3
    assert second["tickets_created"] == [] and second["tickets_created_count"] == 0
    assert second["duplicate_tickets"] == ["PM-1", "PM-2"]
    assert store.count() == 2
    bug = store.get("PM-2")
    assert (bug.line, bug.times_seen, bug.last_run) == (4, 4, second["run_id"])
    assert bug.last_seen >= store.get("PM-1").first_seen
    assert [x.line for x in store.lines("PM-2")[0]] == [3, 4, 6, 7]
    assert store.get("PM-1").line == 2
    assert [t.id for t in store.find(run=second["run_id"])] == ["PM-1", "PM-2"]


def test_auto_create_off_finds_but_stores_nothing(project, write_agent):
    write_agent("finder", "print('BUG: crash on empty input')")
    env = {"PATH": "/usr/bin:/bin", "CLAUDE_PM_TICKET_AUTO_CREATE": "false"}
    handler = ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))
    result = run(handler, "finder")
    assert result["tickets_found"] == 1
    assert result["tickets_created"] == []


def test_sampling_only_enforcement_is_honoured_and_reported(project, write_agent):
    hog = "blocks = []\nwhile True:\n    blocks.append(bytearray(20 * 1024 * 1024))\n"
    write_agent("hog", hog)
    env = {"PATH": "/usr/bin:/bin", "CLAUDE_PM_MEMORY_ENFORCEMENT": "sampling"}
    handler = ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))
    result = run(handler, "hog", memory_limit=100, timeout=60)
    assert result["status"] == "memory_exceeded"
    assert result["enforcement"] == "sampling"
    assert any(e["kind"] == "memory_limit" for e in result["events"])


def test_relative_program_runs_from_the_project_even_with_cwd_run(project, write_agent):
    """A program named relative to the project is found there, whatever the agent's cwd."""
    import sys

    tool = project / "tools" / "hello.sh"
    tool.parent.mkdir()
    tool.write_text(f"#!{sys.executable}\nimport os\nprint('cwd', os.getcwd())\n")
    tool.chmod(0o755)
    options = {"command": ["tools/hello.sh"], "cwd": "run"}
    write_agent("relative", "", backend_options=options)
    result = run(handler_for(project), "relative")
    assert result["success"], result
    assert result["output"].strip() == f"cwd {result['log_paths']['run_dir']}"


def test_a_run_whose_record_cannot_be_written_still_returns_its_result(project, write_agent):
    # An agent that breaks the state database under the orchestrator's feet.
    vandal = (
        "import sqlite3\n"
        "conn = sqlite3.connect('.claude-pm/state.db')\n"
        "conn.execute('ALTER TABLE runs RENAME TO gone')\n"
        "conn.commit()\n"
        "print('TODO: keep this finding')\n"
    )
    write_agent("vandal", vandal)
    result = run(handler_for(project), "vandal")
    assert result["success"] is True
    assert "record the end of a run" in result["record_error"]
    assert result["tickets_created"] == ["PM-1"]
    assert "TODO: keep this finding" in result["output"]


#: An agent that reports about itself in the result file, as an LLM backend would.
REPORTER = """
import json, os
print("final report")
report = {
    "version": 1, "backend": "command", "model": "scripted-model",
    "usage": {"input_tokens": 12, "output_tokens": 7}, "cost_usd": 0.0042, "turns": 2,
    "session_id": "sess-1", "stop_reason": "end_turn",
    "rate_limits": [{"kind": "rate_limited", "at": 1.0, "retry_after_s": 3.0}],
}
with open(os.environ["CLAUDE_PM_RESULT_FILE"], "w") as f:
    json.dump(report, f)
"""


def test_the_backends_result_file_reaches_the_result_and_the_record(project, write_agent):
    from claude_pm.agents.runs import RunStore
    from claude_pm.state import Database

    write_agent("reporter", REPORTER)
    result = run(handler_for(project), "reporter")
    assert result["success"], result
    assert (result["backend"], result["model"], result["turns"]) == ("command", "scripted-model", 2)
    assert result["usage"] == {"input_tokens": 12, "output_tokens": 7}
    assert (result["cost_usd"], result["session_id"], result["stop_reason"]) == (
        0.0042,
        "sess-1",
        "end_turn",
    )
    record = RunStore(Database(project / ".claude-pm" / "state.db")).get(result["run_id"])
    assert record is not None
    assert (record.model, record.cost_usd, record.backend_session_id) == (
        "scripted-model",
        0.0042,
        "sess-1",
    )
    assert dict(record.usage) == {"input_tokens": 12, "output_tokens": 7}


def test_an_unreadable_result_file_is_reported_not_fatal(project, write_agent):
    code = "import os\nopen(os.environ['CLAUDE_PM_RESULT_FILE'], 'w').write('{nope')\nprint('ok')"
    write_agent("garbler", code)
    result = run(handler_for(project), "garbler")
    assert result["success"] is True
    assert "not valid JSON" in result["report_error"]
    assert result["model"] is None


def test_the_report_returned_to_the_model_is_capped(project, write_agent):
    write_agent("chatty", "print('x' * 5000)\nprint('TODO: the end of the report')")
    env = {"PATH": "/usr/bin:/bin", "CLAUDE_PM_MAX_REPORT_BYTES": "1024"}
    handler = ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))
    result = run(handler, "chatty")
    assert len(result["output"].encode()) <= 1024
    assert result["output"].endswith("TODO: the end of the report\n")
    assert result["output_truncated"] is True
    assert result["run_id"] in result["read_more"]
    assert Path(result["log_paths"]["stdout"]).stat().st_size > 5000
    assert result["tickets_created"] == ["PM-1"]


def test_the_runner_uses_the_launcher_it_is_given(project, write_agent):
    """An injected supervisor runs the agents; shutting it down touches no other runner."""
    from claude_pm.agents.registry import AgentRegistry
    from claude_pm.agents.runner import AgentRunner
    from claude_pm.agents.values import AgentRequest
    from claude_pm.process import Supervisor
    from claude_pm.state import Database

    write_agent("echoer", "print('ran')")
    settings = load_settings(project_root=project, environ={"PATH": "/usr/bin:/bin"})
    registry, database = AgentRegistry.from_settings(settings), Database(settings.db_path)
    own = Supervisor()
    mine = AgentRunner(settings, registry, database, launcher=own)
    other = AgentRunner(settings, registry, database)
    request = AgentRequest("echoer", "go")
    assert mine.run(request).success
    own.shutdown()
    assert mine.run(request).status.value == "cancelled"
    assert other.run(request).success


def test_a_prepared_run_can_be_launched_in_another_process(project, write_agent, tmp_path):
    """PreparedRun and ProcessResult pickle: prepare here, launch elsewhere, finish here."""
    import pickle
    import subprocess
    import sys

    from claude_pm.agents.registry import AgentRegistry
    from claude_pm.agents.runner import AgentRunner
    from claude_pm.agents.values import AgentRequest
    from claude_pm.state import Database

    write_agent("finder", "print('BUG: found far away')")
    settings = load_settings(project_root=project, environ={"PATH": "/usr/bin:/bin"})
    runner = AgentRunner(
        settings, AgentRegistry.from_settings(settings), Database(settings.db_path)
    )
    prepared = runner.prepare(AgentRequest("finder", "look"))
    started = runner.start(prepared)
    worker = (
        "import pickle, sys\n"
        "from claude_pm.process import Supervisor\n"
        "prepared = pickle.load(sys.stdin.buffer)\n"
        "sys.stdout.buffer.write(pickle.dumps(Supervisor().run(prepared.spec)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", worker],
        input=pickle.dumps(prepared),
        capture_output=True,
        check=True,
        timeout=60,
    )
    process = pickle.loads(out.stdout)
    result = runner.finish(prepared, process, started)
    assert result.success
    assert [t.title for t in result.tickets.first_found] == ["found far away"]
    assert [s.id for s in result.tickets.first_saved] == ["PM-1"]
    assert (result.tickets.found, result.tickets.created_ids) == (1, ("PM-1",))


def test_an_unwritable_state_directory_is_a_clear_error_and_leaves_nothing(project, write_agent):
    write_agent("echoer", "print('ran')")
    blocker = project / "blocked"
    blocker.write_text("a file where the state directory should be")
    env = {"PATH": "/usr/bin:/bin", "CLAUDE_PM_STATE_DIR": str(blocker / "state")}
    handler = ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))
    result = run(handler, "echoer")
    assert result["success"] is False
    assert result["error_type"] in ("ContextError", "StoreError")
    assert str(blocker) in result["error"]
    assert blocker.read_text() == "a file where the state directory should be"


def test_progress_reaches_the_caller_without_process_internals(project, write_agent):
    from claude_pm.agents.registry import AgentRegistry
    from claude_pm.agents.runner import AgentRunner
    from claude_pm.agents.values import AgentRequest, RunProgress
    from claude_pm.state import Database

    write_agent("napper", "import time\ntime.sleep(0.5)\nprint('done')")
    settings = load_settings(project_root=project, environ={"PATH": "/usr/bin:/bin"})
    runner = AgentRunner(
        settings, AgentRegistry.from_settings(settings), Database(settings.db_path)
    )
    seen: list[RunProgress] = []
    assert runner.run(AgentRequest("napper", "nap"), on_progress=seen.append).success
    samples = [p for p in seen if p.kind == "sample"]
    assert samples and all(p.rss_bytes and p.process_count for p in samples)
    assert "enforcement" in [p.kind for p in seen[:2]]


@pytest.mark.sandbox
def test_agents_run_in_the_sandbox_when_the_machine_has_one(project, write_agent, tmp_path):
    from claude_pm.process import sandbox_support

    if not sandbox_support().available:
        pytest.skip(f"no sandbox on this machine: {sandbox_support().reason}")
    outside = tmp_path / "outside"
    outside.mkdir()
    code = (
        "import os\n"
        f"try:\n    open({str(outside / 'x')!r}, 'w')\n    print('wrote outside')\n"
        "except OSError as e:\n    print('outside:', e.strerror)\n"
        "open('inside.txt', 'w').write('ok')\n"
        "print('pid', os.getpid())\n"
    )
    write_agent("boxed", code)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project), "CLAUDE_PM_SANDBOX": "auto"}
    handler = ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))
    result = run(handler, "boxed")
    assert result["success"], result
    assert result["sandbox"] == "bwrap"
    assert "outside: Read-only file system" in result["output"]
    assert (project / "inside.txt").read_text() == "ok"
    assert not (outside / "x").exists()
    off = {**env, "CLAUDE_PM_SANDBOX": "off"}
    handler = ClaudeToolHandler(settings=load_settings(project_root=project, environ=off))
    assert run(handler, "boxed")["sandbox"] == "none"


def test_a_project_file_named_like_a_module_does_not_shadow_the_executor(project, write_agent):
    """The executor starts in the project; ``json.py`` there must not replace the stdlib's."""
    (project / "json.py").write_text("raise SystemExit('the project shadowed the json module')\n")
    write_agent("echoer", "print('ran')")
    result = run(handler_for(project), "echoer")
    assert result["success"], result
    assert result["output"] == "ran\n"


def _traced_run(handler: ClaudeToolHandler, agent: str) -> tuple[dict[str, Any], int]:
    import tracemalloc

    tracemalloc.start()
    try:
        result = run(handler, agent, timeout=120)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak_bytes


#: The orchestrator's traced peak for a run whose agent floods it with findings: the
#: first call's imports (about 7 MB) and a few 1 MB blocks of the output being read
#: (about 4 MB); measured about 11 MB for a million. Holding every Ticket instead
#: takes about 600 bytes a finding: past this bound at 50,000 findings.
FLOOD_PEAK_BYTES = 24 * 1024 * 1024


@pytest.mark.slow
def test_a_million_identical_findings_are_one_ticket_in_bounded_memory(project, write_agent):
    """1M identical BUG: lines (36 MB of output): one id, the counts, a small result."""
    code = "import sys\nsys.stdout.write('BUG: the cache is never invalidated\\n' * 1_000_000)\n"
    write_agent("flooder", code)
    handler = handler_for(project)
    result, peak_bytes = _traced_run(handler, "flooder")
    assert result["success"], result.get("error")
    assert peak_bytes < FLOOD_PEAK_BYTES, peak_bytes
    assert result["tickets_found"] == 1_000_000
    assert (result["tickets_created"], result["tickets_created_count"]) == (["PM-1"], 1)
    assert (result["duplicate_tickets"], result["duplicate_tickets_count"]) == ([], 0)
    assert result["repeated_findings_count"] == 999_999
    assert len(json.dumps(result)) < 200_000

    again, _ = _traced_run(handler, "flooder")
    assert (again["tickets_created"], again["duplicate_tickets"]) == ([], ["PM-1"])
    assert (again["duplicate_tickets_count"], again["repeated_findings_count"]) == (1, 1_000_000)
    from claude_pm.state import Database
    from claude_pm.tickets.store import TicketStore

    assert TicketStore(Database(project / ".claude-pm" / "state.db")).get("PM-1").times_seen == (
        2_000_000
    )


#: Distinct findings in the run below: enough that holding them all would pass
#: FLOOD_PEAK_BYTES, few enough for tracemalloc (each allocation about ten times
#: slower) to keep the test near 30 s on a busy two-core machine. Each distinct
#: finding costs a few dozen allocations; copies of one line cost none (above).
DISTINCT_FINDINGS = 50_000


@pytest.mark.slow
def test_many_distinct_findings_are_streamed_into_the_store_in_bounded_memory(project, write_agent):
    code = (
        "import sys\n"
        f"for n in range({DISTINCT_FINDINGS}):\n"
        "    sys.stdout.write(f'TODO: item {n} still to do\\n')\n"
    )
    write_agent("lister", code)
    env = {"PATH": "/usr/bin:/bin", "CLAUDE_PM_MAX_TICKETS_LISTED": "20"}
    handler = ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))
    result, peak_bytes = _traced_run(handler, "lister")
    assert result["success"], result.get("error")
    assert peak_bytes < FLOOD_PEAK_BYTES, peak_bytes
    assert result["tickets_found"] == result["tickets_created_count"] == DISTINCT_FINDINGS
    assert result["tickets_created"] == [f"PM-{n}" for n in range(1, 21)]
    assert result["tickets_truncated"] is True
    assert result["tickets_read_more"].endswith(f"claude-pm tickets list --run {result['run_id']}")
    assert len(json.dumps(result)) < 100_000
