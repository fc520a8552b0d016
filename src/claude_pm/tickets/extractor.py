"""Find TODO / FIXME / BUG / FEATURE / SECURITY / PERFORMANCE / REFACTOR items in text.

What counts as an item
    A marker word followed by a colon, as the first word of a line: after
    optional indentation, an optional comment leader (``#``, ``//``, ``/*``,
    ``*``, ``--``, ``;``, ``<!--``, repeated forms such as ``##`` or ``///``
    included), and an optional list bullet (``-``, ``*``, ``+``, ``•``, ``1.``,
    ``1)``, with an optional ``[ ]`` / ``[x]`` check box). The title is the
    rest of that line (a trailing ``*/`` or ``-->`` is dropped); a line whose
    title is empty is no item, and the next line is never taken as its title.

    Upper-case markers count wherever that shape allows. A marker in lower or
    mixed case (``todo:``, ``Fixme:``) counts only after a comment leader, that
    is, inside a comment: ``# todo: later`` is an item, ``- todo: later`` and
    ``todo: later`` are not. So ``DEBUG: cache warmed``,
    ``logger.debug('todo: later')`` and ``subtask: x`` are not items.

    A comment after code counts too when it opens with ``#`` or ``//`` after
    white space (``x = 1  # TODO: y``, ``+    // fixme: z`` in a diff); the
    marker must be the first word of the comment. Other leaders count only
    at the start of a line, and ``a#TODO: x`` or ``http://TODO: x`` (no space
    before the leader) do not count. One line gives at most one item: the one
    at its start, else its first comment. A ``#`` or ``//`` inside a string
    literal looks like a comment here (the extractor does not parse code).

Priority
    By type: security and bug high, performance and feature medium, task and
    refactor low. An explicit priority overrides it, written either right
    after the marker in parentheses or brackets (``TODO(high):``,
    ``FIXME[P1]:``, ``BUG (p0):``) or as a bracketed tag at the start or end
    of the title (``TODO: [P1] fix it``, ``TODO: fix it [low]``; the tag is
    removed from the title). ``P0``, ``P1``, ``critical``, ``urgent``,
    ``blocker`` and ``high`` mean high; ``P2``, ``medium``, ``med`` and
    ``normal`` mean medium; ``P3``, ``P4``, ``low``, ``minor`` and ``trivial``
    mean low (case does not matter). Anything else in the parentheses after a
    marker (``TODO(alice):``) is allowed and ignored.

Context
    The marker line with up to two lines before and after it, each cut to
    500 characters, ``\\r`` of CRLF line ends removed.

Cost
    One streaming pass over the input, linear in its size: each block of
    complete lines is searched by one compiled regular expression anchored at
    line starts (and by two that start with a literal ``#`` or ``//``, for
    comments after code), line numbers are counted incrementally between
    matches, and the last lines of a block are kept for the context of the
    next. Memory is bounded by a few blocks, whatever the size of the input
    (a line longer than ``max_line_chars`` is cut there).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from claude_pm.tickets.model import (
    DEFAULT_PRIORITY,
    MARKER_TYPES,
    Priority,
    Ticket,
    utc_now_iso,
)

BLOCK_CHARS = 1 << 20
MAX_LINE_CHARS = 1 << 20
MAX_TITLE_CHARS = 300
MAX_CONTEXT_LINE_CHARS = 500
CONTEXT_LINES = 2

_MARKER_AND_TITLE = (
    r"(?P<marker>(?i:todo|fixme|bug|feature|security|performance|refactor))"
    r"(?:[ \t]*[(\[](?P<tag>[^)\]\n]{0,40})[)\]])?"
    r"[ \t]*:(?P<rest>[^\n]*)"
)
# Anchored on the newline before the line: a literal first character lets the
# regex engine skip quickly from one line start to the next, and the lookahead
# drops most lines on their first visible characters, which must open a comment
# leader, a bullet or an upper-case marker (a lower-case one needs a leader).
_ITEM = re.compile(
    r"\n(?=[ \t]*(?:[<*/#;\-+•]|\d{1,3}[.)]|[TFBSPR][OIUE]))[ \t]*"
    r"(?P<leader>(?:<!--|/\*+|//+|#+|--|;+|\*)[ \t]*)?"
    r"(?:(?:[-*+•]|\d{1,3}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?)?" + _MARKER_AND_TITLE
)
# Comments after code (``x = 1  # TODO: y``): one pass per leader, each with a
# literal first character or two so the engine can skip to candidates quickly.
_TRAILING_COMMENTS = (
    re.compile(r"#(?=[# \t]*[TtFfBbSsPpRr])#*[ \t]*" + _MARKER_AND_TITLE),
    re.compile(r"//(?=[/ \t]*[TtFfBbSsPpRr])/*[ \t]*" + _MARKER_AND_TITLE),
)
_TITLE_TAG_START = re.compile(r"^\[(?P<tag>[^\]]{1,20})\][ \t]*")
_TITLE_TAG_END = re.compile(r"[ \t]*\[(?P<tag>[^\]]{1,20})\]$")
_COMMENT_CLOSER = re.compile(r"[ \t]*(?:\*+/|-->)[ \t]*$")

_PRIORITY_WORDS: dict[str, Priority] = {
    **dict.fromkeys(("p0", "p1", "critical", "urgent", "blocker", "high"), Priority.HIGH),
    **dict.fromkeys(("p2", "medium", "med", "normal"), Priority.MEDIUM),
    **dict.fromkeys(("p3", "p4", "low", "minor", "trivial"), Priority.LOW),
}


def parse_priority(tag: str | None) -> Priority | None:
    """The priority a tag such as ``high``, ``P1`` or ``high priority`` names, else None."""
    if not tag:
        return None
    key = tag.strip().lower().replace("priority", "").strip(" \t:=-")
    return _PRIORITY_WORDS.get(key)


def _title_and_priority(rest: str, tag: str | None) -> tuple[str, Priority | None]:
    title = rest.strip()
    if title.endswith(("/", ">")):
        title = _COMMENT_CLOSER.sub("", title)
    priority = parse_priority(tag)
    if "[" not in title:
        return _cut_title(title), priority
    for pattern in (_TITLE_TAG_START, _TITLE_TAG_END):
        found = pattern.search(title)
        if found is not None:
            named = parse_priority(found["tag"])
            if named is not None:
                title = (title[: found.start()] + title[found.end() :]).strip()
                priority = priority or named
    return _cut_title(title), priority


def _cut_title(title: str) -> str:
    if len(title) > MAX_TITLE_CHARS:
        return title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return title


def _context(text: str) -> str:
    if len(text) <= MAX_CONTEXT_LINE_CHARS and "\r" not in text:
        return text
    return "\n".join(line.rstrip("\r")[:MAX_CONTEXT_LINE_CHARS] for line in text.split("\n"))


def _complete_lines(chunks: Iterable[str], max_line_chars: int) -> Iterator[str]:
    """Re-cut arbitrary chunks into blocks of whole lines, each ending in a newline.

    A line that grows past ``max_line_chars`` across chunks is cut there (the
    rest of it, up to its newline, is dropped), so memory stays bounded on any
    input; a long line inside one chunk is bounded by the chunk's size.
    """
    partial: list[str] = []
    partial_chars = 0
    overflowing = False
    for chunk in chunks:
        if not chunk:
            continue
        end = chunk.rfind("\n")
        if end < 0:
            if not overflowing:
                partial.append(chunk)
                partial_chars += len(chunk)
                if partial_chars > max_line_chars:
                    partial = ["".join(partial)[:max_line_chars]]
                    overflowing = True
            continue
        first = chunk.find("\n")
        if overflowing or partial_chars + first > max_line_chars:
            head = ("".join(partial) + chunk[:first])[:max_line_chars]
            yield head + "\n"
            block = chunk[first + 1 : end + 1]
        else:
            partial.append(chunk[: end + 1])
            block = "".join(partial)
        if block:
            yield block
        rest = chunk[end + 1 :]
        partial = [rest[:max_line_chars]] if rest else []
        partial_chars = len(rest)
        overflowing = partial_chars > max_line_chars
    if partial:
        yield "".join(partial) + "\n"


class _Scanner:
    """The streaming state: a buffer of whole lines that starts with a sentinel newline.

    ``buf[1:scan_start]`` holds up to two lines already scanned (context before
    the next lines); ``buf[scan_start:]`` lines not scanned yet. The last two
    lines of a buffer wait for the next block, which gives them their context after.
    """

    def __init__(self, source_agent: str, file: str | None, timestamp: str) -> None:
        self.source_agent = source_agent
        self.file = file
        self.timestamp = timestamp
        self.buf = "\n"
        self.scan_start = 1
        self.line_no = 1  # line number of the line starting at scan_start

    def feed(self, block: str) -> Iterator[Ticket]:
        buf = self.buf + block
        last_nl = buf.rfind("\n", 0, len(buf) - 1)
        before_last = buf.rfind("\n", 0, last_nl) if last_nl > 0 else -1
        limit = before_last + 1
        if limit <= self.scan_start:
            self.buf = buf
            return
        yield from self._scan(buf, limit)
        # Keep the two scanned lines before ``limit`` as context, then the unscanned rest.
        keep = limit - 1
        for _ in range(CONTEXT_LINES):
            if keep <= 0:
                break
            keep = buf.rfind("\n", 0, keep)
        keep = max(keep, 0)
        self.buf = buf[keep:]
        self.scan_start = limit - keep

    def finish(self) -> Iterator[Ticket]:
        yield from self._scan(self.buf, len(self.buf))
        self.buf = "\n"
        self.scan_start = 1

    def _candidates(self, buf: str, limit: int) -> list[tuple[int, re.Match[str]]]:
        """(line start, match) for the item lines in ``buf[scan_start:limit]``, in order."""
        found = [
            (m.start() + 1, m)
            for m in _ITEM.finditer(buf, self.scan_start - 1, limit)
            # A lower-case marker counts only in a comment.
            if m["leader"] is not None or m["marker"].isupper()
        ]
        trailing = []
        for pattern in _TRAILING_COMMENTS:
            for m in pattern.finditer(buf, self.scan_start, limit):
                at = m.start()
                if buf[at - 1] not in " \t":
                    continue
                line_start = buf.rfind("\n", 0, at) + 1
                if buf[line_start:at].strip():
                    trailing.append((line_start, m))
        if not trailing:
            return found
        # One ticket per line: the line-start item first, else the earliest comment.
        merged = sorted(found + trailing, key=lambda c: (c[0], c[1].start()))
        return [c for i, c in enumerate(merged) if i == 0 or c[0] != merged[i - 1][0]]

    def _scan(self, buf: str, limit: int) -> Iterator[Ticket]:
        cursor = self.scan_start
        line_no = self.line_no
        size = len(buf)
        for line_start, match in self._candidates(buf, limit):
            title, priority = _title_and_priority(match["rest"], match["tag"])
            if not title:
                continue
            line_no += buf.count("\n", cursor, line_start)
            cursor = line_start
            start = line_start
            for _ in range(CONTEXT_LINES):
                if start <= 1:
                    break
                start = buf.rfind("\n", 0, start - 1) + 1
            end = match.end()
            for _ in range(CONTEXT_LINES):
                if end + 1 >= size:
                    break
                end = buf.find("\n", end + 1)
            ticket_type = MARKER_TYPES[match["marker"].upper()]
            yield Ticket(
                type=ticket_type,
                title=title,
                priority=priority or DEFAULT_PRIORITY[ticket_type],
                source_agent=self.source_agent,
                timestamp=self.timestamp,
                context=_context(buf[start:end]),
                line=line_no,
                file=self.file,
            )
        self.line_no = line_no + buf.count("\n", cursor, limit)


def iter_extract(
    chunks: Iterable[str],
    source_agent: str,
    *,
    file: str | None = None,
    timestamp: str | None = None,
    max_line_chars: int = MAX_LINE_CHARS,
) -> Iterator[Ticket]:
    """Tickets from text given as chunks cut anywhere (blocks read from a file or a pipe).

    Args:
        chunks: the text, in order; chunk boundaries do not matter.
        source_agent: recorded on every ticket.
        file: the source file the findings are about, when known (part of the fingerprint).
        timestamp: ISO 8601 time recorded on every ticket (default: now, UTC).
        max_line_chars: lines longer than this are cut, bounding memory.
    """
    scanner = _Scanner(source_agent, file, timestamp or utc_now_iso())
    for block in _complete_lines(chunks, max_line_chars):
        yield from scanner.feed(block)
    yield from scanner.finish()


def extract_text(
    text: str, source_agent: str, *, file: str | None = None, timestamp: str | None = None
) -> list[Ticket]:
    """All tickets in ``text``, in order of their lines."""
    # Blocks keep the regular expressions' work in cache on large texts.
    blocks = (text[i : i + BLOCK_CHARS] for i in range(0, len(text), BLOCK_CHARS))
    return list(iter_extract(blocks, source_agent, file=file, timestamp=timestamp))


def extract_lines(
    lines: Iterable[str],
    source_agent: str,
    *,
    file: str | None = None,
    timestamp: str | None = None,
) -> Iterator[Ticket]:
    """Tickets from an iterable of lines, with or without their line terminators."""

    def blocks() -> Iterator[str]:
        batch: list[str] = []
        batch_chars = 0
        for line in lines:
            if not line.endswith("\n"):
                line += "\n"
            batch.append(line)
            batch_chars += len(line)
            if batch_chars >= BLOCK_CHARS:
                yield "".join(batch)
                batch, batch_chars = [], 0
        if batch:
            yield "".join(batch)

    return iter_extract(blocks(), source_agent, file=file, timestamp=timestamp)


def iter_extract_path(
    path: Path,
    source_agent: str,
    *,
    file: str | None = None,
    timestamp: str | None = None,
    block_chars: int = BLOCK_CHARS,
) -> Iterator[Ticket]:
    """Tickets from a file of any size, read in blocks.

    The file is read as UTF-8 (a byte order mark is dropped, undecodable bytes
    are replaced).

    Raises:
        OSError: the file cannot be opened or read.
    """
    with Path(path).open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        yield from iter_extract(
            iter(lambda: handle.read(block_chars), ""),
            source_agent,
            file=file,
            timestamp=timestamp,
        )


def extract_path(
    path: Path,
    source_agent: str,
    *,
    file: str | None = None,
    timestamp: str | None = None,
) -> list[Ticket]:
    """All tickets in the file at ``path``, streamed in bounded memory.

    Raises:
        OSError: the file cannot be opened or read.
    """
    return list(iter_extract_path(path, source_agent, file=file, timestamp=timestamp))
