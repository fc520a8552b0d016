"""Ticket values: what the extractor finds and what the store keeps.

A :class:`Ticket` is a finding as extracted from text; a :class:`StoredTicket`
is a row of the ``tickets`` table with its stable id (``PM-42``), status and
counters; a :class:`SavedTicket` tells a caller of ``TicketStore.save`` which id
a finding got and whether it was already known.

The fingerprint that decides "already known" is the SHA-256 of the type, the
normalized title and, when known, the file. The title is the message without
its location (``BUG: src/a.py:14: crash`` has the title ``crash``, the file
``src/a.py`` and the line 14; see :mod:`claude_pm.tickets.location`), so the
line is never part of it: a finding that moved is the same ticket.
Normalizing casefolds the title, collapses runs of whitespace, and strips
surrounding quotes and trailing punctuation; numbers are kept (``issue 12`` and
``issue 13`` are different findings).

Two lines tell where a finding is: ``line`` is the line of the source file
(``file``) it is about, when known; ``output_line`` is the line of the text it
was extracted from (an agent's output, a log).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from claude_pm.errors import TicketError

ID_PREFIX = "PM-"


class TicketType(StrEnum):
    TASK = "task"
    BUG = "bug"
    FEATURE = "feature"
    SECURITY = "security"
    PERFORMANCE = "performance"
    REFACTOR = "refactor"


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class TicketStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    WONT_FIX = "wont_fix"


#: Marker word (upper case) -> ticket type.
MARKER_TYPES: dict[str, TicketType] = {
    "TODO": TicketType.TASK,
    "FIXME": TicketType.BUG,
    "BUG": TicketType.BUG,
    "XXX": TicketType.BUG,
    "FEATURE": TicketType.FEATURE,
    "SECURITY": TicketType.SECURITY,
    "PERFORMANCE": TicketType.PERFORMANCE,
    "REFACTOR": TicketType.REFACTOR,
    "HACK": TicketType.REFACTOR,
}

DEFAULT_PRIORITY: dict[TicketType, Priority] = {
    TicketType.SECURITY: Priority.HIGH,
    TicketType.BUG: Priority.HIGH,
    TicketType.PERFORMANCE: Priority.MEDIUM,
    TicketType.FEATURE: Priority.MEDIUM,
    TicketType.TASK: Priority.LOW,
    TicketType.REFACTOR: Priority.LOW,
}

#: Markers whose default priority is not their type's: ``XXX`` flags code that
#: needs a look (a bug less certain than ``FIXME``), ``HACK`` a workaround to
#: replace (debt more pressing than a ``REFACTOR`` wish).
MARKER_PRIORITY: dict[str, Priority] = {
    "XXX": Priority.MEDIUM,
    "HACK": Priority.MEDIUM,
}


def marker_priority(marker: str) -> Priority:
    """The default priority of a marker word (upper case)."""
    return MARKER_PRIORITY.get(marker) or DEFAULT_PRIORITY[MARKER_TYPES[marker]]


_SPACES = re.compile(r"\s+")
_TRAILING_PUNCTUATION = ".,;:!?…"
_QUOTES = "\"'`\u201c\u201d\u2018\u2019"


def utc_now_iso() -> str:
    """The current time as an ISO 8601 string in UTC (``2026-01-31T12:00:00.123456+00:00``)."""
    return datetime.now(UTC).isoformat()


def normalize_title(title: str) -> str:
    """The form of a title that the fingerprint uses: casefolded, spaces collapsed, bare."""
    text = _SPACES.sub(" ", title.casefold()).strip()
    previous = None
    while previous != text:
        previous = text
        text = text.rstrip(_TRAILING_PUNCTUATION).strip().strip(_QUOTES).strip()
    return text


def fingerprint(ticket_type: TicketType | str, title: str, file: str | None = None) -> str:
    """SHA-256 (hex) of type, normalized title and file: equal for the same finding."""
    key = "\x1f".join((str(ticket_type), normalize_title(title), file or ""))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def format_ticket_id(seq: int) -> str:
    return f"{ID_PREFIX}{seq}"


def parse_ticket_id(ticket_id: str | int) -> int:
    """The sequence number in ``PM-42``, ``pm-42`` or ``42``.

    Raises:
        TicketError: the text is not a ticket id.
    """
    if isinstance(ticket_id, int):
        return ticket_id
    text = ticket_id.strip()
    if text.upper().startswith(ID_PREFIX):
        text = text[len(ID_PREFIX) :]
    if not text.isdigit():
        raise TicketError(
            f"{ticket_id!r} is not a ticket id; ids look like {ID_PREFIX}42.",
            ticket_id=str(ticket_id),
        )
    return int(text)


@dataclass(frozen=True, slots=True)
class Ticket:
    """One finding extracted from text.

    ``file`` and ``line`` say where in the project the finding is, when known
    (from a leading ``path:line`` in the title, or from the caller); ``file``
    is part of the fingerprint, ``line`` is not. ``output_line`` is the
    1-based line of the text it was found in. ``context`` is the marker line
    with up to two lines before and after it, joined by newlines.
    """

    type: TicketType
    title: str
    priority: Priority
    source_agent: str
    timestamp: str = field(default_factory=utc_now_iso)
    context: str = ""
    line: int | None = None
    file: str | None = None
    output_line: int | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.type, self.title, self.file)

    def to_dict(self) -> dict[str, Any]:
        """The reference design's ticket fields plus where it is and its ``fingerprint``."""
        return {
            "type": self.type.value,
            "title": self.title,
            "source_agent": self.source_agent,
            "timestamp": self.timestamp,
            "priority": self.priority.value,
            "context": self.context,
            "file": self.file,
            "line": self.line,
            "output_line": self.output_line,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True, slots=True)
