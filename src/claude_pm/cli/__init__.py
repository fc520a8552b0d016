"""The ``claude-pm`` command line.

Each sub-command lives in its own module with ``register(subparsers)``; this
module only builds the parser, sets up logging and signals, and dispatches.
Modules import their heavy dependencies inside their functions so that
``claude-pm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from claude_pm._version import __version__
from claude_pm.cli.guard import EXIT_BAD_INPUT, EXIT_CODES_HELP, guarded

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

EXAMPLES = """\
examples:
  claude-pm init
  claude-pm run qa "run the tests" --json
  claude-pm runs list --status failed --format tsv | cut -f1
"""


class HelpFormatter(argparse.HelpFormatter):
    """Wraps the description's paragraphs, keeps indented lines (the examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out: list[str] = []
        paragraph: list[str] = []

        def flush() -> None:
            if paragraph:
                out.append(
                    super(HelpFormatter, self)._fill_text(" ".join(paragraph), width, indent)
                )
                paragraph.clear()

        for line in text.splitlines():
            if line.strip() and not line[0].isspace():
                paragraph.append(line.strip())
                continue
            flush()
            out.append(indent + line if line.strip() else "")
        flush()
        return "\n".join(out)


class UsageError(SystemExit):
    """argparse refused the command line (exit 2); ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_BAD_INPUT)
        self.message = message


class CLIParser(argparse.ArgumentParser):
    """claude-pm's parsers: one help layout, the exit codes in every ``--help``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        epilog = kwargs.get("epilog")
        kwargs["epilog"] = f"{epilog.rstrip()}\n\n{EXIT_CODES_HELP}" if epilog else EXIT_CODES_HELP
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise UsageError(message)


PROJECT_HELP = (
    "project directory (default: the current directory); state lives in "
    "PROJECT/.claude-pm/state.db and agents in PROJECT/.claude/agents/. It names the "
    "project only: relative paths (a workflow FILE, --output, --to) stay relative to the "
    "current directory. Accepted before or after the command."
)
QUIET_HELP = "fewer lines on stderr: no progress, live view or notes (errors stay)"


def _add_common_flags(parser: argparse.ArgumentParser) -> None:
    """``--project`` and ``-q`` after any sub-command too; SUPPRESS keeps a value given before."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                known = {o for a in sub._actions for o in a.option_strings}
                if "--project" not in known:
                    sub.add_argument(
                        "--project", type=Path, default=argparse.SUPPRESS, help=PROJECT_HELP
                    )
                if "--quiet" not in known:
                    sub.add_argument(
                        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help=QUIET_HELP,
                    )  # fmt: skip
                _add_common_flags(sub)


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every sub-command registered."""
    parser = CLIParser(
        prog="claude-pm",
        description=DESCRIPTION,
        epilog=EXAMPLES,
    )
    parser.add_argument("--version", action="version", version=f"claude-pm {__version__}")
    parser.add_argument("--project", type=Path, default=None, help=PROJECT_HELP)
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"claude_pm.cli.{name}")
        module.register(subparsers)
    _add_common_flags(parser)
    return parser


def _json_requested(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON, read before (or without) parsing it."""
    words = list(argv)
    if "--" in words:
        words = words[: words.index("--")]
    return any(
        w == "--json" or w == "--format=json" or (w == "--format" and nxt == "json")
        for w, nxt in zip(words, [*words[1:], ""], strict=True)
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (see :mod:`claude_pm.cli.guard`)."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(words)
    except UsageError as e:
        return _usage_error(words, e)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    from claude_pm.process import install_signal_handlers

    install_signal_handlers()
    return guarded(func, args)


def _usage_error(words: Sequence[str], e: UsageError) -> int:
    if _json_requested(words):
        document = {
            "error": {
                "kind": "usage",
                "type": "UsageError",
                "message": e.message,
                "exit_code": EXIT_BAD_INPUT,
            }
        }
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return EXIT_BAD_INPUT
