"""``claude-pm config show``: every setting, its value, and where the value came from."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.cli.guard import with_settings
from claude_pm.cli.output import Format, add_format_flags, output_format, print_json, write_tsv

if TYPE_CHECKING:
    from claude_pm.config import Settings

EPILOG = """\
examples:
  claude-pm config show
  claude-pm config show --json | jq '.settings.default_backend'
  CLAUDE_PM_BACKEND=claude-code claude-pm config show
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "config",
        help="show the settings and where each value came from",
        description="Settings come, later winning, from the defaults, your user file "
        "($XDG_CONFIG_HOME/claude-pm/config.toml), the project's files ([tool.claude-pm] in "
        "pyproject.toml, then .claude-pm/config.toml), the environment (CLAUDE_PM_*), and "
        "command-line flags. A project's file may not set the security settings (allowed "
        "project roots, the sandbox, its network, the bypass-permissions opt-in).",
        epilog=EPILOG,
    )
    parser.set_defaults(func=lambda _args: _usage(parser))
    commands = parser.add_subparsers(dest="config_command", metavar="ACTION")
    show = commands.add_parser(
        "show",
        help="every setting with its value and source",
        epilog=EPILOG,
    )
    add_format_flags(show, "setting, value, source")
    show.set_defaults(func=show_command)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _value(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_value(v) for v in value]
    return value


def report(settings: Settings) -> dict[str, Any]:
    """The settings as ``config show --json`` prints them."""
    from claude_pm.config import FIELDS
    from claude_pm.config.files import user_config_path

    project_files = [
        settings.project_root / "pyproject.toml",
        settings.project_root / ".claude-pm" / "config.toml",
    ]
    return {
        "settings": {spec.name: _value(getattr(settings, spec.name)) for spec in FIELDS},
        "sources": {spec.name: settings.origins.get(spec.name, "default") for spec in FIELDS},
        "security": [spec.name for spec in FIELDS if spec.security],
        "ignored": list(settings.ignored),
        "files": {
            "user": str(user_config_path(settings.environ)),
            "project": [str(p) for p in project_files],
        },
    }


@with_settings
def show_command(args: argparse.Namespace, settings: Settings) -> int:
    data = report(settings)
    fmt = output_format(args)
    if fmt is Format.JSON:
        print_json(data)
        return 0
    if fmt is Format.TSV:
        write_tsv(
            (name, _shown(value, fmt), data["sources"][name])
            for name, value in data["settings"].items()
        )
    else:
        width = max(len(name) for name in data["settings"])
        for name, value in data["settings"].items():
            sys.stdout.write(f"{name:<{width}}  {_shown(value, fmt)}  [{data['sources'][name]}]\n")
    for ignored in data["ignored"]:
        sys.stderr.write(f"claude-pm: ignored: {ignored}\n")
    return 0


def _shown(value: Any, fmt: Format) -> str:
    if value is None or value == []:
        return "" if fmt is Format.TSV else "-"
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)
