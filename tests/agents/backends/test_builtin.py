"""The builtin backend end to end: execute_agent_subprocess runs the core agents' real tools.

The shipped agents pin no backend, so they run on the configured one (builtin
by default); their findings come back as tickets of the store.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from claude_pm import ClaudeToolHandler
from claude_pm.config import load_settings

#: An obviously fake key of the AWS shape that the secret scanners recognise.
FAKE_KEY = "AKIA" + "QZ7XW3LNMK2VBR4T"


def _handler(project: Path, **environ: str) -> ClaudeToolHandler:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project), **environ}
    return ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))


def _run(handler: ClaudeToolHandler, agent: str, **params: Any) -> dict[str, Any]:
    return handler.handle_tool_call(
        "execute_agent_subprocess",
        {"agent_type": agent, "task_description": "review the project", **params},
    )


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.mark.slow
def test_qa_runs_the_projects_tests_and_files_a_failing_one_as_a_bug(project: Path) -> None:
    _write(
        project,
        {
            "calc.py": '"""Calculator."""\n\n\ndef add(a, b):\n    """Add."""\n    return a + b\n',
            "tests/test_calc.py": """\
                from calc import add


                def test_add():
                    assert add(2, 2) == 4


                def test_add_negative():
                    assert add(-1, -1) == -3
                """,
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
        },
    )
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    result = _run(_handler(project), "qa", timeout=300)
    assert result["success"], result
    assert result["backend"] == "builtin"
    bugs = [line for line in result["output"].splitlines() if line.startswith("BUG")]
    assert len(bugs) == 1, result["output"]
    assert "test_add_negative" in bugs[0] and "tests/test_calc.py" in bugs[0]
    assert result["tickets_created_count"] >= 1
    after = sorted(
        p.relative_to(project) for p in project.rglob("*") if ".claude-pm" not in p.parts
    )
    assert after == before, "the agent left files in the project"


def test_security_files_a_planted_key_without_ever_printing_it(project: Path) -> None:
    _write(
        project,
        {
            "app/settings.py": f'"""Settings."""\n\nAWS_ACCESS_KEY_ID = "{FAKE_KEY}"\n',
            "app/__init__.py": '"""App."""\n',
        },
    )
    result = _run(_handler(project), "security", timeout=300)
    assert result["success"], result
    findings = [line for line in result["output"].splitlines() if line.startswith("SECURITY")]
    assert any("app/settings.py:3" in line for line in findings), result["output"]
    assert result["tickets_created_count"] >= 1
    run_dir = Path(result["log_paths"]["run_dir"])
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert FAKE_KEY not in path.read_text(errors="replace"), path
    assert FAKE_KEY not in json.dumps(result)


def test_an_agent_without_a_builtin_implementation_says_how_to_run_it(project: Path) -> None:
    agents = project / ".claude" / "agents"
    agents.mkdir(parents=True)
    (agents / "reviewer.md").write_text(
        "---\nname: reviewer\ndescription: Reviews pull requests.\ntools: Read, Grep\n---\n"
        "You review pull requests.\n"
    )
    result = _run(_handler(project), "reviewer")
    assert result["success"] is False
    assert result["error_type"] == "BackendUnavailable"
    for backend in ("claude-code", "anthropic", "openai"):
        assert backend in result["error"]
    assert "CLAUDE_PM_BACKEND" in result["error"]
    assert not (project / ".claude-pm" / "runs").exists()
    # The architecture agent is shipped but custom: no built-in implementation either.
    shipped = _run(_handler(project), "architecture")
    assert shipped["error_type"] == "BackendUnavailable"


def test_the_ticketer_sees_the_open_tickets(project: Path) -> None:
    handler = _handler(project)
    filed = handler.handle_tool_call(
        "create_tickets_from_output",
        {
            "output_text": "BUG: crash when the cart is empty\nBUG: crash if the cart is empty\n",
            "source_agent": "qa",
            "auto_create": True,
        },
    )
    assert filed["tickets_created_count"] == 2
    result = _run(handler, "ticketer")
    assert result["success"], result
    assert "triage of 2 ticket(s) from the snapshot" in result["output"]
    assert "| bug | 2 |" in result["output"]
    assert result["tickets_created"] == [], "the ticketer files nothing new"
