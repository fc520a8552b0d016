"""``claude-pm run`` as a user runs it: a real CLI process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from waiting import alive, wait_for


def cli(project: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_PM_")}
    env["CLAUDE_PM_SANDBOX"] = "off"  # the agent reports host pids (see conftest)
    env["CLAUDE_PM_USER_AGENTS_DIR"] = str(project / "no-user-agents")
    return subprocess.run(
        [sys.executable, "-m", "claude_pm", "--project", str(project), *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=env,
        timeout=120,
    )


def test_run_prints_json_and_exits_zero(project, write_agent):
    write_agent("echoer", "import sys\nprint('got:', sys.stdin.read())")
    out = cli(project, "run", "echoer", "hello world", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "completed"
    assert "got: hello world" in result["output"]


def test_run_reads_the_task_from_stdin_and_prints_a_summary(project, write_agent):
    write_agent("echoer", "import sys\nprint('got:', sys.stdin.read())")
    out = cli(project, "run", "echoer", "-", stdin="from stdin")
    assert out.returncode == 0, out.stderr
    assert "completed" in out.stdout
    assert "got: from stdin" in out.stdout


def test_failed_agent_exits_nonzero(project, write_agent):
    write_agent("broken", "raise SystemExit(4)")
    out = cli(project, "run", "broken", "x")
    assert out.returncode == 1
    assert "failed" in out.stdout


def test_timeout_flag_and_json(project, write_agent):
    write_agent("sleeper", "import time\ntime.sleep(30)")
    out = cli(project, "run", "sleeper", "x", "--timeout", "1", "--json")
    assert out.returncode == 1
    assert json.loads(out.stdout)["status"] == "timeout"


def test_bad_input_exits_two_with_a_message(project, tmp_path):
    out = cli(tmp_path / "missing", "run", "qa", "x")
    assert out.returncode == 2
    assert "does not exist" in out.stderr
    out = cli(project, "run", "qa", "x", "--context", "{not json")
    assert out.returncode == 2
    assert "--context" in out.stderr


def test_help_lists_the_commands():
    out = subprocess.run(
        [sys.executable, "-m", "claude_pm", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("run", "runs", "agents", "tickets", "tools", "mcp", "pm", "doctor"):
        assert command in out.stdout


FAMILY = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
with open("pids.txt", "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
time.sleep(120)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_the_cli_kills_the_agent_tree_and_records_the_run(project, write_agent, signum):
    write_agent("family", FAMILY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_PM_")}
    env["CLAUDE_PM_SANDBOX"] = "off"  # the agent reports host pids (see conftest)
    proc = subprocess.Popen(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "run", "family", "x"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        pids_file = project / "pids.txt"
        wait_for(lambda: pids_file.exists() and len(pids_file.read_text().split()) == 2, "pid file")
        agent_pid, grandchild_pid = map(int, pids_file.read_text().split())
        proc.send_signal(signum)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == (130 if signum == signal.SIGINT else 128 + signum)
    wait_for(lambda: not alive(agent_pid) and not alive(grandchild_pid), "agent tree gone", 10.0)
    with sqlite3.connect(project / ".claude-pm" / "state.db") as conn:
        status, error = conn.execute("SELECT status, error FROM runs").fetchone()
    assert status == "cancelled"
    assert "stopped" in error


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--timeout", "0"), "timeout"),
        (("--timeout", "-5"), "timeout"),
        (("--timeout", "1.5"), "--timeout"),
        (("--context", "@missing.json"), "missing.json"),
    ],
)
def test_bad_flags_exit_2_and_say_which(project, write_agent, args, expected):
    write_agent("echoer", "print('ran')")
    out = cli(project, "run", "echoer", "x", *args)
    assert out.returncode == 2, out.stdout
    assert expected in out.stderr
    assert "Traceback" not in out.stderr
    assert "ran" not in out.stdout


def test_an_error_that_looks_like_markup_is_printed_as_is(project):
    out = cli(project, "run", "[/b]", "x")
    assert out.returncode == 2
    assert "'[/b]' does not match" in out.stderr
    assert "Traceback" not in out.stderr


def test_run_says_which_tickets_are_new_and_which_were_already_filed(project, write_agent):
    write_agent("finder", "print('BUG: src/a.py:3: crash on save')\nprint('TODO: add tests')")
    out = cli(project, "run", "finder", "look")
    assert out.returncode == 0, out.stderr
    assert "tickets: 2 found: 2 new (PM-1, PM-2), 0 already filed" in out.stdout
    write_agent(
        "finder",
        "print('BUG: src/a.py:4: crash on save')\nprint('TODO: add tests')\n"
        "print('SECURITY: key in logs')\nprint('FEATURE: export')\nprint('TODO: add tests')",
    )
    out = cli(project, "run", "finder", "look again")
    assert out.returncode == 0, out.stderr
    assert (
        "tickets: 5 found: 2 new (PM-3, PM-4), 2 already filed (PM-1, PM-2); "
        "1 more report(s) of the same tickets"
    ) in out.stdout
