"""``claude-pm tickets ...``: list, show, update, extract, export and push tickets.

Exit codes: 0 done, 1 the operation failed (unknown ticket, database or API
error), 2 bad input (a flag value, a missing file).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.cli.guard import with_settings
from claude_pm.cli.output import error, print_json
from claude_pm.tickets.export import ExportFormat
from claude_pm.tickets.model import Priority, TicketStatus, TicketType

if TYPE_CHECKING:
    from claude_pm.config import Settings
    from claude_pm.tickets.model import StoredTicket, Ticket
    from claude_pm.tickets.store import TicketStore

_STATUSES = tuple(s.value for s in TicketStatus)
_TYPES = tuple(t.value for t in TicketType)
_PRIORITIES = tuple(p.value for p in Priority)
_FORMATS = tuple(f.value for f in ExportFormat)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tickets",
        help="list, show, update, extract, export and push tickets",
        description="Tickets found in agent output, stored deduplicated in the project's "
        "state database (PROJECT/.claude-pm/state.db).",
    )
    parser.set_defaults(func=_help(parser))
    commands = parser.add_subparsers(dest="tickets_command", metavar="ACTION")

    p = commands.add_parser("list", help="list tickets, filtered")
    p.add_argument("--status", choices=_STATUSES)
    p.add_argument("--type", choices=_TYPES)
    p.add_argument("--priority", choices=_PRIORITIES)
    p.add_argument("--limit", type=int, default=None, help="at most this many tickets")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=list_command)

    p = commands.add_parser("show", help="show one ticket with its context")
    p.add_argument("id", help="ticket id, e.g. PM-42")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=show_command)

    p = commands.add_parser("update", help="change a ticket's status or priority")
    p.add_argument("id", help="ticket id, e.g. PM-42")
    p.add_argument("--status", choices=_STATUSES)
    p.add_argument("--priority", choices=_PRIORITIES)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=update_command)

    p = commands.add_parser(
        "extract",
        help="find tickets in a file or standard input",
        description="Find TODO/FIXME/BUG/FEATURE/SECURITY/PERFORMANCE/REFACTOR items in FILE "
        "(or standard input with -), streaming it; with --store, save them.",
    )
    p.add_argument("file", help="a file to read, or - for standard input")
    p.add_argument("--agent", default="manual", help="source agent to record (default: manual)")
    p.add_argument("--store", action="store_true", help="save the tickets (deduplicated)")
    p.add_argument("--run", default=None, help="source run id to record when storing")
    p.add_argument(
        "--record-file",
        action="store_true",
        help="record FILE (relative to the project) as the file the findings are about",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=extract_command)

    p = commands.add_parser(
        "export",
        help="write tickets as Markdown files, JSON or CSV",
        description="markdown writes one PM-<n>.md per ticket with YAML front matter into "
        "--output (default PROJECT/tickets); json and csv go to --output or standard output.",
    )
    p.add_argument("--format", choices=_FORMATS, default="markdown")
    p.add_argument("--output", type=Path, default=None, help="directory (markdown) or file")
    p.add_argument("--status", choices=_STATUSES)
    p.add_argument("--type", choices=_TYPES)
    p.add_argument("--priority", choices=_PRIORITIES)
    p.set_defaults(func=export_command)

    p = commands.add_parser(
        "push",
        help="create GitHub issues for tickets not pushed yet",
        description="Create one GitHub issue per ticket that has none yet, with the token in "
        "GITHUB_TOKEN, and record the issue url on the ticket.",
    )
    p.add_argument("--repo", required=True, help="owner/name")
    p.add_argument("--api-url", default=None, help="REST API base (default: the public API)")
    p.add_argument("--status", choices=_STATUSES, default="open")
    p.add_argument("--type", choices=_TYPES)
    p.add_argument("--priority", choices=_PRIORITIES)
    p.add_argument("--dry-run", action="store_true", help="list what would be pushed")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=push_command)


def _help(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def show_help(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show_help


def _store(settings: Settings) -> TicketStore:
    from claude_pm.state import Database
    from claude_pm.tickets.store import TicketStore

    return TicketStore(Database(settings.db_path))


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _print_table(tickets: Sequence[StoredTicket]) -> None:
    from rich.table import Table
    from rich.text import Text

    console = _console()
    if not tickets:
        console.print("No tickets.")
        return
    table = Table(show_edge=False)
    for column in ("id", "status", "type", "priority", "seen", "title"):
        table.add_column(column, no_wrap=column != "title")
    for t in tickets:
        table.add_row(
            t.id, t.status.value, t.type.value, t.priority.value, str(t.times_seen), Text(t.title)
        )
    console.print(table)


def _print_ticket(ticket: StoredTicket) -> None:
    from rich.markup import escape

    console = _console()
    data = ticket.to_dict()
    console.print(f"[bold]{ticket.id}[/bold]: {escape(ticket.title)}")
    for key in ("status", "type", "priority", "source_agent", "source_run", "file", "line"):
        if data[key] is not None:
            console.print(f"  {key}: {escape(str(data[key]))}")
    console.print(
        f"  seen {ticket.times_seen} time(s), {data['first_seen']} .. {data['last_seen']}"
    )
    if ticket.external_url:
        console.print(f"  external: {escape(ticket.external_url)}")
    if ticket.context:
        console.print()
        console.print(escape(ticket.context))


@with_settings
def list_command(args: argparse.Namespace, settings: Settings) -> int:
    tickets = _store(settings).find(
        status=args.status, ticket_type=args.type, priority=args.priority, limit=args.limit
    )
    if args.json:
        print_json([t.to_dict() for t in tickets])
    else:
        _print_table(tickets)
    return 0


@with_settings
def show_command(args: argparse.Namespace, settings: Settings) -> int:
    ticket = _store(settings).get(args.id)
    if args.json:
        print_json(ticket.to_dict())
    else:
        _print_ticket(ticket)
    return 0


@with_settings
def update_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.status is None and args.priority is None:
        error("nothing to change: give --status and/or --priority")
        return 2
    ticket = _store(settings).update(args.id, status=args.status, priority=args.priority)
    if args.json:
        print_json(ticket.to_dict())
    else:
        _console().print(
            f"{ticket.id} is now {ticket.status.value}, priority {ticket.priority.value}."
        )
    return 0


def _extract(args: argparse.Namespace, settings: Settings) -> list[Ticket]:
    from claude_pm.tickets.extractor import BLOCK_CHARS, extract_path, iter_extract

    if args.file == "-":
        chunks = iter(lambda: sys.stdin.read(BLOCK_CHARS), "")
        return list(iter_extract(chunks, args.agent))
    path = Path(args.file)
    if not path.is_file():
        from claude_pm.errors import InvalidInput

        raise InvalidInput(f"{args.file!r} is not a readable file.", field="file")
    label: str | None = None
    if args.record_file:
        resolved = path.resolve()
        try:
            label = resolved.relative_to(settings.project_root).as_posix()
        except ValueError:
            label = resolved.as_posix()
    return extract_path(path, args.agent, file=label)


@with_settings
def extract_command(args: argparse.Namespace, settings: Settings) -> int:
    tickets = _extract(args, settings)
    rows: list[dict[str, Any]]
    if args.store:
        rows = [s.to_dict() for s in _store(settings).save(tickets, source_run=args.run)]
    else:
        rows = [t.to_dict() for t in tickets]
    if args.json:
        print_json(rows)
        return 0
    console = _console()
    for row in rows:
        prefix = ""
        if args.store:
            prefix = row["id"] + (" (seen before) " if row["duplicate"] else " ")
        console.print(
            f"{prefix}[{row['type']}/{row['priority']}] {row['title']} (line {row['line']})",
            markup=False,
        )
    new = sum(1 for r in rows if not r.get("duplicate", False))
    summary = f"{len(rows)} ticket(s) found"
    if args.store:
        summary += f", {new} new, {len(rows) - new} already known"
    console.print(summary + ".")
    return 0


@with_settings
def export_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.tickets import export

    tickets = _store(settings).find(
        status=args.status, ticket_type=args.type, priority=args.priority
    )
    if args.format == "markdown":
        directory = args.output or settings.project_root / "tickets"
        written = export.export_markdown(tickets, directory)
        sys.stderr.write(f"wrote {len(written)} ticket file(s) to {directory}\n")
        return 0
    text = export.to_json(tickets) if args.format == "json" else export.to_csv(tickets)
    if args.output is None:
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8", newline="")
        sys.stderr.write(f"wrote {len(tickets)} ticket(s) to {args.output}\n")
    return 0


@with_settings
def push_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.tickets.github import DEFAULT_API_URL, GitHubSink
    from claude_pm.tickets.sinks import push_tickets

    store = _store(settings)
    tickets = store.find(status=args.status, ticket_type=args.type, priority=args.priority)
    pending = [t for t in tickets if not t.external_url]
    if args.dry_run:
        if args.json:
            print_json([t.id for t in pending])
        else:
            _console().print(f"would push {len(pending)} ticket(s) to {args.repo}.")
        return 0
    sink = GitHubSink(
        args.repo,
        settings.environ.get("GITHUB_TOKEN", ""),
        api_url=args.api_url or DEFAULT_API_URL,
    )
    results = push_tickets(store, sink, pending)
    if args.json:
        print_json([{"id": r.id, "external_url": r.external_url} for r in results])
    else:
        console = _console()
        for r in results:
            console.print(f"{r.id} -> {r.external_url}", markup=False)
        console.print(f"pushed {len(results)} ticket(s) to {args.repo}.")
    return 0
