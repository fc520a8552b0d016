"""``claude-pm workflow``: validate prints the plan, run --json is one document whose id the
other commands take, problems exit 2 with every one listed."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from wf_support import ECHO, FAIL, workflow

from claude_pm.cli import main


@pytest.fixture(autouse=True)
def keep_signal_handlers() -> Iterator[None]:
    """``main`` installs the CLI's signal handlers; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def _file(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


DIAMOND = workflow(
    {"id": "plan", "agent_type": "echo", "task": "p", "timeout": 10},
    {"id": "left", "agent_type": "echo", "task": "l", "dependencies": ["plan"], "timeout": 20},
    {"id": "right", "agent_type": "echo", "task": "r", "dependencies": ["plan"], "timeout": 5},
    {"id": "join", "agent_type": "echo", "task": "j", "dependencies": ["left", "right"]},
)


def test_validate_prints_the_levels_and_the_critical_path(
    project: Path, write_agent: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_agent("echo", ECHO, timeout=30)
    path = _file(tmp_path, DIAMOND)

    assert main(["--project", str(project), "workflow", "validate", path]) == 0
    out = capsys.readouterr().out
    assert "level 0: plan\nlevel 1: left, right\nlevel 2: join\n" in out
    assert "critical path: plan -> left -> join (estimated 60s" in out

    assert main(["--project", str(project), "workflow", "validate", path, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["levels"] == [["plan"], ["left", "right"], ["join"]]
    assert plan["critical_path"] == ["plan", "left", "join"]
    assert plan["critical_path_estimate_s"] == 60
    assert not (project / ".claude-pm" / "runs").exists()


def test_a_bad_file_lists_every_problem_and_exits_2(
    project: Path, write_agent: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_agent("echo", ECHO)
    bad = workflow(
        {"id": "a", "agent_type": "wizard", "task": "x"},
        {"id": "b", "agent_type": "echo", "task": "y", "dependencies": ["c"]},
        {"id": "c", "agent_type": "echo", "task": "z", "dependencies": ["b"], "timeout": 0},
    )
    path = _file(tmp_path, bad)

    assert main(["--project", str(project), "workflow", "run", path]) == 2
    err = capsys.readouterr().err
    assert "(and 2 more problems)" in err
    lines = [line for line in err.splitlines() if line.startswith("  - ")]
    assert len(lines) == 3
    assert "wizard" in lines[0] and "timeout" in lines[1] and "cycle b -> c -> b" in lines[2]

    (tmp_path / "broken.yaml").write_text("agent_tasks: [unclosed\n")
    assert (
        main(["--project", str(project), "workflow", "validate", str(tmp_path / "broken.yaml")])
        == 2
    )
    assert "not valid YAML at line" in capsys.readouterr().err


def test_run_json_is_one_document_whose_id_the_other_commands_take(
    project: Path, write_agent: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_agent("echo", ECHO)
    write_agent("fail", FAIL)
    data = workflow(
        {"id": "a", "agent_type": "echo", "task": "alpha", "writes": []},
        {"id": "b", "agent_type": "fail", "task": "beta", "writes": []},
        {"id": "c", "agent_type": "echo", "task": "gamma", "dependencies": ["b"]},
    )
    path = _file(tmp_path, data)
    base = ["--project", str(project), "workflow"]

    assert main([*base, "run", path, "--json"]) == 1
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    wid = result["workflow_id"]
    assert wid.startswith("wf-")
    assert (result["completed_tasks"], result["failed_tasks"], result["skipped_tasks"]) == (1, 1, 1)
    # Not a terminal: plain progress lines on stderr, one per change.
    assert "task a (echo): started (attempt 1)" in captured.err
    assert "task c (echo): dependency 'b' failed" in captured.err

    assert main([*base, "status", wid, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["workflow_id"] == wid and status["status"] == "failed"
    assert [t["task_status"] for t in status["task_results"]] == ["completed", "failed", "skipped"]
    assert Path(status["task_results"][0]["log_paths"]["stdout"]).exists()
    assert any(e["kind"] == "workflow_failed" for e in status["last_events"])

    assert main([*base, "status"]) == 0
    shown = capsys.readouterr().out
    assert f"failed workflow {wid}" in shown and "dependency 'b' failed" in shown

    assert main([*base, "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["workflow_id"], listed["completed_tasks"], listed["total_tasks"]) == (wid, 1, 3)

    assert main([*base, "cancel", wid]) == 0
    assert "had already ended: failed" in capsys.readouterr().out
    assert main([*base, "status", "wf-nope"]) == 1
    assert f"recent ones: {wid}" in capsys.readouterr().err


def test_run_without_json_prints_a_table(
    project: Path, write_agent: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_agent("echo", ECHO)
    path = _file(tmp_path, workflow({"id": "only", "agent_type": "echo", "task": "x"}))

    assert main(["--project", str(project), "workflow", "run", path, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "completed workflow wf-" in captured.out and "only" in captured.out
    assert captured.err == ""
