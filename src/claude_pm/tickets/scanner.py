"""The scanning machinery behind :mod:`claude_pm.tickets.extractor` (which states the rules).

Re-cuts input chunks into blocks of whole lines (:func:`complete_lines`),
then a :class:`Scanner` keeps a buffer of a few lines of context and finds
marker lines in each block with the compiled expressions below.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from claude_pm.tickets.location import split_location
from claude_pm.tickets.model import (
    MARKER_TYPES,
    Priority,
    Ticket,
    TicketType,
    marker_priority,
)
from claude_pm.tickets.summary import Counted

BLOCK_CHARS = 1 << 20
MAX_LINE_CHARS = 1 << 20
MAX_TITLE_CHARS = 300
MAX_CONTEXT_LINE_CHARS = 500
CONTEXT_LINES = 2
#: The longest context: the marker line and CONTEXT_LINES each side, joined by newlines.
MAX_CONTEXT_CHARS = (2 * CONTEXT_LINES + 1) * (MAX_CONTEXT_LINE_CHARS + 1) - 1

_MARKER_AND_TITLE = (
    r"(?P<marker>(?i:todo|fixme|xxx|bug|feature|security|performance|refactor|hack))"
    r"(?:[ \t]*[(\[](?P<tag>[^)\]\n]{0,40})[)\]])?"
    r"[ \t]*:[ \t]*(?P<rest>[^\n]*)"
)
# Anchored on the newline before the line: a literal first character lets the
# regex engine skip quickly from one line start to the next, and the lookahead
# drops most lines on their first visible characters, which must open a comment
# leader, a bullet or an upper-case marker (a lower-case one needs a leader).
_ITEM = re.compile(
    r"\n(?=[ \t]*(?:[<*/#;\-+•]|\d{1,3}[.)]|[TFBSPRXH][OIUEXA]))[ \t]*"
    r"(?P<leader>(?:<!--|/\*+|//+|#+|--|;+|\*)[ \t]*)?"
    r"(?:(?:[-*+•]|\d{1,3}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?)?" + _MARKER_AND_TITLE
)
# Comments after code (``x = 1  # TODO: y``): one pass per leader, each with a
# literal first character or two so the engine can skip to candidates quickly.
_TRAILING_COMMENTS = (
    re.compile(r"#(?=[# \t]*[TtFfBbSsPpRrXxHh])#*[ \t]*" + _MARKER_AND_TITLE),
    re.compile(r"//(?=[/ \t]*[TtFfBbSsPpRrXxHh])/*[ \t]*" + _MARKER_AND_TITLE),
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
    """The title (not cut yet: its location comes out first) and an explicit priority."""
    title = rest.strip()
    if title.endswith(("/", ">")):
        title = _COMMENT_CLOSER.sub("", title)
    priority = parse_priority(tag)
    if "[" not in title:
        return title, priority
    for pattern in (_TITLE_TAG_START, _TITLE_TAG_END):
        found = pattern.search(title)
        if found is not None:
            named = parse_priority(found["tag"])
            if named is not None:
                title = (title[: found.start()] + title[found.end() :]).strip()
                priority = priority or named
    return title, priority


def _cut_title(title: str) -> str:
    if len(title) > MAX_TITLE_CHARS:
        return title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return title


def _context(text: str) -> str:
    if len(text) <= MAX_CONTEXT_LINE_CHARS and "\r" not in text:
        return text
    return "\n".join(line.rstrip("\r")[:MAX_CONTEXT_LINE_CHARS] for line in text.split("\n"))


def complete_lines(chunks: Iterable[str], max_line_chars: int) -> Iterator[str]:
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


class Scanner:
    """The streaming state: a buffer of whole lines that starts with a sentinel newline.

    ``buf[1:scan_start]`` holds up to two lines already scanned (context before
    the next lines); ``buf[scan_start:]`` lines not scanned yet. The last two
    lines of a buffer wait for the next block, which gives them their context after.

    With ``collapse``, consecutive copies of a marker line are one
    :data:`Counted` item (the first copy, and the number of copies), counted
    by comparing, in a number of steps that grows with the logarithm of the
    run: a million identical lines cost as much as a few dozen.
    """

    def __init__(
        self,
        source_agent: str,
        file: str | None,
        timestamp: str,
        roots: tuple[str, ...],
        *,
        collapse: bool = False,
    ) -> None:
        self.source_agent = source_agent
        self.file = file
        self.timestamp = timestamp
        self.roots = roots
        self.collapse = collapse
        self.buf = "\n"
        self.scan_start = 1
        self.line_no = 1  # line number of the line starting at scan_start
        self.resume_at = 0  # where the next line-start search begins

    def feed(self, block: str) -> Iterator[Counted]:
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

    def finish(self) -> Iterator[Counted]:
        yield from self._scan(self.buf, len(self.buf))
        self.buf = "\n"
        self.scan_start = 1

    def _trailing(self, buf: str, limit: int) -> list[tuple[int, re.Match[str]]]:
        """(line start, match) of the comments after code in ``buf[scan_start:limit]``."""
        trailing = []
        for pattern in _TRAILING_COMMENTS:
            for m in pattern.finditer(buf, self.scan_start, limit):
                at = m.start()
                if buf[at - 1] not in " \t":
                    continue
                line_start = buf.rfind("\n", 0, at) + 1
                if buf[line_start:at].strip():
                    trailing.append((line_start, m))
        return trailing

    def _candidates(
        self, buf: str, limit: int, trailing: list[tuple[int, re.Match[str]]]
    ) -> Iterator[tuple[int, re.Match[str]]]:
        """(line start, match) for the marker lines, with comments after code, in line order."""
        found = [(m.start() + 1, m) for m in _ITEM.finditer(buf, self.scan_start - 1, limit)]
        # One ticket per line: the line-start item first, else the earliest comment.
        merged = sorted(found + trailing, key=_line_then_start)
        for i, candidate in enumerate(merged):
            if i == 0 or candidate[0] != merged[i - 1][0]:
                yield candidate

    def _lazy_candidates(self, buf: str, limit: int) -> Iterator[tuple[int, re.Match[str]]]:
        """The line-start matches one search at a time, resuming where :attr:`resume_at` says.

        A block of a million markers never lives in memory as a million match
        objects, and :meth:`_scan` can skip copies of a line it read without
        the regular expression.
        """
        self.resume_at = self.scan_start - 1
        while True:
            m = _ITEM.search(buf, self.resume_at, limit)
            if m is None:
                return
            self.resume_at = m.end()
            yield m.start() + 1, m

    def _scan(self, buf: str, limit: int) -> Iterator[Counted]:
        cursor = self.scan_start
        line_no = self.line_no
        size = len(buf)
        trailing = self._trailing(buf, limit)
        lazy = not trailing
        candidates = (
            self._lazy_candidates(buf, limit) if lazy else self._candidates(buf, limit, trailing)
        )
        # The last marker line's reading and context: a repeated line is read once.
        last_rest: str | None = None
        last_marker = last_tag = ""
        reading: tuple[str, TicketType, Priority, str | None, int | None] | None = None
        last_raw, last_context = "", ""
        for line_start, match in candidates:
            marker, tag, rest = match.group("marker", "tag", "rest")
            kind = _MARKERS.get(marker)
            if kind is None:
                kind = _marker_kind(marker)
            # A lower-case marker counts only in a comment (a trailing one is one).
            if not kind[2] and match.re is _ITEM and match.group("leader") is None:
                continue
            if rest != last_rest or marker != last_marker or tag != last_tag:
                last_rest, last_marker, last_tag = rest, marker, tag
                reading = self._read(rest, tag, kind)
            if reading is None:
                continue
            title, ticket_type, priority, file, line = reading
            line_no += buf.count("\n", cursor, line_start)
            line_end = match.end() + 1  # where the next line starts
            length = line_end - line_start
            rest_at = match.start("rest") - line_start
            prefix: str | None = None
            while True:
                start = line_start
                before = CONTEXT_LINES
                while before and start > 1:
                    start = buf.rfind("\n", 0, start - 1) + 1
                    before -= 1
                end = line_end - 1
                after = CONTEXT_LINES
                while after and end + 1 < size:
                    end = buf.find("\n", end + 1)
                    after -= 1
                if end - start != len(last_raw) or not buf.startswith(last_raw, start):
                    last_raw = buf[start:end]
                    last_context = _context(last_raw)
                ticket = Ticket(
                    type=ticket_type,
                    title=title,
                    priority=priority,
                    source_agent=self.source_agent,
                    timestamp=self.timestamp,
                    context=last_context,
                    line=line_no if self.file is not None else line,
                    file=file,
                    output_line=line_no,
                )
                # Is the next line a copy of this one? Compared, not searched.
                copy = (
                    lazy
                    and line_end + length <= limit
                    and buf[line_end + length - 1] == "\n"
                    and buf.startswith(rest, line_end + rest_at)
                )
                if copy:
                    if prefix is None:
                        prefix = buf[line_start : line_start + rest_at]
                    copy = buf.startswith(prefix, line_end)
                if copy and self.collapse:
                    copies = _copies(buf, line_start, length, limit)
                    yield ticket, copies
                    line_start += length * (copies - 1)
                    line_no += copies - 1
                    self.resume_at = line_start + length - 1
                    break
                yield ticket, 1
                if not copy:
                    break
                line_start, line_end = line_end, line_end + length
                line_no += 1
                self.resume_at = line_end - 1
            cursor = line_start
        self.line_no = line_no + buf.count("\n", cursor, limit)

    def _read(
        self, rest: str, tag: str | None, kind: tuple[TicketType, Priority, bool]
    ) -> tuple[str, TicketType, Priority, str | None, int | None] | None:
        """Title, type, priority, file and line of a marker line; None when its title is empty."""
        title, priority = _title_and_priority(rest, tag)
        if not title:
            return None
        file, line = self.file, None
        if file is None:
            title, location = split_location(title, self.roots)
            if location is not None:
                file, line = location.file, location.line
        return _cut_title(title), kind[0], priority or kind[1], file, line


def _copies(buf: str, line_start: int, length: int, limit: int) -> int:
    """How many consecutive copies of the line at ``line_start`` start before ``limit`` (>= 1).

    Galloping: compare 1, 2, 4... copies at once, then halve back: about
    2 log2(n) comparisons for a run of n lines.
    """
    unit = buf[line_start : line_start + length]
    at = line_start + length
    copies, step, growing = 1, 1, True
    while step:
        span = length * step
        if at + span <= limit and buf.startswith(unit * step if step > 1 else unit, at):
            at += span
            copies += step
            if growing:
                step *= 2
        else:
            growing = False
            step //= 2
    return copies


def _line_then_start(candidate: tuple[int, re.Match[str]]) -> tuple[int, int]:
    return candidate[0], candidate[1].start()


#: Marker word as written -> (type, default priority, written in upper case).
_MARKERS: dict[str, tuple[TicketType, Priority, bool]] = {}


def _marker_kind(marker: str) -> tuple[TicketType, Priority, bool]:
    word = marker.upper()
    kind = (MARKER_TYPES[word], marker_priority(word), marker.isupper())
    if len(_MARKERS) < 4096:  # every case variant of every marker would be about 5,000
        _MARKERS[marker] = kind
    return kind
