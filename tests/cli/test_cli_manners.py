"""The CLI's manners: JSON on every data command, JSON errors with the table's exit codes,
TSV in a pipe, ``--project`` and ``-q`` after the command, examples in every ``--help``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from claude_pm.cli import build_parser, main
from claude_pm.cli.output import describe_exit, human_duration, local_time
from waiting import wait_for


@pytest.fixture(autouse=True)
def keep_signal_handlers() -> Iterator[None]:
    """``main`` installs the CLI's signal handlers; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def _env(project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_PM_")}
    env["CLAUDE_PM_SANDBOX"] = "off"  # the agents report host pids (see conftest)
    env["CLAUDE_PM_USER_AGENTS_DIR"] = str(project / "no-user-agents")
    return env


def cli(project: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line, stdout a pipe (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "claude_pm", *args],
        capture_output=True,
        text=True,
        env=_env(project),
        cwd=cwd or project,
        timeout=120,
    )


def _wf_file(path: Path, agent: str = "echoer") -> Path:
    data = {
        "workflow_description": "two echoes",
        "agent_tasks": [
            {"id": "a", "agent_type": agent, "task": "first"},
            {"id": "b", "agent_type": agent, "task": "second", "dependencies": ["a"]},
        ],
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def busy(project: Path, write_agent: Any, tmp_path: Path, capsys: Any) -> dict[str, str]:
    """A project with a run, a ticket and a workflow recorded; names what each command takes."""
    write_agent("echoer", "import sys\nprint('TODO: tidy', sys.stdin.read())")
    base = ["--project", str(project)]
    assert main([*base, "run", "echoer", "x", "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    wf = _wf_file(tmp_path / "wf.yaml")
    assert main([*base, "workflow", "run", str(wf), "--json", "-q"]) == 0
    workflow_id = json.loads(capsys.readouterr().out)["workflow_id"]
    log = tmp_path / "agent.log"
    log.write_text("BUG: crash on save\n", encoding="utf-8")
    return {"run": run_id, "workflow": workflow_id, "wf": str(wf), "log": str(log)}


def _data_commands(busy: dict[str, str], tmp_path: Path) -> list[list[str]]:
    return [
        ["runs", "--json"],
        ["runs", "list", "--json"],
        ["runs", "list", "--format", "json"],
        ["runs", "show", busy["run"], "--json"],
        ["runs", "prune", "--keep", "5", "--dry-run", "--json"],
        ["agents", "list", "--json"],
        ["agents", "show", "qa", "--json"],
        ["agents", "check", "--json"],
        ["agents", "new", "made-here", "--json"],
        ["agents", "export", "--to", str(tmp_path / "exported"), "--json"],
        ["tickets", "list", "--json"],
        ["tickets", "show", "PM-1", "--json"],
        ["tickets", "update", "PM-1", "--priority", "high", "--json"],
        ["tickets", "extract", busy["log"], "--json"],
        ["tickets", "export", "--json"],
        ["tickets", "push", "--repo", "me/shop", "--dry-run", "--json"],
        ["workflow", "validate", busy["wf"], "--json"],
        ["workflow", "status", "--json"],
        ["workflow", "status", busy["workflow"], "--json"],
        ["workflow", "list", "--json"],
        ["workflow", "cancel", busy["workflow"], "--json"],
        ["config", "show", "--json"],
        ["init", "--json"],
        ["tools", "--json"],
        ["run", "echoer", "again", "--json"],
    ]


def test_every_data_command_prints_one_json_document(
    project: Path, busy: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    for argv in _data_commands(busy, tmp_path):
        code = main(["--project", str(project), *argv])
        out = capsys.readouterr().out
        assert code == 0, argv
        document = json.loads(out)  # one document, nothing else on stdout
        assert not (isinstance(document, dict) and "error" in document and code), argv


def test_doctor_json_parses(project: Path, capsys: Any) -> None:
    main(["--project", str(project), "doctor", "--json"])
    assert "supervision" in json.loads(capsys.readouterr().out)


#: (argv after --project, exit code, kind, error type): failures a script must tell apart.
ERRORS = [
    (["runs", "show", "nope", "--json"], 1, "failed", None),
    (["agents", "show", "wizard", "--json"], 1, "failed", "AgentNotFound"),
    (["run", "wizard", "x", "--json"], 1, "failed", "AgentNotFound"),
    (["run", "[/b]", "x", "--json"], 2, "bad_input", "InvalidInput"),
    (["run", "echoer", "x", "--context", "{no", "--json"], 2, "bad_input", None),
    (["tickets", "show", "PM-99", "--json"], 1, "failed", "TicketError"),
    (["tickets", "update", "PM-1", "--json"], 2, "bad_input", None),
    (["workflow", "status", "wf-nope", "--json"], 1, "failed", "InvalidInput"),
    (["workflow", "validate", "missing.yaml", "--json"], 2, "bad_input", None),
    (["runs", "list", "--limit", "many", "--json"], 2, "usage", "UsageError"),
    (["runs", "list", "--format", "json", "--limit", "many"], 2, "usage", "UsageError"),
    (["agents", "export", "--to", ".claude/agents", "--all", "--json"], 2, "bad_input", None),
]


@pytest.mark.parametrize(("argv", "code", "kind", "type_name"), ERRORS)
def test_an_error_under_json_is_a_json_document_with_the_exit_code(
    project: Path,
    busy: dict[str, str],
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    code: int,
    kind: str,
    type_name: str | None,
) -> None:
    monkeypatch.chdir(project)  # for the relative paths
    assert main(["--project", str(project), *argv]) == code
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert (error["kind"], error["exit_code"]) == (kind, code)
    if type_name is not None:
        assert error["type"] == type_name
    assert error["message"] and error["message"] in captured.err
    assert captured.err.splitlines()[-1].startswith("claude-pm")


def test_a_missing_project_is_a_json_error_from_the_real_command(tmp_path: Path) -> None:
    out = cli(tmp_path, "agents", "list", "--project", str(tmp_path / "nope"), "--json")
    assert out.returncode == 2
    error = json.loads(out.stdout)["error"]
    assert error["kind"] == "bad_input" and error["exit_code"] == 2
    assert "claude-pm: error:" in out.stderr and "does not exist" in out.stderr


def test_without_json_an_error_is_only_the_stderr_line(project: Path, capsys: Any) -> None:
    assert main(["--project", str(project), "agents", "show", "wizard"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("claude-pm: error: ")


def test_an_invalid_workflow_lists_its_problems_in_the_json_error(
    project: Path, tmp_path: Path, capsys: Any
) -> None:
    wf = tmp_path / "bad.yaml"
    data = {
        "workflow_description": "bad",
        "agent_tasks": [
            {"id": "a", "agent_type": "nobody", "task": "t", "dependencies": ["b"]},
            {"id": "b", "agent_type": "nobody", "task": "t", "dependencies": ["a"]},
        ],
    }
    wf.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["--project", str(project), "workflow", "run", str(wf), "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "WorkflowInvalid" and len(error["problems"]) > 1


def test_the_list_commands_print_tsv_in_a_pipe(project: Path, busy: dict[str, str]) -> None:
    expected_fields = {
        ("runs", "list"): 6,
        ("agents", "list"): 6,
        ("tickets", "list"): 7,
        ("workflow", "list"): 6,
        ("config", "show"): 3,
    }
    for command, fields in expected_fields.items():
        out = cli(project, "--project", str(project), *command)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines, command
        assert all(len(line.split("\t")) == fields for line in lines), (command, lines[:3])
        assert not any(line != line.strip() for line in lines)  # no padding
    runs = cli(project, "runs", "list", "--project", str(project)).stdout.splitlines()
    assert any(line.startswith(f"{busy['run']}\techoer\tcompleted\texit 0\t") for line in runs)
    # A long description stays whole on its one line in a pipe.
    agents = cli(project, "agents", "list", "--project", str(project)).stdout
    qa = next(line for line in agents.splitlines() if line.startswith("qa\t"))
    assert "…" not in qa and len(qa.split("\t")[-1]) > 100
    # --format table still gives the table.
    table = cli(project, "runs", "list", "--format", "table", "--project", str(project))
    assert "\t" not in table.stdout and "run(s)" in table.stdout


def test_project_after_the_command_and_relative_files_from_the_cwd(
    project: Path, busy: dict[str, str], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _wf_file(elsewhere / "flow.yaml")
    before = cli(project, "--project", str(project), "runs", "list", "--json", cwd=elsewhere)
    after = cli(project, "runs", "list", "--json", "--project", str(project), cwd=elsewhere)
    assert before.returncode == after.returncode == 0, after.stderr
    assert json.loads(before.stdout) == json.loads(after.stdout) != []
    # FILE is read from the current directory, not the project.
    valid = cli(
        project, "workflow", "validate", "flow.yaml", "--project", str(project), cwd=elsewhere
    )
    assert valid.returncode == 0, valid.stderr
    missing = cli(project, "workflow", "validate", "flow.yaml", "--project", str(project))
    assert missing.returncode == 2
    # The value after the command wins over the one before it.
    out = cli(
        project, "--project", str(tmp_path / "nope"), "runs", "list", "--project", str(project)
    )
    assert out.returncode == 0, out.stderr
    assert "relative to the" in cli(project, "runs", "list", "--help").stdout


def test_quiet_after_the_command_drops_the_notes(project: Path, capsys: Any) -> None:
    assert main(["--project", str(project), "runs", "list"]) == 0
    assert "no runs recorded yet" in capsys.readouterr().err
    assert main(["--project", str(project), "runs", "list", "-q"]) == 0
    assert main(["-q", "--project", str(project), "workflow", "list"]) == 0
    assert capsys.readouterr().err == ""


def _leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for inner, leaf in _leaf_parsers(sub):
                    yield f"{name} {inner}", leaf


def test_every_command_help_has_examples_and_the_exit_codes() -> None:
    parser = build_parser()
    assert "exit codes (the README's Exit codes):" in parser.format_help()
    for name, sub in _leaf_parsers(parser):
        text = sub.format_help()
        assert "examples:\n  claude-pm" in text, name
        assert "\n  0 ok, 1 failed, 2 bad input, 3 stopped by a limit, 130" in text, name
        assert "--project" in text and "--quiet" in text, name


def test_runs_show_says_a_sigkilled_run_was_killed_by_sigkill(
    project: Path, write_agent: Any
) -> None:
    write_agent("killer", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    ran = cli(project, "run", "killer", "x", "--project", str(project))
    assert ran.returncode == 1
    assert "killed by SIGKILL" in ran.stdout and "signal 9" not in ran.stdout
    run_id = cli(project, "runs", "list", "--project", str(project)).stdout.split("\t")[0]
    shown = cli(project, "runs", "show", run_id, "--project", str(project))
    assert shown.returncode == 0, shown.stderr
    assert "status: failed, killed by SIGKILL" in shown.stdout
    assert "exit None" not in shown.stdout and "signal 9" not in shown.stdout
    assert "time: " in shown.stdout and " s\n" in shown.stdout
    listed = cli(project, "runs", "list", "--format", "table", "--project", str(project))
    assert "failed (killed by SIGKILL)" in listed.stdout
    document = json.loads(cli(project, "runs", "show", run_id, "--json").stdout)
    assert document["signal"] == 9 and document["ended"] == "killed by SIGKILL"


HOLDER = """
import pathlib, time
held = bytearray(40 * 1024 * 1024)
held[::4096] = b"x" * len(held[::4096])
pathlib.Path("holding").write_text("yes")
time.sleep(120)
"""


def test_a_run_cancelled_by_ctrl_c_keeps_its_time_and_peak_memory(
    project: Path, write_agent: Any
) -> None:
    write_agent("holder", HOLDER)
    proc = subprocess.Popen(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "run", "holder", "x"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(project),
    )
    try:
        wait_for(lambda: (project / "holding").exists(), "the agent holds its memory")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    [run] = json.loads(cli(project, "runs", "list", "--json", "--project", str(project)).stdout)
    assert run["status"] == "cancelled"
    assert run["wall_time_s"] is not None and run["wall_time_s"] > 0
    assert run["peak_rss_bytes"] is not None and run["peak_rss_bytes"] > 0
    shown = cli(project, "runs", "show", run["run_id"], "--project", str(project)).stdout
    assert "status: cancelled" in shown and "peak memory: " in shown and "time: " in shown


def test_agents_list_says_which_agents_can_run_here(project: Path, write_agent: Any) -> None:
    write_agent("runner", "print('ok')")
    prompt_only = project / ".claude" / "agents" / "thinker.md"
    prompt_only.write_text("---\nname: thinker\ndescription: t\n---\nThink.\n", "utf-8")
    out = cli(project, "agents", "list", "--project", str(project))
    rows = {line.split("\t")[0]: line.split("\t") for line in out.stdout.splitlines()}
    assert rows["runner"][2:4] == ["yes", "command"]
    assert rows["thinker"][2:4] == ["no", "builtin"]
    assert "cannot run on the configured backend 'builtin'" in out.stderr
    # The same answer as discovery's and as `run`'s own check.
    listed = json.loads(cli(project, "agents", "list", "--json", "--project", str(project)).stdout)
    runnable = {a["type"]: a["runnable"] for a in listed["available_agents"]}
    assert {name: row[2] == "yes" for name, row in rows.items()} == runnable
    refused = cli(project, "run", "thinker", "x", "--json", "--project", str(project))
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["type"] == "BackendUnavailable"
    table = cli(project, "agents", "list", "--format", "table", "--project", str(project))
    assert "runnable" in table.stdout


def test_agents_check_counts_files(project: Path, write_agent: Any, capsys: Any) -> None:
    write_agent("good", "print('ok')")
    agents = project / ".claude" / "agents"
    (agents / "broken.md").write_text("no front matter", "utf-8")
    (agents / "odd.md").write_text("---\nname: odd\ndescription: d\ncategory: y\n---\n", "utf-8")
    assert main(["--project", str(project), "agents", "check", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    files = report["files"]
    assert (files["with_errors"], files["with_warnings"]) == (1, 1)
    assert files["scanned"] == report["files_checked"] >= 3
    assert files["loaded"] == files["scanned"] - 1
    assert main(["--project", str(project), "agents", "check"]) == 1
    out = capsys.readouterr().out
    assert (
        f"{files['scanned']} file(s) scanned: {files['loaded']} loaded, 1 with errors, "
        "1 with warnings" in out
    )


def test_a_closed_pipe_exits_141_quietly(project: Path, busy: dict[str, str]) -> None:
    (project / "many.log").write_text("".join(f"TODO: item {n}\n" for n in range(3000)))
    assert cli(project, "tickets", "extract", "many.log", "--store").returncode == 0
    reader = subprocess.Popen(
        [sys.executable, "-m", "claude_pm", "tickets", "list", "--project", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(project),
    )
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.readline()
    reader.stdout.close()
    err = reader.stderr.read()
    reader.stderr.close()
    assert reader.wait(timeout=60) == 141
    assert b"Traceback" not in err


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, ""), (0.042, "0.04 s"), (2.314, "2.31 s"), (252.4, "4 min 12 s"), (7380, "2 h 3 min")],
)
def test_human_durations(seconds: float | None, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_how_a_process_ended_in_words() -> None:
    assert describe_exit(0, None) == "exit 0"
    assert describe_exit(5, None) == "exit 5"
    assert describe_exit(None, 9) == "killed by SIGKILL"
    assert describe_exit(-15, None) == "killed by SIGTERM"
    assert describe_exit(None, None) == ""
    shown = local_time(1764000000.123456)
    assert "." not in shown and "T" in shown and shown[-6] in "+-"
