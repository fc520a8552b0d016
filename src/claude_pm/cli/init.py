"""``claude-pm init``: set up one project for claude-pm and Claude Code, without the plugin system.

Writes what is missing and leaves what is there: ``.mcp.json`` with the
claude-pm server (merged into an existing file), a first agent in
``.claude/agents/`` that runs (a command agent, see ``agents new``), and
``.claude-pm/`` in ``.gitignore``. Then prints the next steps.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.cli.guard import with_settings
from claude_pm.cli.output import add_json_flag, print_json, wants_json

if TYPE_CHECKING:
    from claude_pm.config import Settings

SERVER_NAME = "claude-pm"
SERVER = {"type": "stdio", "command": "claude-pm", "args": ["mcp"]}
FIRST_AGENT = "project-scanner"
IGNORED = ".claude-pm/"

EPILOG = """\
examples:
  claude-pm init
  claude-pm init --project ~/src/shop --agent shop-checker
  claude-pm init --json | jq .next
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "init",
        help="set up this project: .mcp.json, a first agent, .gitignore",
        description="Set up the project for claude-pm and Claude Code: add the claude-pm MCP "
        "server to .mcp.json (merged into an existing one), write a first agent that runs to "
        ".claude/agents/, and add .claude-pm/ (runs, state) to .gitignore. Files that exist "
        "are kept. For every project at once, install the Claude Code plugin instead (see "
        "the README).",
        epilog=EPILOG,
    )
    parser.add_argument("--agent", default=FIRST_AGENT, help=f"first agent's name ({FIRST_AGENT})")
    add_json_flag(parser, help="print what was done as JSON")
    parser.set_defaults(func=init_command)


def _mcp_json(root: Path) -> str:
    path = root / ".mcp.json"
    data: dict[str, Any] = {}
    if path.exists():
        from claude_pm.errors import InvalidInput

        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise InvalidInput(
                f"{path} is not valid JSON ({e}); fix it, then run claude-pm init again.",
                field=".mcp.json",
            ) from e
        if not isinstance(data, dict):
            raise InvalidInput(f"{path} must hold a JSON object.", field=".mcp.json")
    servers = data.setdefault("mcpServers", {})
    if SERVER_NAME in servers:
        return "kept"
    servers[SERVER_NAME] = SERVER
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return "written"


def _gitignore(root: Path) -> str:
    path = root / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = {line.strip() for line in text.splitlines()}
    if IGNORED in lines or IGNORED.rstrip("/") in lines:
        return "kept"
    prefix = "" if not text or text.endswith("\n") else "\n"
    path.write_text(f"{text}{prefix}{IGNORED}\n", encoding="utf-8")
    return "written"


@with_settings
def init_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.agents.scaffold import write_scaffold

    root = settings.project_root
    done: dict[str, Any] = {"project": str(root), "mcp_json": _mcp_json(root)}
    agent = settings.project_agents_dir / f"{args.agent}.md"
    if agent.exists():
        done["agent"] = {"name": args.agent, "definition": str(agent), "state": "kept"}
        hint = f'claude-pm run {args.agent} "look at the project"'
    else:
        made = write_scaffold(settings.project_agents_dir, args.agent)
        done["agent"] = {"name": args.agent, "definition": str(made.definition), "state": "written"}
        hint = made.run_hint
    done["gitignore"] = _gitignore(root)
    done["next"] = [
        hint,
        "claude mcp list   (Claude Code asks once to approve the project's .mcp.json server)",
        "claude-pm agents new NAME   (another agent of your own)",
    ]
    if wants_json(args):
        print_json(done)
        return 0
    out = sys.stdout
    out.write(f".mcp.json: {done['mcp_json']} (server {SERVER_NAME!r}: claude-pm mcp)\n")
    out.write(f"agent {args.agent}: {done['agent']['state']} ({done['agent']['definition']})\n")
    out.write(f".gitignore: {done['gitignore']} ({IGNORED})\n\nnext:\n")
    for step in done["next"]:
        out.write(f"  {step}\n")
    return 0
