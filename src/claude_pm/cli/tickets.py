"""``claude-pm tickets ...``: list, show, update, extract, export and push tickets.

Exit codes as every command's (:mod:`claude_pm.cli.guard`): 0 done, 1 the
operation failed (unknown ticket, database or API error), 2 bad input (a flag
value, a missing file).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.cli.guard import EXIT_BAD_INPUT, CommandFailed, with_settings
from claude_pm.cli.output import (
    Format,
    add_format_flags,
    add_json_flag,
    note,
    output_format,
    print_json,
    wants_json,
    write_tsv,
)
from claude_pm.tickets.export import ExportFormat
from claude_pm.tickets.model import Priority, TicketStatus, TicketType

if TYPE_CHECKING:
    from claude_pm.config import Settings
    from claude_pm.tickets.model import SavedTicket, StoredTicket, Ticket
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
        epilog=LIST_EXAMPLES,
    )
    parser.set_defaults(func=_help(parser))
    commands = parser.add_subparsers(dest="tickets_command", metavar="ACTION")

    p = commands.add_parser(
        "list",
        help="list tickets, filtered",
        description="List tickets in id order, streamed (any number, in bounded memory).",
        epilog=LIST_EXAMPLES,
    )
    p.add_argument("--status", choices=_STATUSES)
    p.add_argument("--type", choices=_TYPES)
    p.add_argument("--priority", choices=_PRIORITIES)
    p.add_argument(
        "--run",
        default=None,
        metavar="RUN_ID",
        help="only the tickets this run reported, new or already filed (the run id of "
        "`claude-pm run`, or the extract-... id of a tool call or `tickets extract`)",
    )
    p.add_argument("--limit", type=int, default=None, help="at most this many tickets")
    add_format_flags(p, LIST_COLUMNS)
    p.set_defaults(func=list_command)

    p = commands.add_parser(
        "show",
        help="show one ticket with its context and the lines it was seen on",
        description="One ticket: its fields, where the finding is, the lines it was seen "
        "on and its context. Exits 1 for an unknown ticket.",
        epilog="examples:\n  claude-pm tickets show PM-42\n"
        "  claude-pm tickets show PM-42 --json | jq .lines_count",
    )
    p.add_argument("id", help="ticket id, e.g. PM-42")
    add_json_flag(p)
    p.set_defaults(func=show_command)

    p = commands.add_parser(
        "update",
        help="change a ticket's status or priority",
        epilog="examples:\n  claude-pm tickets update PM-42 --status resolved\n"
        "  claude-pm tickets update PM-7 --priority critical --json",
    )
    p.add_argument("id", help="ticket id, e.g. PM-42")
    p.add_argument("--status", choices=_STATUSES)
    p.add_argument("--priority", choices=_PRIORITIES)
    add_json_flag(p)
    p.set_defaults(func=update_command)

    p = commands.add_parser(
        "extract",
        help="find tickets in a file or standard input",
        description="Find TODO/FIXME/XXX/BUG/FEATURE/SECURITY/PERFORMANCE/REFACTOR/HACK items "
        "in FILE (or standard input with -), streaming it; with --store, save them and "
        "print how many were new and how many already filed. A leading path:line in a "
        "title is where the finding is (its file and line), unless --record-file says "
        "FILE is the source itself. FILE is relative to the current directory.",
        epilog="examples:\n  claude-pm tickets extract build.log\n"
        "  pytest 2>&1 | claude-pm tickets extract - --store --agent qa\n"
        "  claude-pm tickets extract src/app.py --record-file --store",
    )
    p.add_argument("file", help="a file to read, or - for standard input")
    p.add_argument("--agent", default="manual", help="source agent to record (default: manual)")
    p.add_argument("--store", action="store_true", help="save the tickets (deduplicated)")
    p.add_argument(
        "--run",
        default=None,
        help="run id to record when storing (default: a new extract-... id, printed)",
    )
    p.add_argument(
        "--record-file",
        action="store_true",
        help="FILE is the source the findings are in: record it (relative to the project) "
        "as their file, and its line numbers as theirs",
    )
    add_json_flag(p)
    p.set_defaults(func=extract_command)

    p = commands.add_parser(
        "export",
        help="write tickets as Markdown files, JSON, CSV or SARIF",
        description="markdown writes one PM-<n>.md per ticket with YAML front matter into "
        "--output (default PROJECT/tickets); json, csv and sarif (SARIF 2.1.0, for GitHub "
        "code scanning and editors) go to --output or standard output. "
        "--output is relative to the current directory.",
        epilog="examples:\n  claude-pm tickets export\n"
        "  claude-pm tickets export --json --status open > open.json\n"
        "  claude-pm tickets export --format sarif --output tickets.sarif",
    )
    p.add_argument("--format", choices=_FORMATS, default="markdown")
    add_json_flag(p, help="the tickets as JSON on standard output (same as --format json)")
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
        epilog="examples:\n  claude-pm tickets push --repo me/shop --dry-run\n"
        "  GITHUB_TOKEN=... claude-pm tickets push --repo me/shop --type bug",
    )
    p.add_argument("--repo", required=True, help="owner/name")
    p.add_argument("--api-url", default=None, help="REST API base (default: the public API)")
    p.add_argument("--status", choices=_STATUSES, default="open")
    p.add_argument("--type", choices=_TYPES)
    p.add_argument("--priority", choices=_PRIORITIES)
    p.add_argument("--dry-run", action="store_true", help="list what would be pushed")
    add_json_flag(p)
    p.set_defaults(func=push_command)


LIST_COLUMNS = "id, status, type, priority, times seen, file:line, title"

LIST_EXAMPLES = """\
examples:
  claude-pm tickets list --status open
  claude-pm tickets list --type bug --format tsv | cut -f1,7
  claude-pm tickets list --run 20261125T201140Z-a2240019 --json
