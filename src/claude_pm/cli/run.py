"""``claude-pm run AGENT "task"``: run one agent under supervision and print the result."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.cli.guard import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_LIMIT,
    EXIT_OK,
    CommandFailed,
    exit_code_of,
    with_settings,
)
from claude_pm.cli.output import (
    add_json_flag,
    describe_exit,
    human_duration,
    print_json,
    quiet,
    wants_json,
)

if TYPE_CHECKING:
    from claude_pm.config import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run one agent on a task",
        description="Run AGENT on TASK as a supervised process tree and print the result. "
        "Exits 0 when the agent completed; 1 when it failed, timed out, exceeded its "
        "memory limit or was cancelled, or is unknown; 2 on bad input; 3 when its turn, "
        "token or dollar budget stopped an LLM agent. On a terminal a status line shows "
        "the elapsed time and memory (not with -q).",
        epilog='examples:\n  claude-pm run qa "run the tests"\n'
        "  git diff | claude-pm run security - --json\n"
        '  claude-pm run data-engineer "check the pipeline" --timeout 600 --file etl.py',
    )
    parser.add_argument("agent", help="agent type, e.g. qa or data-engineer")
    parser.add_argument("task", help="the task text, or - to read it from standard input")
    parser.add_argument(
        "--timeout",
        type=int,
        default=None,
        help="seconds before the tree is killed (default: the agent's own, else 300)",
    )
    parser.add_argument(
        "--memory-limit",
        type=int,
        default=None,
        help="hard memory limit for the whole tree, MB (default: the agent's own, else 1024)",
    )
    parser.add_argument(
        "--context",
        default=None,
        help="JSON object with extra context (or @FILE to read it from a file)",
    )
    parser.add_argument(
        "--file", action="append", default=[], dest="files", help="file to focus on (repeatable)"
    )
    parser.add_argument(
        "--backend",
        default=None,
        help="backend of an agent whose definition pins none (default: $CLAUDE_PM_BACKEND, "
        "else builtin): builtin, claude-code, anthropic, openai",
    )
    parser.add_argument(
        "--budget-usd",
        type=float,
        default=None,
        help="dollar cap of the run on an LLM backend (default: $CLAUDE_PM_RUN_BUDGET_USD)",
    )
    add_json_flag(parser, help="print the full JSON result")
    parser.set_defaults(func=run_command)


def _context(args: argparse.Namespace) -> dict[str, Any]:
    """The --context object, with --file paths.

    Raises:
        CommandFailed: (exit 2) the file cannot be read or is not a JSON object.
    """
    raw = args.context
    if raw is None:
        context: dict[str, Any] = {}
    else:
        try:
            text = Path(raw[1:]).read_text(encoding="utf-8") if raw.startswith("@") else raw
        except OSError as e:
            message = f"--context {raw}: cannot read the file: {e.strerror or e}"
            raise CommandFailed(message, EXIT_BAD_INPUT) from e
        try:
            context = json.loads(text)
        except ValueError as e:
            raise CommandFailed(f"--context is not valid JSON: {e}", EXIT_BAD_INPUT) from e
        if not isinstance(context, dict):
            raise CommandFailed(
                '--context must be a JSON object, e.g. \'{"user_requirements": "..."}\'',
                EXIT_BAD_INPUT,
            )
    if args.files:
        context["file_paths"] = args.files
    return context


@with_settings
def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.tools.handler import ClaudeToolHandler

    task = sys.stdin.read() if args.task == "-" else args.task
    context = _context(args)
    context.setdefault("project_root", str(settings.project_root))
    params: dict[str, Any] = {
        "agent_type": args.agent,
        "task_description": task,
        "context": context,
    }
    if args.timeout is not None:
        params["timeout"] = args.timeout
    if args.memory_limit is not None:
        params["memory_limit"] = args.memory_limit
    handler = ClaudeToolHandler(settings=settings)
    if wants_json(args) or quiet(args) or not sys.stderr.isatty():
        result = handler.handle_tool_call("execute_agent_subprocess", params)
    else:
        result = _run_with_status(handler, params)
    if "status" not in result:  # refused before it ran: the tool's error result
        error_type = result.get("error_type")
        raise CommandFailed(
            str(result.get("error")), exit_code_of(error_type), type_name=error_type
        )
    if wants_json(args):
        print_json(result)
    else:
        _print_summary(result)
    return exit_code(result)


def exit_code(result: dict[str, Any]) -> int:
    """0 completed, 3 an LLM agent stopped by its turn/token/dollar budget, else 1."""
    from claude_pm.llm.types import LIMIT_STOPS

    if result.get("success"):
        return EXIT_OK
    if result.get("stop_reason") in {str(s.value) for s in LIMIT_STOPS}:
        return EXIT_LIMIT
    return EXIT_FAILED


def _run_with_status(handler: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The call, with a live status line on the terminal (elapsed time, tree memory)."""
    from rich.console import Console
    from rich.text import Text

    console = Console(stderr=True)
    # Text, not markup: the agent type is not validated yet, messages are not ours.
    with console.status(Text(f"starting {params['agent_type']}...")) as status:

        def on_progress(message: str, done: float | None, total: float | None) -> None:
            elapsed = f"{done:.0f}s" if done is not None else ""
            limit = f" of {total:g}s" if total else ""
            status.update(Text(f"{message} [{elapsed}{limit}]"))

        result: dict[str, Any] = handler.handle_tool_call(
            "execute_agent_subprocess", params, on_progress=on_progress
        )
    return result


