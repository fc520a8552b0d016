"""``claude-pm agents``: list, show, check, scaffold and export agent definitions."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.cli.guard import with_settings
from claude_pm.cli.output import error, print_json

if TYPE_CHECKING:
    from claude_pm.agents.definition import AgentDefinition
    from claude_pm.agents.parsing import Problem
    from claude_pm.agents.registry import AgentRegistry
    from claude_pm.config import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "agents",
        help="list, show, check, create and export agent definitions",
        description="Agent definitions are Markdown files with YAML front matter (Claude Code's "
        "subagent format) found in PROJECT/.claude/agents/, the user folder (~/.claude/agents/ "
        "or $CLAUDE_PM_USER_AGENTS_DIR) and claude-pm itself, in that order of precedence.",
    )
    parser.set_defaults(func=lambda _args: _usage(parser))
    commands = parser.add_subparsers(dest="agents_command", metavar="ACTION")

    listing = commands.add_parser("list", help="the agents available, with their tier")
    listing.add_argument("--specialization", "-s", default=None, help="only agents with it")
    listing.add_argument("--core-only", action="store_true", help="leave out custom agents")
    listing.add_argument("--json", action="store_true", help="print the discovery result as JSON")
    listing.set_defaults(func=list_command)

    show = commands.add_parser("show", help="one agent's merged definition and its source")
    show.add_argument("name", help="agent name or type, e.g. data-engineer")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=show_command)

    check = commands.add_parser(
        "check", help="validate every definition file (exit 1 when one fails)"
    )
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    check.add_argument("--json", action="store_true", help="print JSON")
    check.set_defaults(func=check_command)

    new = commands.add_parser(
        "new",
        help="write a new agent that runs, in PROJECT/.claude/agents/",
        description="Write PROJECT/.claude/agents/NAME.md: by default a command agent with "
        "a small Python script beside it (NAME.py) that reads its hand-off and prints a "
        "report, so it runs at once; with --prompt-only a Claude Code subagent (a system "
        "prompt) for the LLM backends.",
        epilog="examples:\n  claude-pm agents new api-checker\n"
        '  claude-pm run api-checker "check the handlers"\n'
        "  claude-pm agents new reviewer --prompt-only --description 'Reviews diffs'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    new.add_argument("name", help="lowercase letters, digits and hyphens, e.g. api-reviewer")
    new.add_argument(
        "--prompt-only",
        action="store_true",
        help="a system-prompt agent for an LLM backend instead of a command agent",
    )
    new.add_argument("--description", default=None, help="when a PM should delegate to it")
    new.add_argument(
        "--specialization", action="append", default=[], help="a specialization (repeatable)"
    )
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    new.set_defaults(func=new_command)

    export = commands.add_parser(
        "export", help="write the shipped definitions as Claude Code subagent files"
    )
    export.add_argument("--to", required=True, type=Path, dest="to", help="target directory")
    export.add_argument(
        "--all", action="store_true", help="export every available agent, not only shipped ones"
    )
    export.add_argument(
        "--claude-code-only",
        action="store_true",
        help="write only Claude Code's fields (drop claude-pm's own)",
    )
    export.add_argument("--force", action="store_true", help="overwrite existing files")
    export.set_defaults(func=export_command)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _registry(settings: Settings) -> AgentRegistry:
    from claude_pm.agents.registry import AgentRegistry

    return AgentRegistry.from_settings(settings)


@with_settings
def list_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.agents.definition import Tier
    from claude_pm.tools.results import discovery_result

    registry = _registry(settings)
    discovery = registry.discover(args.specialization, include_custom=not args.core_only)
    if args.json:
        print_json(discovery_result(discovery, settings.default_backend))
        return 0
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    table = Table(title="Agents", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("type", no_wrap=True)
    table.add_column("tier", no_wrap=True)
    table.add_column("specializations", ratio=1)
    table.add_column("description", ratio=2)
    for d in discovery.agents:
        tier = f"{d.tier}, custom" if d.custom and d.tier is Tier.SHIPPED else str(d.tier)
        if d.shadows:
            tier += f"\n(overrides {len(d.shadows)})"
        # Text cells: a definition's words are not rich markup.
        table.add_row(
            d.agent_type, tier, Text(", ".join(d.specializations)), Text(_summary(d.description))
        )
    console.print(table)
    if discovery.known_specializations is not None:
        console.print(
            f"No agent has the specialization {args.specialization!r}. Known: "
            + ", ".join(discovery.known_specializations),
            markup=False,
            soft_wrap=True,
        )
    if discovery.problems:
        console.print(
            f"{len(discovery.problems)} definition file(s) were not loaded; "
            "run `claude-pm agents check` for the reasons.",
            markup=False,
            soft_wrap=True,
        )
    return 0


def _summary(text: str, limit: int = 110) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def definition_dict(d: AgentDefinition, default_backend: str) -> dict[str, Any]:
    """Every field of a merged definition and where it came from (the discovery entry, and more)."""
    from claude_pm.tools.results import agent_entry

    return {
        **agent_entry(d, default_backend),
        "tools": list(d.tools) if d.tools is not None else None,
        "context_keys": list(d.context_keys),
        "visible_context_keys": list(d.visible_context_keys()),
        "timeout_s": d.timeout_s,
        "memory_limit_mb": d.memory_limit_mb,
        "env": list(d.env),
        "backend_options": dict(d.backend_options),
        "version": d.version,
        "claude_code": dict(d.claude_code),
        "system_prompt": d.system_prompt,
    }


@with_settings
def show_command(args: argparse.Namespace, settings: Settings) -> int:
    definition = _registry(settings).get(args.name)
    data = definition_dict(definition, settings.default_backend)
    if args.json:
        print_json(data)
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    table = Table(show_header=False, box=None, title=Text(definition.name), title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    paths = ("source_file", "shadows")
    for key, value in data.items():
        if key == "system_prompt" or key in paths or value in (None, [], {}):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        table.add_row(key, Text(shown))
    console.print(table)
    # Paths on their own lines, never folded, so they can be copied.
    console.print(f"source_file: {data['source_file']}", markup=False, soft_wrap=True)
    for shadowed in data.get("shadows") or []:
        console.print(f"shadows: {shadowed}", markup=False, soft_wrap=True)
    console.rule("system prompt")
    console.print(definition.system_prompt, markup=False, highlight=False, soft_wrap=True)
    return 0


@with_settings
def check_command(args: argparse.Namespace, settings: Settings) -> int:
    registry = _registry(settings)
    problems, warnings = registry.problems(), registry.warnings()
    files, agents = registry.files(), registry.agents()
    failed = bool(problems) or (args.strict and bool(warnings))
    if args.json:
        print_json(
            {
                "ok": not failed,
                "files_checked": len(files),
                "agents_loaded": len(agents),
                "roots": [{"tier": str(t), "path": str(p)} for t, p in registry.roots],
                "problems": [p.to_dict() for p in problems],
                "warnings": [p.to_dict() for p in warnings],
            }
        )
        return 1 if failed else 0
    from rich.console import Console

    console = Console(highlight=False)
    for title, items, style in (("error", problems, "red"), ("warning", warnings, "yellow")):
        for problem in items:
            console.print(f"[{style}]{title}[/{style}] ", end="")
            console.print(_describe(problem), markup=False, soft_wrap=True)
    verdict = "[red]FAILED[/red]" if failed else "[green]OK[/green]"
    console.print(
        f"{verdict}: {len(files)} file(s) checked, {len(agents)} agent(s) available, "
        f"{len(problems)} file(s) not loaded, {len(warnings)} warning(s)",
        soft_wrap=True,
    )
    return 1 if failed else 0


def _describe(problem: Problem) -> str:
    text = problem.describe()
    return f"{text} (expected {problem.expected})" if problem.expected else text


@with_settings
def new_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.agents.scaffold import ScaffoldKind, write_scaffold

    made = write_scaffold(
        settings.project_agents_dir,
        args.name,
        description=args.description,
        specializations=tuple(args.specialization),
        kind=ScaffoldKind.PROMPT if args.prompt_only else ScaffoldKind.COMMAND,
        force=args.force,
    )
    print(f"created {made.definition}")
    if made.script is not None:
        print(f"created {made.script}  (the program the agent runs: make it do the job)")
    print(f"next: {made.run_hint}")
    return 0


@with_settings
def export_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.agents.definition import Tier
    from claude_pm.agents.fields import render_definition
    from claude_pm.agents.registry import AgentRegistry

    registry = _registry(settings)
    if args.all:
        chosen = registry.agents()
    else:  # the shipped definitions, even those a project or user file overrides
        chosen = [d for d in AgentRegistry(None, None).agents() if d.tier is Tier.SHIPPED]
    target_dir: Path = args.to
    targets = {target_dir / f"{d.name}.md": d for d in chosen}
    existing = [p for p in targets if p.exists()]
    if existing and not args.force:
        error(
            f"{len(existing)} file(s) already exist in {target_dir} (e.g. {existing[0].name}); "
            "pass --force to overwrite them."
        )
        return 1
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        for path, definition in targets.items():
            if args.claude_code_only or definition.source_path is None:
                text = render_definition(definition, claude_pm_fields=not args.claude_code_only)
            else:
                text = definition.source_path.read_text(encoding="utf-8-sig")
            path.write_text(text, encoding="utf-8")
    except OSError as e:
        error(f"cannot write to {target_dir}: {e.strerror or e}")
        return 1
    print(f"exported {len(targets)} agent definition(s) to {target_dir}")
    return 0
