"""``claude-pm tools --format anthropic|openai|mcp``: print the four tool definitions."""

from __future__ import annotations

import argparse
from typing import Any

from claude_pm.cli.output import add_json_flag, print_json
from claude_pm.tools.formats import ToolFormat


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tools",
        help="print the tool definitions for your own model loop",
        description="Print the four tool definitions as JSON, in the format of the Anthropic "
        "Messages API (tools=[...]), OpenAI Chat Completions (tools=[...]) or MCP "
        "(tools/list). The Python API gives the same: claude_pm.tools.as_anthropic(), "
        "as_openai(), as_mcp(). The output is always JSON (--json is accepted for "
        "uniformity).",
        epilog="examples:\n  claude-pm tools\n  claude-pm tools --format openai > tools.json\n"
        "  claude-pm tools --format mcp | jq '.[].name'",
    )
    parser.add_argument(
        "--format",
        choices=[f.value for f in ToolFormat],
        default=ToolFormat.ANTHROPIC.value,
        help="provider format (default anthropic)",
    )
    add_json_flag(parser, help="JSON (what it prints anyway)")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from claude_pm.tools.formats import export_tools

    print_json(export_tools(args.format))
    return 0
