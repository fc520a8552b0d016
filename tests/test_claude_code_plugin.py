"""The repository as a Claude Code plugin, and ``claude-pm init``, checked by the real CLI.

The CLI is the one bundled in ``claude-agent-sdk`` (the tests skip without it),
offline: a temporary home and config directory, the fake Messages API of
:mod:`fakes.claude_code_api` on 127.0.0.1 (also the HTTPS proxy, so nothing
leaves loopback). The plugin's MCP server runs ``claude-pm mcp``: the
interpreter's ``bin`` directory goes first on ``PATH``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes.claude_code_api import (
    TOOL_SEARCH,
    ClaudeCode,
    FakeClaudeCodeAPI,
    result_text,
    tool_results,
)
from fakes.messages_api import message, text, tool_use

pytestmark = [pytest.mark.slow, pytest.mark.claude_code]

REPO = Path(__file__).resolve().parents[1]
PLUGIN_SERVER = "plugin:agent-pm:claude-pm"
PLUGIN_DISCOVER = "mcp__plugin_agent-pm_claude-pm__discover_available_agents"


@pytest.fixture(scope="module")
def claude_cli() -> Path:
    try:
        import claude_agent_sdk
    except ImportError:
        pytest.skip("claude-agent-sdk (which bundles the Claude Code CLI) is not installed")
    cli = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    if not os.access(cli, os.X_OK):
        pytest.skip(f"claude-agent-sdk has no bundled Claude Code CLI at {cli}")
    return cli


@pytest.fixture
def cli_env(isolated_home: Path, tmp_path: Path) -> dict[str, str]:
    config = isolated_home / ".claude"
    config.mkdir(exist_ok=True)
    # What a user does once when Claude Code asks: approve the project's .mcp.json servers.
    (config / "settings.json").write_text(json.dumps({"enableAllProjectMcpServers": True}))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin')}",
        "HOME": str(isolated_home),
        "CLAUDE_CONFIG_DIR": str(config),
        "TMPDIR": str(scratch),
        "LANG": "C.UTF-8",
        "ANTHROPIC_API_KEY": "test-key-not-a-secret",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "ENABLE_TOOL_SEARCH": "true",
        "CLAUDE_PM_SANDBOX": "off",
    }


def _claude(
    cli: Path, env: dict[str, str], cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cli), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=90, check=False
    )


def test_the_repository_is_a_valid_plugin_and_marketplace(
    claude_cli: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    out = _claude(claude_cli, cli_env, tmp_path, "plugin", "validate", str(REPO))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Validation passed" in out.stdout
    for part in ("agent-pm:review", "agent-pm:triage", "agent-pm:qa", "agent-pm:security"):
        assert part in out.stdout, part
    market = REPO / ".claude-plugin" / "marketplace.json"
    out = _claude(claude_cli, cli_env, tmp_path, "plugin", "validate", str(market))
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_plugin_lists_every_shipped_agent() -> None:
    manifest = json.loads((REPO / ".claude-plugin" / "plugin.json").read_text())
    shipped = sorted((REPO / "src" / "claude_pm" / "agents" / "shipped").glob("*.md"))
    assert manifest["agents"] == [f"./{p.relative_to(REPO).as_posix()}" for p in shipped]
    assert manifest["mcpServers"]["claude-pm"] == {"command": "claude-pm", "args": ["mcp"]}


def test_init_makes_a_project_whose_server_claude_code_connects_to(
    claude_cli: Path, cli_env: dict[str, str], project: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "init"],
        env={**os.environ, **cli_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = _claude(claude_cli, cli_env, project, "mcp", "list")
    line = next((x for x in out.stdout.splitlines() if x.startswith("claude-pm:")), "")
    assert "Connected" in line, out.stdout + out.stderr


def test_claude_code_uses_the_plugins_server(
    claude_cli: Path, cli_env: dict[str, str], project: Path, tmp_path: Path
) -> None:
    out = _claude(claude_cli, cli_env, project, "--plugin-dir", str(REPO), "mcp", "list")
    assert f"{PLUGIN_SERVER}: claude-pm mcp" in out.stdout and "Connected" in out.stdout, (
        out.stdout + out.stderr
    )
    turns = [
        message(tool_use(TOOL_SEARCH, {"query": "+claude-pm agents"})),
        message(tool_use(PLUGIN_DISCOVER, {"specialization": "testing"})),
        message(text("The qa agent covers testing.")),
    ]
    with FakeClaudeCodeAPI(turns) as fake:
        env = {
            **cli_env,
            "ANTHROPIC_BASE_URL": fake.url,
            "HTTPS_PROXY": fake.url,
            "HTTP_PROXY": fake.url,
            "NO_PROXY": "127.0.0.1,localhost",
        }
        argv = [str(claude_cli), "--print", "Who can test this project?"]
        argv += ["--output-format", "json", "--plugin-dir", str(REPO)]
        argv += ["--allowedTools", "mcp__plugin_agent-pm_claude-pm__*", "--no-session-persistence"]
        session = ClaudeCode(argv, env, project, tmp_path / "claude.err")
        result = session.run()
    assert result["is_error"] is False, result
    assert fake.other_paths == [], "Claude Code tried to leave loopback"
    [found] = tool_results(fake.main_request(2))
    assert not found.get("is_error"), found
    agents = json.loads(result_text(found))["available_agents"]
    assert [a["type"] for a in agents] == ["qa"]
