"""``claude-pm agents``: list, show, check, scaffold and export agent definitions."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.cli.guard import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, CommandFailed, with_settings
from claude_pm.cli.output import (
    Format,
    add_format_flags,
    add_json_flag,
    console,
    note,
    output_format,
    print_json,
    print_rows,
    wants_json,
)

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
        epilog=LIST_EXAMPLES,
    )
    parser.set_defaults(func=lambda _args: _usage(parser))
    commands = parser.add_subparsers(dest="agents_command", metavar="ACTION")

    listing = commands.add_parser(
        "list",
        help="the agents available, with their tier and whether they run here",
        description="The agents available, sorted by type. runnable says whether the agent "
        "can run here, on the backend it pins or else the configured one (the check "
        "`claude-pm run` makes; `agents show NAME` says why not). On a terminal the "
        "descriptions are cut to its width.",
        epilog=LIST_EXAMPLES,
    )
    listing.add_argument("--specialization", "-s", default=None, help="only agents with it")
    listing.add_argument("--core-only", action="store_true", help="leave out custom agents")
    add_format_flags(listing, LIST_COLUMNS)
    listing.set_defaults(func=list_command)

    show = commands.add_parser(
        "show",
        help="one agent's merged definition and its source",
        epilog="examples:\n  claude-pm agents show qa\n"
        "  claude-pm agents show data-engineer --json | jq .source_file",
    )
    show.add_argument("name", help="agent name or type, e.g. data-engineer")
    add_json_flag(show)
    show.set_defaults(func=show_command)

    check = commands.add_parser(
        "check",
        help="validate every definition file (exit 1 when one fails)",
        description="Read every definition file of every tier and report each error (the "
        "file is not loaded) and warning, then the counts: files scanned, loaded, with "
        "errors, with warnings. Exits 1 when a file has an error (with --strict, a warning).",
        epilog="examples:\n  claude-pm agents check\n  claude-pm agents check --strict\n"
        "  claude-pm agents check --json | jq .files",
    )
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    add_json_flag(check)
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
    add_json_flag(new, help="print the files written as JSON")
    new.set_defaults(func=new_command)

    export = commands.add_parser(
        "export",
        help="write the shipped definitions as Claude Code subagent files",
        description="Write agent definitions as Claude Code subagent files into --to "
        "(relative to the current directory). Exits 2 when files exist there, without --force.",
        epilog="examples:\n  claude-pm agents export --to ~/.claude/agents\n"
        "  claude-pm agents export --to out --all --claude-code-only",
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
    add_json_flag(export, help="print the files written as JSON")
    export.set_defaults(func=export_command)


LIST_COLUMNS = "type, tier, runnable (yes/no), backend, specializations, description"

LIST_EXAMPLES = """\
examples:
  claude-pm agents list
  claude-pm agents list -s testing --format tsv | cut -f1
  claude-pm agents check --strict
