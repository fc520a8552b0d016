"""The MCP resources: what a client reads on demand instead of in every tool result.

==========================================  ==========================================
URI                                         what it reads
==========================================  ==========================================
``claude-pm://tickets``                     the open tickets, highest priority first
                                            (at most :data:`LISTED_TICKETS`, and the count)
``claude-pm://tickets/{ticket_id}``         one ticket (``PM-42``) and the lines it was seen on
``claude-pm://runs/{run_id}/report``        a recorded run's stdout, first page
``claude-pm://runs/{run_id}/report/{n}``    page ``n`` (1-based) of it
``claude-pm://runs/{run_id}/stderr[/{n}]``  the same for its stderr
``claude-pm://agents/{agent_type}``         an agent's definition as merged
==========================================  ==========================================

A log page is :data:`~claude_pm.tools.resource_uris.PAGE_BYTES` of the file,
its bounds moved forward to a UTF-8 character boundary, so the pages of a
UTF-8 log joined are the log byte for byte. A page's read result holds two
texts: the page, then a note saying which page of how many it is and the
next page's URI (also in the page's ``_meta``: ``page``, ``pages``,
``size_bytes``, ``next_uri`` but on the last page).

A run is read only when the project's state database records it, from the
paths recorded there: a URI never names a file. Nothing here imports the MCP
SDK; a bad URI raises :class:`~claude_pm.errors.InvalidInput` saying what to
fix, which the server turns into an MCP error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

from claude_pm.errors import InvalidInput
from claude_pm.tools import resource_uris as uris

if TYPE_CHECKING:
    from claude_pm.agents.runs import RunRecord
    from claude_pm.tickets.model import StoredTicket
    from claude_pm.tools.services import ToolServices

#: Open tickets ``claude-pm://tickets`` and the ``triage`` prompt list at most.
LISTED_TICKETS: Final = 50
#: Source lines of one ticket listed at most (``lines_count`` counts them all).
LISTED_LINES: Final = 100
#: Recent runs whose reports ``resources/list`` names.
LISTED_RUNS: Final = 20
#: Longest ticket title a listing shows.
TITLE_MAX_CHARS: Final = 200

JSON_MIME: Final = "application/json"
TEXT_MIME: Final = "text/plain"

#: Highest first: the order of the open-tickets listing.
PRIORITY_ORDER: Final = ("high", "medium", "low")


@dataclass(frozen=True)
class ResourceText:
    """One text of a read result (the server makes it an MCP ``TextResourceContents``)."""

    uri: str
    text: str
    mime_type: str = TEXT_MIME
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    """A resource template as ``resources/templates/list`` offers it."""

    uri_template: str
    name: str
    description: str
    mime_type: str


TEMPLATES: Final[tuple[Template, ...]] = (
    Template(
        uris.TICKET_TEMPLATE,
        "ticket",
        "One ticket as JSON (ticket_id like PM-42), with the source lines it was seen on.",
        JSON_MIME,
    ),
    Template(
        uris.RUN_REPORT_TEMPLATE,
        "run-report",
        "A recorded agent run's whole report (stdout), first page of "
        f"{uris.PAGE_BYTES // 1024} KiB; the note after it names the next page.",
        TEXT_MIME,
    ),
    Template(
        uris.RUN_REPORT_PAGE_TEMPLATE,
        "run-report-page",
        "Page N (from 1) of a recorded agent run's report.",
        TEXT_MIME,
    ),
    Template(
        uris.RUN_STDERR_TEMPLATE,
        "run-stderr",
        "A recorded agent run's stderr, first page.",
        TEXT_MIME,
    ),
    Template(
        uris.RUN_STDERR_PAGE_TEMPLATE,
        "run-stderr-page",
        "Page N (from 1) of a recorded agent run's stderr.",
        TEXT_MIME,
    ),
    Template(
        uris.AGENT_TEMPLATE,
        "agent",
        "An agent's definition as merged (fields, tier, source file, system prompt), as JSON.",
        JSON_MIME,
    ),
)


def _bad_uri(uri: str, problem: str) -> InvalidInput:
    shapes = ", ".join([uris.TICKETS_URI, *(t.uri_template for t in TEMPLATES)])
    return InvalidInput(
        f"{problem}. claude-pm serves: {shapes}.", field="uri", expected=shapes, uri=uri[:200]
    )


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


# -- tickets ---------------------------------------------------------------------------


def open_tickets(
    services: ToolServices, limit: int = LISTED_TICKETS
) -> tuple[list[StoredTicket], int]:
    """The first ``limit`` open tickets, highest priority first (then by id), and the count."""
    from claude_pm.tickets.store import TicketStore

    store = TicketStore(services.database)
    shown: list[StoredTicket] = []
    for priority in PRIORITY_ORDER:
        if len(shown) >= limit:
            break
        shown.extend(store.iter_find(status="open", priority=priority, limit=limit - len(shown)))
    return shown, store.count(status="open")


def ticket_line(ticket: StoredTicket) -> str:
    """``PM-3 [high] bug: the title (src/a.py:12)``: one ticket on one line."""
    title = " ".join(ticket.title.split())
    if len(title) > TITLE_MAX_CHARS:
        title = title[: TITLE_MAX_CHARS - 1] + "…"
    where = ""
    if ticket.file:
        where = f" ({ticket.file}:{ticket.line})" if ticket.line else f" ({ticket.file})"
    return f"{ticket.id} [{ticket.priority.value}] {ticket.type.value}: {title}{where}"


def _tickets(services: ToolServices, uri: str) -> list[ResourceText]:
    shown, total = open_tickets(services)
    listing: dict[str, Any] = {
        "open_tickets": total,
        "listed": len(shown),
        "tickets": [
            {
                "id": t.id,
                "priority": t.priority.value,
                "type": t.type.value,
                "title": t.title[:TITLE_MAX_CHARS],
                "file": t.file,
                "line": t.line,
                "times_seen": t.times_seen,
                "uri": uris.ticket_uri(t.id),
            }
            for t in shown
        ],
    }
    if total > len(shown):
        listing["read_more"] = (
            f"{total - len(shown)} more open tickets: claude-pm tickets list --status open"
        )
    return [ResourceText(uri, _json(listing), JSON_MIME)]


def _ticket(services: ToolServices, uri: str, ticket_id: str) -> list[ResourceText]:
    from claude_pm.tickets.store import TicketStore

    store = TicketStore(services.database)
    ticket = store.get(ticket_id)  # TicketError (a ClaudePMError) names what to fix
    lines, total = store.lines(ticket.seq, limit=LISTED_LINES)
    data = ticket.to_dict()
    data["lines"] = [x.to_dict() for x in lines]
    data["lines_count"] = total
    if ticket.source_run:
        data["source_run_report"] = uris.run_log_uri(ticket.source_run)
    return [ResourceText(uri, _json(data), JSON_MIME)]


# -- runs ------------------------------------------------------------------------------


def _run(services: ToolServices, run_id: str) -> RunRecord:
    from claude_pm.agents.runs import RunStore

    store = RunStore(services.database, reclaim=False)
    record = store.get(run_id)
    if record is None:
        recent = ", ".join(r.run_id for r in store.find(5)) or "none yet"
        raise InvalidInput(
            f"No run {run_id[:80]!r} is recorded in this project; recent runs: {recent} "
            "(`claude-pm runs` lists them; a result's run_id names its run).",
            field="run_id",
            run_id=run_id[:80],
        )
    return record


def _boundary(f: Any, offset: int, size: int) -> int:
    """``offset`` moved forward past UTF-8 continuation bytes (at most 3), within ``size``."""
    if offset <= 0 or offset >= size:
        return max(0, min(offset, size))
    f.seek(offset)
    head = f.read(3)
    skip = 0
    while skip < len(head) and head[skip] & 0xC0 == 0x80:
        skip += 1
    return offset + skip


def read_page(
    path: Path, page: int, page_bytes: int = uris.PAGE_BYTES
) -> tuple[bytes | None, int, int]:
    """Page ``page`` (1-based) of a file: its bytes (None: no such page), the size, the pages.

    Raises:
        OSError: the file cannot be read.
    """
    with path.open("rb") as f:
        size = f.seek(0, 2)
        pages = max(1, -(-size // page_bytes))
        if not 1 <= page <= pages:
            return None, size, pages
        start = _boundary(f, (page - 1) * page_bytes, size)
        end = size if page == pages else _boundary(f, page * page_bytes, size)
        f.seek(start)
        return f.read(end - start), size, pages


def _run_log(
    services: ToolServices, uri: str, run_id: str, log: str, page_text: str | None
) -> list[ResourceText]:
    page = int(page_text) if page_text is not None else 1
    record = _run(services, run_id)
    recorded = record.stdout_path if log == "report" else record.stderr_path
    if not recorded:
        raise InvalidInput(
            f"Run {run_id} recorded no {log} log (it did not start: status {record.status.value}).",
            field="run_id",
            run_id=run_id,
        )
    try:
        data, size, pages = read_page(Path(recorded), page)
    except OSError as e:
        raise InvalidInput(
            f"Run {run_id}'s {log} log cannot be read ({type(e).__name__}): it was pruned, "
            "or its run directory was removed.",
            field="run_id",
            run_id=run_id,
        ) from None
    if data is None:
        raise InvalidInput(
            f"Run {run_id}'s {log} log has no page {page}: it has {pages} page(s) of "
            f"{uris.PAGE_BYTES} bytes, {uris.run_log_uri(run_id, log, 1)} to "
            f"{uris.run_log_uri(run_id, log, pages)}.",
            field="page",
            expected=f"1..{pages}",
            run_id=run_id,
        )
    next_uri = uris.run_log_uri(run_id, log, page + 1) if page < pages else None
    meta: dict[str, Any] = {"page": page, "pages": pages, "size_bytes": size}
    if next_uri is not None:
        meta["next_uri"] = next_uri
    shown = "report (stdout)" if log == "report" else "stderr"
    note = (
        f"claude-pm run {run_id} ({record.agent_type}, {record.status.value}): {shown} "
        f"page {page} of {pages}, {len(data)} of {size} bytes. "
        + (f"Next page: {next_uri}" if next_uri else "This is the last page.")
    )
    page_uri = uris.run_log_uri(run_id, log, page)
    return [
        ResourceText(page_uri, data.decode("utf-8", errors="replace"), TEXT_MIME, meta),
        ResourceText(page_uri, note, TEXT_MIME),
    ]


# -- agents ----------------------------------------------------------------------------


def _agent(services: ToolServices, uri: str, agent_type: str) -> list[ResourceText]:
    from claude_pm.tools.results import agent_definition

    definition = services.registry.get(agent_type)  # AgentNotFound lists the valid types
    data = agent_definition(definition, services.settings.default_backend)
    return [ResourceText(uri, _json(data), JSON_MIME)]


# -- reading ---------------------------------------------------------------------------

_SEGMENT = r"([^/?#]+)"
Reader = Callable[..., list[ResourceText]]

#: Each URI shape -> what reads it (the groups of the match are its arguments).
_READERS: Final[tuple[tuple[re.Pattern[str], Reader], ...]] = (
    (re.compile(r"claude-pm://tickets/?"), _tickets),
    (re.compile(rf"claude-pm://tickets/{_SEGMENT}"), _ticket),
    (re.compile(rf"claude-pm://runs/{_SEGMENT}/(report|stderr)(?:/([0-9]{{1,9}}))?"), _run_log),
    (re.compile(rf"claude-pm://agents/{_SEGMENT}"), _agent),
)


def read(services: ToolServices, uri: str) -> list[ResourceText]:
    """The texts of the resource at ``uri``.

    Raises:
        ClaudePMError: ``uri`` is not one claude-pm serves, or names no ticket, run
            or agent of this project (the message says which exist), or the
            database cannot be read.
    """
    if not uri.startswith(f"{uris.SCHEME}://"):
        raise _bad_uri(uri, f"{uri[:200]!r} is not a {uris.SCHEME}:// URI")
    for pattern, reader in _READERS:
        match = pattern.fullmatch(uri)
        if match is not None:
            args = [unquote(g) if g is not None else None for g in match.groups()]
            if any(a is not None and ("/" in a or "\x00" in a) for a in args):
                raise _bad_uri(uri, "an id in the URI may not contain '/'")
            return reader(services, uri, *args)
    raise _bad_uri(uri, f"claude-pm has no resource {uri[:200]!r}")


def listed(services: ToolServices) -> list[tuple[str, str, str, str]]:
    """What ``resources/list`` names: (uri, name, description, mime type).

    The open tickets, every agent's definition, and the reports of the
    :data:`LISTED_RUNS` latest runs; the templates reach the rest.
    """
    from claude_pm.agents.runs import RunStore

    out = [
        (uris.TICKETS_URI, "open-tickets", "The open tickets, highest priority first.", JSON_MIME)
    ]
    for definition in services.registry.agents():
        agent_type = definition.agent_type
        out.append(
            (uris.agent_uri(agent_type), f"agent {agent_type}", "Its definition.", JSON_MIME)
        )
    for record in RunStore(services.database, reclaim=False).find(LISTED_RUNS):
        out.append(
            (
                uris.run_log_uri(record.run_id),
                f"run {record.run_id} report",
                f"{record.agent_type} ({record.status.value}): {record.task[:120]}",
                TEXT_MIME,
            )
        )
    return out
