"""``claude-pm mcp``: serve the four tools over MCP (stdio, or streamable HTTP with ``--http``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from claude_pm.cli.guard import EXIT_BAD_INPUT, EXIT_OK, CommandFailed

#: Environment variable holding the bearer token for ``--http`` (instead of ``--token``).
TOKEN_ENV = "CLAUDE_PM_MCP_TOKEN"

EPILOG = """\
examples:
  claude-pm mcp --http --port 8765            (serves http://127.0.0.1:8765/mcp)
  claude mcp add claude-pm -- claude-pm mcp                  (Claude Code)
  claude mcp add shop -- claude-pm mcp --project ~/src/shop  (another project)
  Claude Desktop: "mcpServers": {"claude-pm": {"command": "claude-pm", "args": ["mcp"]}}
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "mcp",
        help="serve the tools to MCP clients (Claude Code, Claude Desktop)",
        description="Serve execute_agent_subprocess, discover_available_agents, "
        "coordinate_multi_agent_workflow and create_tickets_from_output over MCP, with the "
        "prompts review and triage and the claude-pm:// resources (tickets, a run's whole "
        "report, agent definitions): on stdio by default, or over streamable HTTP with "
        "--http. Over HTTP the server binds "
        "127.0.0.1 unless --host says otherwise; any other address requires a bearer token "
        f"(--token or {TOKEN_ENV}) on every request. No CORS headers are sent. A message "
        "(a stdio line, an HTTP body) may be at most 16 MiB; a larger one, and anything that "
        "is not one JSON-RPC message, is answered with a JSON-RPC error.",
        epilog=EPILOG,
    )
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP, not stdio")
    parser.add_argument("--host", default=None, help="address to bind with --http (127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port with --http (8765; 0: any)")
    parser.add_argument(
        "--token",
        default=None,
        help=f"bearer token every HTTP request must carry (default: ${TOKEN_ENV})",
    )
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from claude_pm.config import load_settings
    from claude_pm.tools.handler import ClaudeToolHandler

    if not args.http and (args.host, args.port, args.token) != (None, None, None):
        raise CommandFailed(
            "--host, --port and --token apply to --http; add --http to serve over HTTP.",
            EXIT_BAD_INPUT,
        )
    # Errors go to the guard (claude_pm.cli.guard.guarded): bad settings exit 2.
    settings = load_settings(project_root=args.project)
    handler = ClaudeToolHandler(settings=settings)

    from claude_pm import mcp_server

    if not args.http:
        mcp_server.run_stdio(handler)
        return 0
    options = mcp_server.HttpOptions(
        host=args.host or mcp_server.DEFAULT_HTTP_HOST,
        port=mcp_server.DEFAULT_HTTP_PORT if args.port is None else args.port,
        token=args.token or settings.environ.get(TOKEN_ENV) or None,
    )

    def listening(url: str) -> None:
        auth = " (bearer token required)" if options.token else ""
        sys.stderr.write(f"claude-pm: MCP server listening on {url}{auth}\n")
        sys.stderr.flush()

    try:
        mcp_server.run_http(handler, options, on_listening=listening)
    except OSError as e:
        raise CommandFailed(f"cannot serve on {options.host}:{options.port}: {e}") from e
    return EXIT_OK