class SavedTicket:
    """The outcome of saving one :class:`Ticket`."""

    id: str
    duplicate: bool
    ticket: Ticket
    times_seen: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "duplicate": self.duplicate,
            "times_seen": self.times_seen,
            **self.ticket.to_dict(),
        }


@dataclass(frozen=True)
class StoredTicket:
    """One row of the ``tickets`` table. Times are seconds since the epoch.

    ``line``, ``output_line`` and ``context`` are those of the latest run that
    reported the finding (its first report in that run); every source line it
    was seen on is in :meth:`TicketStore.lines <claude_pm.tickets.store.TicketStore.lines>`.
    """

    seq: int
    fingerprint: str
    status: TicketStatus
    type: TicketType
    priority: Priority
    title: str
    context: str
    file: str | None
    line: int | None
    source_agent: str | None
    source_run: str | None
    last_run: str | None
    first_seen: float
    last_seen: float
    times_seen: int
    external_url: str | None = None
    output_line: int | None = None

    @property
    def id(self) -> str:
        return format_ticket_id(self.seq)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "type": self.type.value,
            "priority": self.priority.value,
            "title": self.title,
            "context": self.context,
            "file": self.file,
            "line": self.line,
            "output_line": self.output_line,
            "source_agent": self.source_agent,
            "source_run": self.source_run,
            "last_run": self.last_run,
            "first_seen": iso_from_epoch(self.first_seen),
            "last_seen": iso_from_epoch(self.last_seen),
            "times_seen": self.times_seen,
            "fingerprint": self.fingerprint,
            "external_url": self.external_url,
        }


@dataclass(frozen=True)
class TicketLine:
    """One source line a ticket was reported on: how often, and when last (run and time)."""

    line: int
    times_seen: int
    first_seen: float
    last_seen: float
    last_run: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "times_seen": self.times_seen,
            "first_seen": iso_from_epoch(self.first_seen),
            "last_seen": iso_from_epoch(self.last_seen),
            "last_run": self.last_run,
        }


def iso_from_epoch(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
