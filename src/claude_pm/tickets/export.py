"""Write stored tickets as Markdown files, JSON, CSV or SARIF.

The Markdown form is one file per ticket, ``PM-42.md``: YAML front matter
(id, status, type, priority, title, source agent and run, file and line, first
and last seen, times seen, fingerprint, external url) and a body with the
title and the context in a fenced block. Files are written the same way every
time, so an export kept in git shows real changes as diffs.

The SARIF form (:func:`to_sarif`) is one SARIF 2.1.0 log, so GitHub code
scanning and editors show the findings where they are.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from claude_pm.tickets.model import Priority, StoredTicket, TicketType


class ExportFormat(StrEnum):
    MARKDOWN = "markdown"
    JSON = "json"
    CSV = "csv"
    SARIF = "sarif"


_FRONT_MATTER_KEYS: tuple[str, ...] = (
    "id",
    "status",
    "type",
    "priority",
    "title",
    "source_agent",
    "source_run",
    "file",
    "line",
    "first_seen",
    "last_seen",
    "times_seen",
    "fingerprint",
    "external_url",
)

#: CSV columns: the front matter keys, then the context lines.
CSV_COLUMNS: tuple[str, ...] = (*_FRONT_MATTER_KEYS, "context")

_PLAIN_SCALAR = re.compile(r"[A-Za-z][A-Za-z0-9_./+-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}


def _yaml_scalar(value: Any) -> str:
    """A YAML scalar for ``value``: plain when unambiguous, else double-quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if _PLAIN_SCALAR.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return _yaml_double_quoted(text)


def _yaml_double_quoted(text: str) -> str:
    """A YAML double-quoted scalar; characters that are not printable are escaped."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            if code < 0x100:
                out.append(f"\\x{code:02x}")
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def to_markdown(ticket: StoredTicket) -> str:
    """One ticket as a Markdown document with YAML front matter."""
    data = ticket.to_dict()
    lines = ["---"]
    lines += [f"{key}: {_yaml_scalar(data[key])}" for key in _FRONT_MATTER_KEYS]
    lines += ["---", "", f"# {ticket.id}: {ticket.title}", ""]
    lines.append(
        f"**{ticket.type.value}**, priority **{ticket.priority.value}**, "
        f"status **{ticket.status.value}**, seen {ticket.times_seen} time(s)."
    )
    if ticket.context:
        fence = _fence(ticket.context)
        lines += ["", "## Context", "", fence, ticket.context, fence]
    return "\n".join(lines) + "\n"


def export_markdown(tickets: Iterable[StoredTicket], directory: Path) -> list[Path]:
    """Write ``<directory>/PM-<n>.md`` for each ticket; returns the paths written.

    Raises:
        OSError: the directory cannot be created or a file cannot be written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for ticket in tickets:
        path = directory / f"{ticket.id}.md"
        path.write_text(to_markdown(ticket), encoding="utf-8", newline="\n")
        written.append(path)
    return written


def to_json(tickets: Iterable[StoredTicket]) -> str:
    """The tickets as a JSON array of objects (the fields of ``StoredTicket.to_dict``)."""
    return json.dumps([t.to_dict() for t in tickets], indent=2, ensure_ascii=False) + "\n"


def to_csv(tickets: Iterable[StoredTicket]) -> str:
    """The tickets as CSV with a header row (``CSV_COLUMNS``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for ticket in tickets:
        writer.writerow(ticket.to_dict())
    return out.getvalue()


# -- SARIF ------------------------------------------------------------------------------

#: The schema a SARIF 2.1.0 log names (the OASIS standard's).
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
#: The base id the artifact locations are relative to (``originalUriBaseIds`` says where it is).
SARIF_ROOT_ID = "PROJECTROOT"
#: A SARIF level for each priority.
SARIF_LEVELS: Mapping[Priority, str] = {
    Priority.HIGH: "error",
    Priority.MEDIUM: "warning",
    Priority.LOW: "note",
}
_RULE_TEXT: Mapping[TicketType, str] = {
    TicketType.TASK: "Work left to do (a TODO, a missing piece)",
    TicketType.BUG: "A defect: a failing test, an error, broken behaviour",
    TicketType.FEATURE: "A missing feature",
    TicketType.SECURITY: "A security problem: a committed secret, unsafe code",
    TicketType.PERFORMANCE: "A performance problem",
    TicketType.REFACTOR: "Code to clean up: lint, dead or undocumented code",
}


def _artifact(file: str, project_root: Path | None) -> dict[str, Any]:
    """An artifactLocation: relative to the project root when it is inside it, else a file URI."""
    path = Path(file)
    if path.is_absolute() and project_root is not None:
        try:
            path = path.relative_to(project_root)
        except ValueError:
            return {"uri": path.as_uri()}
    if path.is_absolute():
        return {"uri": path.as_uri()}
    relative = PurePosixPath(*path.parts).as_posix()
    return {"uri": quote(relative), "uriBaseId": SARIF_ROOT_ID}


def to_sarif(
    tickets: Iterable[StoredTicket],
    *,
    project_root: Path | None = None,
    tool_version: str | None = None,
) -> str:
    """The tickets as one SARIF 2.1.0 log: a result per ticket, a rule per ticket type.

    A result's level follows the ticket's priority (:data:`SARIF_LEVELS`), its
    message is the title, its location the file and line the ticket names
    (relative to ``project_root``, the ``PROJECTROOT`` base); a ticket that
    names no file has no location. ``partialFingerprints`` carries the
    ticket's fingerprint, so a viewer matches a finding across runs as the
    store does; ``properties`` carry the ticket's id, priority, status,
    source agent and how often it was seen.
    """
    if tool_version is None:
        from claude_pm._version import __version__ as tool_version
    types = list(TicketType)
    results: list[dict[str, Any]] = []
    used: set[TicketType] = set()
    for ticket in tickets:
        used.add(ticket.type)
        result: dict[str, Any] = {
            "ruleId": ticket.type.value,
            "level": SARIF_LEVELS[ticket.priority],
            "message": {"text": ticket.title or ticket.type.value},
            "partialFingerprints": {"claudePmFingerprint/v1": ticket.fingerprint},
            "properties": {
                "ticketId": ticket.id,
                "priority": ticket.priority.value,
                "status": ticket.status.value,
                "sourceAgent": ticket.source_agent,
                "timesSeen": ticket.times_seen,
            },
        }
        if ticket.file:
            location: dict[str, Any] = {"artifactLocation": _artifact(ticket.file, project_root)}
            if ticket.line is not None and ticket.line >= 1:
                location["region"] = {"startLine": ticket.line}
            result["locations"] = [{"physicalLocation": location}]
        results.append(result)
    rules = [
        {"id": t.value, "name": t.value.title(), "shortDescription": {"text": _RULE_TEXT[t]}}
        for t in types
        if t in used
    ]
    index = {rule["id"]: n for n, rule in enumerate(rules)}
    for result in results:
        result["ruleIndex"] = index[result["ruleId"]]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "claude-pm",
                "version": tool_version,
                "semanticVersion": tool_version,
                "rules": rules,
            }
        },
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    if project_root is not None:
        root_uri = Path(project_root).absolute().as_uri().rstrip("/") + "/"
        run["originalUriBaseIds"] = {SARIF_ROOT_ID: {"uri": root_uri}}
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