def _print_summary(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape

    out = Console(highlight=False, soft_wrap=True)
    ok = result["success"]
    colour = "green" if ok else "red"
    mem = result["memory_usage"]
    out.print(
        f"[bold {colour}]{result['status']}[/] agent [bold]{escape(result['agent_type'])}[/] "
        f"in {human_duration(result['execution_time_seconds'])}, "
        + (describe_exit(result.get("exit_code"), result.get("signal")) or "not started")
        + f", peak {mem['peak_rss_mb']:.1f} MB of {mem['limit_mb']:g} MB ({mem['enforcement']})",
        markup=True,
    )
    if result.get("error"):
        out.print(f"[red]{escape(result['error'])}[/]", markup=True)
    for event in result.get("events", []):
        if event["kind"] != "enforcement":
            out.print(
                f"  event {event['kind']} at {event['at_s']:.2f}s: {event['message']}",
                markup=False,
            )
    if result.get("output"):
        out.rule("output" + (" (tail)" if result.get("output_truncated") else ""))
        out.print(result["output"].rstrip("\n"), markup=False)
    if result.get("errors"):
        out.rule("stderr" + (" (tail)" if result.get("errors_truncated") else ""))
        out.print(result["errors"].rstrip("\n"), markup=False)
    out.rule()
    tickets = _ticket_summary(result)
    if tickets:
        out.print(tickets, markup=False)
    out.print(f"run {result['run_id']}; full logs in {result['log_paths']['run_dir']}")


def _ticket_summary(result: dict[str, Any]) -> str | None:
    """``tickets: 4 found: 2 new (PM-5, PM-6), 2 already filed (PM-3, PM-4)``, or None."""
    from claude_pm.tickets.summary import describe_filing

    found = int(result.get("tickets_found") or 0)
    if not found:
        return None
    created = int(result.get("tickets_created_count") or 0)
    filed = int(result.get("duplicate_tickets_count") or 0)
    if created + filed == 0:
        why = result.get("ticket_error") or "ticket auto-creation is off"
        return f"tickets: {found} found, none stored ({why})"
    line = f"tickets: {found} found: " + describe_filing(
        result.get("tickets_created") or [], created, result.get("duplicate_tickets") or [], filed
    )
    repeats = found - created - filed
    if repeats > 0:
        line += f"; {repeats} more report(s) of the same tickets"
    if result.get("tickets_read_more"):
        line += f"\n  {result['tickets_read_more']}"
    if result.get("ticket_error"):
        line += f"\n  not all stored: {result['ticket_error']}"
    return line
