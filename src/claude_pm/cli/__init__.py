"""The ``claude-pm`` command line.

Each sub-command lives in its own module with ``register(subparsers)``; this
module only builds the parser, sets up logging and signals, and dispatches.
Modules import their heavy dependencies inside their functions so that
``claude-pm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from claude_pm._version import __version__

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "init",
    "review",
    "run",
    "runs",
    "workflow",
    "agents",
    "tickets",
    "tools",
    "mcp",
    "pm",
    "config",
    "doctor",
    "completion",
)

DESCRIPTION = """\
claude-pm lets Claude, acting as a project manager, delegate work to specialized
agents that run as supervised process trees (timeout, memory limits, no orphans),
and turns what they report into deduplicated tickets.
"""


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="claude-pm",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"claude-pm {__version__}")
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        help="project directory (default: the current directory); state lives in "
        "PROJECT/.claude-pm/state.db and agents in PROJECT/.claude/agents/",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"claude_pm.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    from claude_pm.process import install_signal_handlers

    install_signal_handlers()
    try:
        code: int = func(args)
    except KeyboardInterrupt:
        print("claude-pm: interrupted", file=sys.stderr)
        return 130
    return code
