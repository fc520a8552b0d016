"""``claude-pm completion SHELL``: a completion script for bash, zsh or fish.

Generated from the parser itself by shtab, so it always knows every command
and flag of this version.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

SHELLS = ("bash", "zsh", "fish")

EPILOG = """\
examples:
  claude-pm completion bash > ~/.local/share/bash-completion/completions/claude-pm
  claude-pm completion zsh > "${fpath[1]}/_claude-pm"
  claude-pm completion fish > ~/.config/fish/completions/claude-pm.fish
  source <(claude-pm completion bash)      # this shell only
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh, fish)",
        description="Print a completion script for SHELL, generated from claude-pm's own "
        "parser (shtab). Save it where your shell loads completions.",
        epilog=EPILOG,
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for")
    parser.set_defaults(func=completion_command)


def completion_command(args: argparse.Namespace) -> int:
    import shtab

    from claude_pm.cli import build_parser

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return 0
