"""ticketer: triage the ticket store from the snapshot it is handed; file nothing new.

Input
    The context key ``ticket_snapshot``: a list of ticket dicts (``id``,
    ``type``, ``priority``, ``status``, ``title``, ``file``, ``line``,
    ``first_seen``, ``last_seen``, ``times_seen``; times in ISO 8601). The
    orchestrator makes it from the store; this side never opens the database.
    A missing or malformed snapshot exits 65 with the reason on stderr.

Output
    Open tickets (``open`` and ``in_progress``) counted by type and priority;
    stale ones (open, not seen for ``stale_days`` days); likely duplicates
    (open tickets in the same file whose titles, without a leading
    ``path:line:``, are at least ``duplicate_similarity`` alike by
    :class:`difflib.SequenceMatcher`), grouped. It writes no marker line: the
    report files no ticket.

Context keys read
    ``ticket_snapshot`` and ``ticket_config`` (a mapping; its option names
    below override ``backend_options``).

Options
    ``stale_days`` (default 30), ``duplicate_similarity`` (0 to 1, default
    0.85), ``max_tickets`` (read at most, default 10000), and the common ones.

Limits
    ``max_tickets`` tickets read; titles compared only within a file, at most
    200 open tickets per file (the rest of that file is listed as skipped).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from claude_pm.agents.toolchain.options import Option, Values
from claude_pm.agents.toolchain.reporting import Report
from claude_pm.agents.toolchain.request import EXIT_OK, BadInput, ToolchainRequest

TITLE = "Ticket triage report"
CONTEXT_KEYS = ("ticket_snapshot", "ticket_config")
OPTIONS = (
    Option(
        "stale_days",
        "number",
        30,
        "days without being seen after which an open ticket is stale",
        minimum=0,
    ),
    Option(
        "duplicate_similarity",
        "number",
        0.85,
        "title similarity (0 to 1) from which two tickets in one file are likely duplicates",
        minimum=0,
        maximum=1,
    ),
    Option("max_tickets", "int", 10_000, "tickets read from the snapshot at most", minimum=1),
)

OPEN_STATUSES = ("open", "in_progress")
TYPES = ("security", "bug", "performance", "feature", "refactor", "task")
PRIORITIES = ("high", "medium", "low")
MAX_PER_FILE = 200
MAX_LISTED = 50
_LOCATION_PREFIX = re.compile(r"^\S+?:\d+:\s*")
_SPACES = re.compile(r"\s+")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _normal_title(ticket: dict[str, Any]) -> str:
    title = str(ticket.get("title") or "")
    title = _LOCATION_PREFIX.sub("", title)
    return _SPACES.sub(" ", title.casefold()).strip()


def _snapshot(request: ToolchainRequest, limit: int) -> tuple[list[dict[str, Any]], int]:
    snapshot = request.context.get("ticket_snapshot")
    if snapshot is None:
        raise BadInput(
            "no ticket snapshot was handed over: the context key ticket_snapshot must hold "
            "the store's tickets (a list of ticket dicts)",
            field="ticket_snapshot",
        )
    if not isinstance(snapshot, list):
        raise BadInput(
            "context key ticket_snapshot must be a list of ticket dicts", field="ticket_snapshot"
        )
    tickets = []
    for index, ticket in enumerate(snapshot[:limit]):
        if not isinstance(ticket, dict) or "id" not in ticket or "title" not in ticket:
            raise BadInput(
                f"ticket_snapshot[{index}] must be a dict with at least id and title",
                field="ticket_snapshot",
            )
        tickets.append(ticket)
    return tickets, max(len(snapshot) - limit, 0)


def run(request: ToolchainRequest, report: Report, opts: Values) -> int:
    """Count, age and deduplicate the open tickets of the snapshot."""
    tickets, left_out = _snapshot(request, opts["max_tickets"])
    report.task(request.task)
    report.section("What ran")
    report.ran(f"triage of {len(tickets)} ticket(s) from the snapshot", "done")
    if left_out:
        report.skipped(
            f"{left_out} ticket(s)", f"over the limit of {opts['max_tickets']} (option max_tickets)"
        )
    open_tickets = [t for t in tickets if str(t.get("status", "open")) in OPEN_STATUSES]
    _counts(report, open_tickets)
    stale = _stale(report, open_tickets, float(opts["stale_days"]))
    groups = _duplicates(report, open_tickets, float(opts["duplicate_similarity"]))
    report.finish(
        [
            f"tickets: {len(tickets)} read, {len(open_tickets)} open",
            f"stale (not seen for {opts['stale_days']:g} days): {stale}",
            f"likely duplicate groups: {groups}",
            "new tickets filed: none (the ticketer only triages)",
        ]
    )
    return EXIT_OK


def _counts(report: Report, tickets: list[dict[str, Any]]) -> None:
    report.section("Open tickets by type and priority")
    counts = Counter((str(t.get("type", "task")), str(t.get("priority", "low"))) for t in tickets)
    types = list(TYPES) + sorted({k[0] for k in counts} - set(TYPES))
    report.line("| type | high | medium | low | total |")
    report.line("| --- | --- | --- | --- | --- |")
    for kind in types:
        row = [counts[(kind, p)] for p in PRIORITIES]
        total = sum(v for (k, _), v in counts.items() if k == kind)
        if total:
            report.line(f"| {kind} | {' | '.join(map(str, row))} | {total} |")
    per_priority = " | ".join(str(sum(counts[(k, p)] for k in types)) for p in PRIORITIES)
    report.line(f"| all | {per_priority} | {len(tickets)} |")


def _label(ticket: dict[str, Any]) -> str:
    where = f" ({ticket['file']}:{ticket.get('line') or 1})" if ticket.get("file") else ""
    kind = f"{ticket.get('type', 'task')}/{ticket.get('priority', 'low')}"
    return f"{ticket['id']} [{kind}] {ticket['title']}{where}"


def _stale(report: Report, tickets: list[dict[str, Any]], days: float) -> int:
    report.section("Stale tickets")
    cutoff = datetime.now(UTC) - timedelta(days=days)
    stale = []
    for ticket in tickets:
        seen = _parse_time(ticket.get("last_seen")) or _parse_time(ticket.get("first_seen"))
        if seen is not None and seen < cutoff:
            stale.append((seen, ticket))
    stale.sort(key=lambda item: item[0])
    for seen, ticket in stale[:MAX_LISTED]:
        age = (datetime.now(UTC) - seen).days
        report.line(f"- {_label(ticket)}: last seen {age} days ago ({seen.date().isoformat()})")
    if len(stale) > MAX_LISTED:
        report.line(f"- ... and {len(stale) - MAX_LISTED} more")
    if not stale:
        report.line(f"None: every open ticket was seen in the last {days:g} days.")
    return len(stale)


def _root(parent: list[int], i: int) -> int:
    """Union-find: the representative of ``i``'s group (with path halving)."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _duplicates(report: Report, tickets: list[dict[str, Any]], threshold: float) -> int:
    report.section("Likely duplicates")
    by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ticket in tickets:
        if ticket.get("file"):
            by_file[str(ticket["file"])].append(ticket)
    groups: list[list[dict[str, Any]]] = []
    for file, items in sorted(by_file.items()):
        if len(items) > MAX_PER_FILE:
            report.skipped(
                f"{len(items) - MAX_PER_FILE} ticket(s) in {file}", f"over {MAX_PER_FILE} per file"
            )
            items = items[:MAX_PER_FILE]
        parent = list(range(len(items)))
        titles = [_normal_title(t) for t in items]
        for i in range(len(items)):
            matcher = difflib.SequenceMatcher(None, "", titles[i], autojunk=False)
            for j in range(i + 1, len(items)):
                matcher.set_seq1(titles[j])
                if (
                    matcher.real_quick_ratio() >= threshold
                    and matcher.quick_ratio() >= threshold
                    and matcher.ratio() >= threshold
                ):
                    parent[_root(parent, j)] = _root(parent, i)
        clusters: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for i, ticket in enumerate(items):
            clusters[_root(parent, i)].append(ticket)
        groups.extend(c for c in clusters.values() if len(c) > 1)
    for group in groups[:MAX_LISTED]:
        report.line(f"- {', '.join(str(t['id']) for t in group)} in {group[0]['file']}:")
        for ticket in group:
            report.line(f"    {_label(ticket)}")
    if not groups:
        report.line(f"None at similarity {threshold:g} or more.")
    return len(groups)
