"""Write stored tickets as Markdown files, JSON or CSV.

The Markdown form is one file per ticket, ``PM-42.md``: YAML front matter
(id, status, type, priority, title, source agent and run, file and line, first
and last seen, times seen, fingerprint, external url) and a body with the
title and the context in a fenced block. Files are written the same way every
time, so an export kept in git shows real changes as diffs.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

from claude_pm.tickets.model import StoredTicket


class ExportFormat(StrEnum):
    MARKDOWN = "markdown"
    JSON = "json"
    CSV = "csv"


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
