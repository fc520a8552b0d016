"""``claude-pm agents ...``: list, show, check, new, export."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from claude_pm.agents.definition import Tier
from claude_pm.agents.parsing import parse_agent_file
from claude_pm.agents.registry import SHIPPED_DIR, AgentRegistry
from claude_pm.cli import agents as agents_cli


def run(project: Path | None, *argv: str) -> int:
    """Parse like the main CLI (``--project`` on the top parser) and run the sub-command."""
    parser = argparse.ArgumentParser(prog="claude-pm")
    parser.add_argument("--project", type=Path, default=None)
    agents_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args([*(["--project", str(project)] if project is not None else []), *argv])
    code: int = args.func(args)
    return code


@pytest.fixture
def agents_dir(project: Path) -> Path:
    path = project / ".claude" / "agents"
    path.mkdir(parents=True)
    return path


def test_list_json_is_the_discovery_result(project, capsys):
    assert run(project, "agents", "list", "--json", "--specialization", "Testing") == 0
    result = json.loads(capsys.readouterr().out)
    assert [a["type"] for a in result["available_agents"]] == ["qa"]
    assert result["specialization_filter"] == "Testing"


def test_list_for_people_shows_types_tiers_and_problems(project, agents_dir, capsys):
    (agents_dir / "bad.md").write_text("no front matter", "utf-8")
    assert run(project, "agents", "list", "--format", "table") == 0
    captured = capsys.readouterr()
    for word in ("data_engineer", "shipped", "architecture"):
        assert word in captured.out
    assert "1 definition file(s) were not" in captured.err


def test_list_unknown_specialization_names_the_known_ones(project, capsys):
    assert run(project, "agents", "list", "-s", "astrology") == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "known: " in captured.err


def test_show_prints_the_merged_definition_and_where_it_came_from(project, agents_dir, capsys):
    mine = agents_dir / "qa.md"
    mine.write_text("---\nname: qa\ndescription: Ours\nmaxTurns: 3\n---\nBe strict.\n", "utf-8")
    assert run(project, "agents", "show", "QA", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tier"] == "project" and data["source_file"] == str(mine)
    assert data["shadows"] == [str(SHIPPED_DIR / "qa.md")]
    assert data["claude_code"] == {"maxTurns": 3} and data["system_prompt"] == "Be strict."
    assert "project_root" in data["visible_context_keys"]
    assert run(project, "agents", "show", "data-engineer") == 0
    out = capsys.readouterr().out
    assert "data-engineer.md" in out and "system prompt" in out and "pipeline" in out


def test_list_and_show_print_descriptions_that_look_like_markup(project, agents_dir, capsys):
    text = "---\nname: brackety\ndescription: '[/b] [red]x'\n---\nBody\n"
    (agents_dir / "brackety.md").write_text(text, "utf-8")
    for argv in (
        ("agents", "list", "--format", "table"),
        ("agents", "list"),
        ("agents", "show", "brackety"),
    ):
        assert run(project, *argv) == 0
        assert "[/b] [red]x" in capsys.readouterr().out


def test_show_unknown_agent_fails_with_the_valid_ones(project, capsys):
    assert run(project, "agents", "show", "wizard") == 1
    err = capsys.readouterr().err
    assert "wizard" in err and "qa" in err


def test_check_passes_on_shipped_agents_and_fails_on_a_broken_file(project, agents_dir, capsys):
    assert run(project, "agents", "check") == 0
    assert "OK" in capsys.readouterr().out
    (agents_dir / "slow.md").write_text("---\nname: slow\ndescription: s\ntimeout: 0\n---\n")
    assert run(project, "agents", "check") == 1
    out = capsys.readouterr().out
    assert f"{agents_dir / 'slow.md'}:4: timeout:" in out and "FAILED" in out
    assert run(project, "agents", "check", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["problems"][0]["field"] == "timeout"
    assert report["agents_loaded"] == 11


def test_check_strict_fails_on_warnings(project, agents_dir, capsys):
    (agents_dir / "x.md").write_text("---\nname: x\ndescription: d\ncategory: y\n---\n")
    assert run(project, "agents", "check") == 0
    assert run(project, "agents", "check", "--strict") == 1
    assert "unknown field 'category'" in capsys.readouterr().out


def test_new_scaffolds_a_valid_project_agent(project, capsys):
    code = run(
        project,
        "agents",
        "new",
        "api-reviewer",
        "--description",
        "Reviews HTTP APIs: use it before publishing an endpoint.",
        "--specialization",
        "api",
    )
    assert code == 0
    path = project / ".claude" / "agents" / "api-reviewer.md"
    assert str(path) in capsys.readouterr().out
    outcome = parse_agent_file(path)
    assert outcome.problems == ()
    assert outcome.definition is not None
    assert outcome.definition.specializations == ("api",)
    assert outcome.definition.description.startswith("Reviews HTTP APIs: use it")
    assert AgentRegistry(project / ".claude" / "agents", None).get("api_reviewer").tier is (
        Tier.PROJECT
    )
    assert run(project, "agents", "new", "api-reviewer") == 2
    assert "already exists" in capsys.readouterr().err
    assert run(project, "agents", "new", "api-reviewer", "--force") == 0


def test_a_new_agent_runs_as_it_is(project, capsys):
    """The default scaffold is a command agent whose script reads its hand-off and reports."""
    from claude_pm import ClaudeToolHandler
    from claude_pm.config import load_settings

    assert run(project, "agents", "new", "size-checker") == 0
    printed = capsys.readouterr().out
    assert "size-checker.py" in printed and "next: claude-pm run size-checker" in printed
    (project / "big.py").write_text("x = 1\n" * 450)
    (project / "small.py").write_text("x = 1\n")
    settings = load_settings(project_root=project, environ={"PATH": "/usr/bin:/bin"})
    result = ClaudeToolHandler(settings=settings).handle_tool_call(
        "execute_agent_subprocess", {"agent_type": "size-checker", "task_description": "sizes"}
    )
    assert result["success"], result
    assert "REFACTOR: big.py:1: 450 lines" in result["output"]
    assert "2 Python file(s) read" in result["output"]
    assert result["tickets_created_count"] == 1
    assert run(project, "agents", "new", "reviewer", "--prompt-only") == 0
    outcome = parse_agent_file(project / ".claude" / "agents" / "reviewer.md")
    assert outcome.definition is not None and outcome.definition.backend is None
    assert not (project / ".claude" / "agents" / "reviewer.py").exists()


@pytest.mark.parametrize("name", ["Bad Name", "dot.name", "UPPER", "", "a/b"])
def test_new_rejects_invalid_names(project, capsys, name):
    assert run(project, "agents", "new", name) == 2
    assert "not a valid agent name" in capsys.readouterr().err


def test_export_writes_the_shipped_definitions_as_subagent_files(project, agents_dir, tmp_path):
    (agents_dir / "qa.md").write_text("---\nname: qa\ndescription: Ours\n---\n", "utf-8")
    target = tmp_path / "out"
    assert run(project, "agents", "export", "--to", str(target)) == 0
    files = sorted(p.name for p in target.iterdir())
    assert files == sorted(p.name for p in SHIPPED_DIR.glob("*.md"))
    for path in target.iterdir():
        exported = parse_agent_file(path, Tier.SHIPPED).definition
        shipped = parse_agent_file(SHIPPED_DIR / path.name, Tier.SHIPPED).definition
        assert exported is not None and shipped is not None
        assert exported.description == shipped.description != "Ours"
        assert exported.claude_code == shipped.claude_code
    assert run(project, "agents", "export", "--to", str(target)) == 2  # no overwrite
    assert run(project, "agents", "export", "--to", str(target), "--force") == 0


def test_export_claude_code_only_keeps_claude_code_fields_only(project, tmp_path):
    target = tmp_path / "cc"
    assert run(project, "agents", "export", "--to", str(target), "--claude-code-only") == 0
    security = parse_agent_file(target / "security.md")
    assert security.problems == () and security.definition is not None
    text = (target / "security.md").read_text("utf-8")
    assert "specializations" not in text and "backend" not in text
    assert security.definition.claude_code == {"color": "red"}
    assert security.definition.tools == ("Read", "Grep", "Glob", "Bash")


def test_export_all_includes_project_agents(project, agents_dir, tmp_path):
    (agents_dir / "mine.md").write_text("---\nname: mine\ndescription: m\n---\nHi.\n", "utf-8")
    target = tmp_path / "all"
    assert run(project, "agents", "export", "--to", str(target), "--all") == 0
    assert (target / "mine.md").is_file() and (target / "qa.md").is_file()


def test_missing_project_is_an_error(tmp_path, capsys):
    assert run(tmp_path / "nope", "agents", "list") == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.skipif(
    importlib.util.find_spec("claude_pm.__main__") is None, reason="no python -m claude_pm yet"
)
def test_the_real_command_line(project):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_PM_")}
    env["CLAUDE_PM_USER_AGENTS_DIR"] = str(project / "no-user-agents")
    out = subprocess.run(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "agents", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["total_count"] == 11
