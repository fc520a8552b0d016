"""Find TODO / FIXME / XXX / BUG / FEATURE / SECURITY / PERFORMANCE / REFACTOR / HACK items.

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

Types
    ``TODO`` is a task; ``FIXME``, ``BUG`` and ``XXX`` are bugs; ``HACK`` and
    ``REFACTOR`` are refactors; ``FEATURE``, ``SECURITY`` and
    ``PERFORMANCE`` are their own types (:data:`~claude_pm.tickets.model.MARKER_TYPES`).

Priority
    By type: security and bug high, performance and feature medium, task and
    refactor low; by marker for ``XXX`` and ``HACK``: medium. An explicit
    priority overrides it, written either right after the marker in
    parentheses or brackets (``TODO(high):``,
    ``FIXME[P1]:``, ``BUG (p0):``) or as a bracketed tag at the start or end
    of the title (``TODO: [P1] fix it``, ``TODO: fix it [low]``; the tag is
    removed from the title). ``P0``, ``P1``, ``critical``, ``urgent``,
    ``blocker`` and ``high`` mean high; ``P2``, ``medium``, ``med`` and
    ``normal`` mean medium; ``P3``, ``P4``, ``low``, ``minor`` and ``trivial``
    mean low (case does not matter). Anything else in the parentheses after a
    marker (``TODO(alice):``) is allowed and ignored.

Location
    When the caller does not say which file the text is (``file=None``, as
    for an agent's output), a leading ``path:line`` in the title
    (``BUG: src/a.py:14: crash``) is taken out of it and becomes the ticket's
    ``file`` and ``line`` (:mod:`claude_pm.tickets.location`); the line of the
    text is ``output_line`` either way. When the caller gives ``file`` (the
    text *is* that file), ``line`` is the line of the text and titles are
    left alone.

Size
    The title is cut to ``MAX_TITLE_CHARS`` (after its location is taken
    out), the context to ``CONTEXT_LINES`` lines each side of the marker line,
    each cut to ``MAX_CONTEXT_LINE_CHARS``, ``\\r`` of CRLF line ends removed:
    at most ``MAX_CONTEXT_CHARS`` in all. A path is at most
    :data:`~claude_pm.tickets.location.MAX_PATH_CHARS`. So a ticket is a few
    kilobytes at most, whatever the input.

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

from collections.abc import Iterable, Iterator
from pathlib import Path

from claude_pm.tickets.location import project_roots
from claude_pm.tickets.model import Ticket, utc_now_iso
from claude_pm.tickets.scanner import (
    BLOCK_CHARS,
    CONTEXT_LINES,
    MAX_CONTEXT_CHARS,
    MAX_CONTEXT_LINE_CHARS,
    MAX_LINE_CHARS,
    MAX_TITLE_CHARS,
    Scanner,
    complete_lines,
    parse_priority,
)
from claude_pm.tickets.summary import Counted

__all__ = [
    "BLOCK_CHARS",
    "CONTEXT_LINES",
    "MAX_CONTEXT_CHARS",
    "MAX_CONTEXT_LINE_CHARS",
    "MAX_LINE_CHARS",
    "MAX_TITLE_CHARS",
    "Counted",
    "extract_lines",
    "extract_path",
    "extract_text",
    "iter_counted",
    "iter_counted_path",
    "iter_extract",
    "iter_extract_path",
    "parse_priority",
    "text_blocks",
]


def iter_extract(
    chunks: Iterable[str],
    source_agent: str,
    *,
    file: str | None = None,
    timestamp: str | None = None,
    max_line_chars: int = MAX_LINE_CHARS,
    project_root: Path | str | None = None,
) -> Iterator[Ticket]:
    """Tickets from text given as chunks cut anywhere (blocks read from a file or a pipe).

    Args:
        chunks: the text, in order; chunk boundaries do not matter.
        source_agent: recorded on every ticket.
        file: the source file the text is, when known (part of the fingerprint);
            None for output about the project, whose titles may name a location.
        timestamp: ISO 8601 time recorded on every ticket (default: now, UTC).
        max_line_chars: lines longer than this are cut, bounding memory.
        project_root: absolute paths under it are recorded relative to it.
    """
    for ticket, _ in _counted(
        chunks, source_agent, file, timestamp, max_line_chars, project_root, collapse=False
    ):
        yield ticket


def iter_counted(
    chunks: Iterable[str],
    source_agent: str,
    *,
    file: str | None = None,
    timestamp: str | None = None,
    max_line_chars: int = MAX_LINE_CHARS,
    project_root: Path | str | None = None,
) -> Iterator[Counted]:
    """Like :func:`iter_extract`, with consecutive copies of a marker line as one item.

    Yields ``(ticket, copies)``: the first copy's ticket (its output line and
    context) and how many consecutive lines repeat it (copies split across
    blocks of the input may come as two items). The sum of ``copies`` is the
    number of tickets :func:`iter_extract` yields; a million identical lines
    cost about as much as one.
    """
    return _counted(
        chunks, source_agent, file, timestamp, max_line_chars, project_root, collapse=True
    )


def _counted(
    chunks: Iterable[str],
    source_agent: str,
    file: str | None,
    timestamp: str | None,
    max_line_chars: int,
    project_root: Path | str | None,
    *,
    collapse: bool,
) -> Iterator[Counted]:
    scanner = Scanner(
        source_agent,
        file,
        timestamp or utc_now_iso(),
        project_roots(project_root),
        collapse=collapse,
    )
    for block in complete_lines(chunks, max_line_chars):
        yield from scanner.feed(block)
    yield from scanner.finish()


def text_blocks(text: str) -> Iterator[str]:
    """``text`` in blocks of ``BLOCK_CHARS``: what :func:`iter_extract` reads fastest."""
    # Blocks keep the regular expressions' work in cache on large texts.
    return (text[i : i + BLOCK_CHARS] for i in range(0, len(text), BLOCK_CHARS))


def extract_text(
    text: str,
    source_agent: str,
    *,
    file: str | None = None,
    timestamp: str | None = None,
    project_root: Path | str | None = None,
) -> list[Ticket]:
    """All tickets in ``text``, in order of their lines (a list: for small texts)."""
    return list(
        iter_extract(
            text_blocks(text),
            source_agent,
            file=file,
            timestamp=timestamp,
            project_root=project_root,
        )
    )


def extract_lines(
    lines: Iterable[str],
    source_agent: str,
    *,
    file: str | None = None,
    timestamp: str | None = None,
    project_root: Path | str | None = None,
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

    return iter_extract(
        blocks(), source_agent, file=file, timestamp=timestamp, project_root=project_root
    )


def iter_extract_path(
    path: Path,
    source_agent: str,
    *,
    file: str | None = None,
    timestamp: str | None = None,
    block_chars: int = BLOCK_CHARS,
    project_root: Path | str | None = None,
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
            project_root=project_root,
        )


def iter_counted_path(
    path: Path,
    source_agent: str,
    *,
    file: str | None = None,
    timestamp: str | None = None,
    block_chars: int = BLOCK_CHARS,
    project_root: Path | str | None = None,
) -> Iterator[Counted]:
    """:func:`iter_counted` over a file of any size, read in blocks (as :func:`iter_extract_path`).

    Raises:
        OSError: the file cannot be opened or read.
    """
    with Path(path).open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        yield from iter_counted(
            iter(lambda: handle.read(block_chars), ""),
            source_agent,
            file=file,
            timestamp=timestamp,
            project_root=project_root,
        )


def extract_path(
    path: Path,
    source_agent: str,
    *,
    file: str | None = None,
    timestamp: str | None = None,
    project_root: Path | str | None = None,
) -> list[Ticket]:
    """All tickets in the file at ``path`` (a list: prefer :func:`iter_extract_path` for logs).

    Raises:
        OSError: the file cannot be opened or read.
    """
    return list(
        iter_extract_path(
            path, source_agent, file=file, timestamp=timestamp, project_root=project_root
        )
    )