"""


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
    fmt = output_format(args)
    if fmt is Format.JSON:
        print_json(discovery_result(discovery, settings.default_backend))
        return EXIT_OK
    rows = []
    not_runnable = 0
    for d in discovery.agents:
        tier = f"{d.tier}, custom" if d.custom and d.tier is Tier.SHIPPED else str(d.tier)
        if d.shadows and fmt is Format.TABLE:
            tier += f" (overrides {len(d.shadows)})"
        # The check `claude-pm run` makes before it starts an agent.
        runnable = d.unavailable_reason(settings.default_backend) is None
        not_runnable += not runnable
        rows.append(
            (
                d.agent_type,
                tier,
                "yes" if runnable else "no",
                d.backend_for(settings.default_backend),
                ", ".join(d.specializations),
                " ".join(d.description.split()),
            )
        )
    columns = ("type", "tier", "runnable", "backend", "specializations", "description")
    caps = {"tier": 16, "specializations": 24}
    print_rows(columns, rows, fmt, title="Agents", wide="description", caps=caps)
    if not_runnable:
        note(
            args,
            f"{not_runnable} agent(s) cannot run on the configured backend "
            f"{settings.default_backend!r}; `claude-pm agents show NAME` says why.",
        )
    if discovery.known_specializations is not None:
        note(
            args,
            f"no agent has the specialization {args.specialization!r}; known: "
            + ", ".join(discovery.known_specializations),
        )
    if discovery.problems:
        note(
            args,
            f"{len({p.path for p in discovery.problems})} definition file(s) were not loaded; "
            "run `claude-pm agents check` for the reasons.",
        )
    return EXIT_OK


def definition_dict(d: AgentDefinition, default_backend: str) -> dict[str, Any]:
    """Every field of a merged definition and where it came from (the discovery entry, and more)."""
    from claude_pm.tools.results import agent_definition

    return agent_definition(d, default_backend)


@with_settings
def show_command(args: argparse.Namespace, settings: Settings) -> int:
    definition = _registry(settings).get(args.name)
    data = definition_dict(definition, settings.default_backend)
    if wants_json(args):
        print_json(data)
        return EXIT_OK
    import sys

    from rich.table import Table
    from rich.text import Text

    out = console()
    fields = []
    for key, value in data.items():
        if key in ("system_prompt", "source_file", "shadows") or value in (None, [], {}):
            continue
        fields.append((key, ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    if sys.stdout.isatty():
        table = Table(
            show_header=False, box=None, title=Text(definition.name), title_justify="left"
        )
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        for key, shown in fields:
            table.add_row(key, Text(shown))
        out.print(table)
    else:
        for key, shown in fields:
            out.print(f"{key}: {shown}", markup=False)
    # Paths on their own lines, never folded, so they can be copied.
    out.print(f"source_file: {data['source_file']}", markup=False, soft_wrap=True)
    for shadowed in data.get("shadows") or []:
        out.print(f"shadows: {shadowed}", markup=False, soft_wrap=True)
    out.rule("system prompt")
    out.print(definition.system_prompt, markup=False, soft_wrap=True)
    return EXIT_OK


def file_counts(
    files: Sequence[Path], problems: Sequence[Problem], warnings: Sequence[Problem]
) -> dict[str, int]:
    """Files scanned, loaded, with errors (not loaded) and with warnings."""
    with_errors = {p.path for p in problems}
    return {
        "scanned": len(files),
        "loaded": sum(1 for f in files if f not in with_errors),
        "with_errors": len(with_errors),
        "with_warnings": len({p.path for p in warnings}),
    }


@with_settings
def check_command(args: argparse.Namespace, settings: Settings) -> int:
    registry = _registry(settings)
    problems, warnings = registry.problems(), registry.warnings()
    files, agents = registry.files(), registry.agents()
    failed = bool(problems) or (args.strict and bool(warnings))
    counts = file_counts(files, problems, warnings)
    code = EXIT_FAILED if failed else EXIT_OK
    if wants_json(args):
        print_json(
            {
                "ok": not failed,
                "files": counts,
                "files_checked": counts["scanned"],
                "agents_loaded": len(agents),
                "roots": [{"tier": str(t), "path": str(p)} for t, p in registry.roots],
                "problems": [p.to_dict() for p in problems],
                "warnings": [p.to_dict() for p in warnings],
            }
        )
        return code
    out = console()
    for title, items, style in (("error", problems, "red"), ("warning", warnings, "yellow")):
        for problem in items:
            out.print(f"[{style}]{title}[/{style}] ", end="")
            out.print(_describe(problem), markup=False)
    verdict = "[red]FAILED[/red]" if failed else "[green]OK[/green]"
    out.print(
        f"{verdict}: {counts['scanned']} file(s) scanned: {counts['loaded']} loaded, "
        f"{counts['with_errors']} with errors, {counts['with_warnings']} with warnings; "
        f"{len(agents)} agent(s) available"
    )
    return code


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
    if wants_json(args):
        print_json(
            {
                "definition": str(made.definition),
                "script": str(made.script) if made.script is not None else None,
                "next": made.run_hint,
            }
        )
        return EXIT_OK
    print(f"created {made.definition}")
    if made.script is not None:
        print(f"created {made.script}  (the program the agent runs: make it do the job)")
    print(f"next: {made.run_hint}")
    return EXIT_OK


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
        raise CommandFailed(
            f"{len(existing)} file(s) already exist in {target_dir} (e.g. {existing[0].name}); "
            "pass --force to overwrite them.",
            EXIT_BAD_INPUT,
        )
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        for path, definition in targets.items():
            if args.claude_code_only or definition.source_path is None:
                text = render_definition(definition, claude_pm_fields=not args.claude_code_only)
            else:
                text = definition.source_path.read_text(encoding="utf-8-sig")
            path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise CommandFailed(f"cannot write to {target_dir}: {e.strerror or e}") from e
    if wants_json(args):
        print_json({"directory": str(target_dir), "written": [str(p) for p in targets]})
    else:
        print(f"exported {len(targets)} agent definition(s) to {target_dir}")
    return EXIT_OK