"""


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
    from claude_pm.cli.output import console

    return console()


_TABLE_PAGE = 500
#: Column widths when the list runs over several pages, so that the pages line up.
_TABLE_WIDTHS = {"id": 10, "status": 11, "type": 11, "priority": 8, "seen": 7}


def _print_table(tickets: Iterable[StoredTicket]) -> None:
    """Tickets as a table, a page at a time: any number of rows in bounded memory.

    One page fits its columns to its rows; when there are more, every page
    uses the same fixed widths.
    """
    from rich.table import Table
    from rich.text import Text

    console = _console()
    pages = 0
    page: list[StoredTicket] = []

    def flush(fixed: bool) -> None:
        table = Table(show_edge=False, show_header=pages == 0)
        for column, width in _TABLE_WIDTHS.items():
            table.add_column(column, no_wrap=True, width=width if fixed else None)
        table.add_column("title")
        for t in page:
            table.add_row(
                t.id,
                t.status.value,
                t.type.value,
                t.priority.value,
                str(t.times_seen),
                Text(t.title),
            )
        console.print(table)

    for ticket in tickets:
        if len(page) >= _TABLE_PAGE:
            flush(fixed=True)
            pages += 1
            page = []
        page.append(ticket)
    if page:
        flush(fixed=pages > 0)
    elif not pages:
        console.print("No tickets.")


class _JsonArray:
    """A JSON array written an element at a time (as ``print_json`` would write the list)."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        text = json.dumps(row, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write(("[\n" if self.count == 0 else ",\n") + textwrap.indent(text, "  "))
        self.count += 1

    def close(self) -> None:
        sys.stdout.write("[]\n" if self.count == 0 else "\n]\n")


def _print_json_rows(rows: Iterable[dict[str, Any]]) -> None:
    array = _JsonArray()
    for row in rows:
        array.add(row)
    array.close()


def _where(file: str | None, line: int | None) -> str | None:
    if file is None:
        return None
    return f"{file}:{line}" if line is not None else file


def _print_ticket(ticket: StoredTicket, requested: str, store: TicketStore) -> None:
    from rich.markup import escape

    console = _console()
    data = ticket.to_dict()
    if ticket.id != requested:
        console.print(f"{requested} was merged into {ticket.id} (the same finding).")
    console.print(f"[bold]{ticket.id}[/bold]: {escape(ticket.title)}")
    for key in ("status", "type", "priority", "source_agent", "source_run", "last_run"):
        if data[key] is not None:
            console.print(f"  {key}: {escape(str(data[key]))}")
    where = _where(ticket.file, ticket.line)
    if where is not None:
        console.print(f"  where: {escape(where)}")
    if ticket.output_line is not None:
        console.print(f"  output line: {ticket.output_line}")
    lines, total = store.lines(ticket.seq, limit=_SHOWN_LINES)
    if total > 1 or (total == 1 and lines[0].line != ticket.line):
        latest = [str(x.line) for x in lines if x.last_run == ticket.last_run]
        earlier = [str(x.line) for x in lines if x.last_run != ticket.last_run]
        text = ", ".join(latest) + " (latest run)" if latest else ""
        if earlier:
            text += ("; " if text else "") + "earlier: " + ", ".join(earlier)
        if total > len(lines):
            text += f"; and {total - len(lines)} more"
        console.print(f"  lines: {text}")
    console.print(
        f"  seen {ticket.times_seen} time(s), {data['first_seen']} .. {data['last_seen']}"
    )
    if ticket.external_url:
        console.print(f"  external: {escape(ticket.external_url)}")
    if ticket.context:
        console.print()
        console.print(escape(ticket.context))


_SHOWN_LINES = 100
#: Ticket ids named in the summary line of ``extract --store``.
_LINE_IDS = 10


@with_settings
def list_command(args: argparse.Namespace, settings: Settings) -> int:
    tickets = _store(settings).iter_find(
        status=args.status,
        ticket_type=args.type,
        priority=args.priority,
        run=args.run,
        limit=args.limit,
    )
    fmt = output_format(args)
    if fmt is Format.JSON:
        _print_json_rows(t.to_dict() for t in tickets)
    elif fmt is Format.TSV:
        write_tsv(
            (
                t.id,
                t.status.value,
                t.type.value,
                t.priority.value,
                t.times_seen,
                _where(t.file, t.line),
                t.title,
            )
            for t in tickets
        )
    else:
        _print_table(tickets)
    return 0


@with_settings
def show_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.tickets.model import format_ticket_id, parse_ticket_id

    store = _store(settings)
    requested = format_ticket_id(parse_ticket_id(args.id))
    ticket = store.get(requested)
    if wants_json(args):
        lines, total = store.lines(ticket.seq, limit=_SHOWN_LINES)
        data = ticket.to_dict()
        data["lines"] = [x.to_dict() for x in lines]
        data["lines_count"] = total
        if ticket.id != requested:
            data["merged_from"] = requested
        print_json(data)
    else:
        _print_ticket(ticket, requested, store)
    return 0


@with_settings
def update_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.status is None and args.priority is None:
        raise CommandFailed("nothing to change: give --status and/or --priority", EXIT_BAD_INPUT)
    ticket = _store(settings).update(args.id, status=args.status, priority=args.priority)
    if wants_json(args):
        print_json(ticket.to_dict())
    else:
        _console().print(
            f"{ticket.id} is now {ticket.status.value}, priority {ticket.priority.value}."
        )
    return 0


def _extract(args: argparse.Namespace, settings: Settings) -> Iterator[Ticket]:
    """The findings in FILE (or stdin), one per line, streamed.

    Raises:
        InvalidInput: FILE is not a readable file.
    """
    from claude_pm.tickets.extractor import BLOCK_CHARS, iter_extract, iter_extract_path

    root = settings.project_root
    if args.file == "-":
        chunks = iter(lambda: sys.stdin.read(BLOCK_CHARS), "")
        return iter_extract(chunks, args.agent, project_root=root)
    path = Path(args.file)
    if not path.is_file():
        from claude_pm.errors import InvalidInput

        raise InvalidInput(f"{args.file!r} is not a readable file.", field="file")
    label: str | None = None
    if args.record_file:
        resolved = path.resolve()
        try:
            label = resolved.relative_to(settings.project_root.resolve()).as_posix()
        except ValueError:
            label = resolved.as_posix()
    return iter_extract_path(path, args.agent, file=label, project_root=root)


def _ticket_row(ticket: Ticket) -> str:
    where = _where(ticket.file, ticket.line) or f"output line {ticket.output_line}"
    return f"[{ticket.type.value}/{ticket.priority.value}] {ticket.title} ({where})"


@with_settings
def extract_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.tickets.summary import describe_filing

    tickets = _extract(args, settings)
    console = _console()
    if not args.store:
        if wants_json(args):
            _print_json_rows(t.to_dict() for t in tickets)
            return 0
        found = 0
        for ticket in tickets:
            found += 1
            console.print(_ticket_row(ticket), markup=False)
        console.print(f"{found} ticket(s) found.")
        return 0

    store = _store(settings)
    if wants_json(args):
        array = _JsonArray()
        try:
            store.save_stream(
                tickets, source_run=args.run, keep=0, on_saved=lambda s: array.add(s.to_dict())
            )
        finally:
            array.close()
        return 0

    def show(saved: SavedTicket) -> None:
        seen = " (seen before)" if saved.duplicate else ""
        console.print(f"{saved.id}{seen} {_ticket_row(saved.ticket)}", markup=False)

    summary = store.save_stream(tickets, source_run=args.run, keep=_LINE_IDS, on_saved=show)
    line = describe_filing(
        summary.created_ids, summary.created_count, summary.filed_ids, summary.filed_count
    )
    repeats = summary.found - summary.created_count - summary.filed_count
    more = f"; {repeats} more report(s) of the same tickets" if repeats > 0 else ""
    console.print(f"{summary.found} ticket(s) found: {line}{more}.", markup=False, soft_wrap=True)
    console.print(
        f"recorded as run {summary.run}: claude-pm tickets list --run {summary.run}",
        markup=False,
        soft_wrap=True,
    )
    return 0


@with_settings
def export_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.tickets import export

    chosen = args.format
    if args.json:
        if chosen not in ("markdown", "json"):  # markdown is the default, not a choice
            raise CommandFailed(f"--json and --format {chosen} disagree: give one", EXIT_BAD_INPUT)
        chosen = "json"
    tickets = _store(settings).find(
        status=args.status, ticket_type=args.type, priority=args.priority
    )
    if chosen == "markdown":
        directory = args.output or settings.project_root / "tickets"
        written = export.export_markdown(tickets, directory)
        note(args, f"wrote {len(written)} ticket file(s) to {directory}")
        return 0
    if chosen == "sarif":
        text = export.to_sarif(tickets, project_root=settings.project_root)
    elif chosen == "json":
        text = export.to_json(tickets)
    else:
        text = export.to_csv(tickets)
    if args.output is None:
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8", newline="")
        note(args, f"wrote {len(tickets)} ticket(s) to {args.output}")
    return 0


@with_settings
def push_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.tickets.github import DEFAULT_API_URL, GitHubSink
    from claude_pm.tickets.sinks import push_tickets

    store = _store(settings)
    tickets = store.find(status=args.status, ticket_type=args.type, priority=args.priority)
    pending = [t for t in tickets if not t.external_url]
    if args.dry_run:
        if wants_json(args):
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
    if wants_json(args):
        print_json([{"id": r.id, "external_url": r.external_url} for r in results])
    else:
        console = _console()
        for r in results:
            console.print(f"{r.id} -> {r.external_url}", markup=False)
        console.print(f"pushed {len(results)} ticket(s) to {args.repo}.")
    return 0
