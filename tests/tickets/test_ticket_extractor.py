"""The extractor: what counts as an item, priorities, locations, context, lines, streaming."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_pm.tickets.extractor import (
    MAX_CONTEXT_CHARS,
    MAX_TITLE_CHARS,
    extract_lines,
    extract_path,
    extract_text,
    iter_counted,
    iter_extract,
    parse_priority,
)
from claude_pm.tickets.model import Priority, TicketType

TS = "2026-01-01T00:00:00+00:00"


def found(text: str) -> list[tuple[str, str, str]]:
    return [(t.type.value, t.priority.value, t.title) for t in extract_text(text, "qa")]


ITEMS = [
    ("plain todo", "TODO: write docs", [("task", "low", "write docs")]),
    ("fixme is a bug", "FIXME: crash on empty input", [("bug", "high", "crash on empty input")]),
    ("bug", "BUG: off by one", [("bug", "high", "off by one")]),
    ("feature", "FEATURE: export to csv", [("feature", "medium", "export to csv")]),
    ("security", "SECURITY: token in logs", [("security", "high", "token in logs")]),
    ("performance", "PERFORMANCE: slow query", [("performance", "medium", "slow query")]),
    ("refactor", "REFACTOR: split module", [("refactor", "low", "split module")]),
    ("xxx is a medium bug", "XXX: fragile parsing", [("bug", "medium", "fragile parsing")]),
    ("hack is a medium refactor", "HACK: retry twice", [("refactor", "medium", "retry twice")]),
    ("xxx in a comment", "# xxx: odd", [("bug", "medium", "odd")]),
    ("hack after code", "x()  // HACK(P1): sleep", [("refactor", "high", "sleep")]),
    ("indented", "    TODO: indented", [("task", "low", "indented")]),
    ("hash comment", "# TODO: in a comment", [("task", "low", "in a comment")]),
    ("double slash", "// FIXME: c style", [("bug", "high", "c style")]),
    ("triple slash", "/// TODO: doc comment", [("task", "low", "doc comment")]),
    ("block comment", "/* BUG: leak */", [("bug", "high", "leak")]),
    ("block star", " * REFACTOR: tidy", [("refactor", "low", "tidy")]),
    ("sql comment", "-- TODO: add index", [("task", "low", "add index")]),
    ("lisp comment", ";; TODO: macro", [("task", "low", "macro")]),
    ("html comment", "<!-- FEATURE: dark mode -->", [("feature", "medium", "dark mode")]),
    ("dash bullet", "- TODO: bullet", [("task", "low", "bullet")]),
    ("numbered bullet", "2. BUG: numbered", [("bug", "high", "numbered")]),
    ("check box", "- [ ] TODO: unchecked", [("task", "low", "unchecked")]),
    ("heading", "## TODO: heading", [("task", "low", "heading")]),
    ("space before colon", "TODO : spaced", [("task", "low", "spaced")]),
    ("lower case in comment", "# todo: later", [("task", "low", "later")]),
    ("mixed case in comment", "// Fixme: mixed", [("bug", "high", "mixed")]),
    ("owner in parentheses", "TODO(alice): owned", [("task", "low", "owned")]),
    ("priority in parentheses", "TODO(high): urgent", [("task", "high", "urgent")]),
    ("P1 in brackets", "FEATURE[P1]: soon", [("feature", "high", "soon")]),
    ("P0 spaced", "REFACTOR (p0): now", [("refactor", "high", "now")]),
    ("tag at title start", "TODO: [P1] fix it", [("task", "high", "fix it")]),
    ("tag at title end", "BUG: cosmetic [low]", [("bug", "low", "cosmetic")]),
    ("non-priority tag kept", "TODO: [docs] write", [("task", "low", "[docs] write")]),
    ("crlf", "TODO: windows\r\n", [("task", "low", "windows")]),
    ("comment after code", "x = 1  # TODO: trailing", [("task", "low", "trailing")]),
    ("lower case after code", "call();  // fixme(P1): leak", [("bug", "high", "leak")]),
    ("added line of a diff", "+    # TODO: from a diff", [("task", "low", "from a diff")]),
    ("bullet then comment", "- # BUG: odd", [("bug", "high", "odd")]),
    ("one item per line", "TODO: a # FIXME: b", [("task", "low", "a # FIXME: b")]),
    ("first comment wins", "x  // TODO: a # BUG: b", [("task", "low", "a # BUG: b")]),
    (
        "lower case start, comment after",
        "todo: no # FIXME: yes",
        [("bug", "high", "yes")],
    ),
]

NOT_ITEMS = [
    ("debug is not bug", "DEBUG: cache warmed"),
    ("marker inside a call", "logger.debug('todo: later')"),
    ("subtask", "subtask: split"),
    ("lower case without a comment", "todo: later"),
    ("lower case bullet", "- todo: later"),
    ("mixed case without a comment", "Todo: later"),
    ("no colon", "TODO fix this"),
    ("longer word", "TODOS: many"),
    ("bugfix", "BUGFIX: applied"),
    ("hacker", "HACKER: news"),
    ("four x", "XXXX: placeholder"),
    ("lower-case hack without a comment", "hack: later"),
    ("no space before the comment", "url#TODO: x"),
    ("slashes of a url", "see http://TODO: x"),
    ("other leader after code", "x = 1; -- TODO: y"),
    ("prose mention", "There is a TODO: here"),
    ("empty title", "TODO:"),
    ("blank title", "FIXME:   \t"),
    ("only a comment closer", "/* TODO: */"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in ITEMS], ids=[c[0] for c in ITEMS])
def test_items(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize("text", [c[1] for c in NOT_ITEMS], ids=[c[0] for c in NOT_ITEMS])
def test_not_items(text: str) -> None:
    assert found(text) == []


def test_empty_title_does_not_take_the_next_line() -> None:
    assert found("TODO:\nthe next paragraph\n") == []


def test_ticket_fields_line_and_context() -> None:
    text = "one\ntwo\nthree\nBUG: four\nfive\nsix\nseven\n"
    (ticket,) = extract_text(text, "security", timestamp=TS)
    assert (ticket.output_line, ticket.line, ticket.file) == (4, None, None)
    assert ticket.context == "two\nthree\nBUG: four\nfive\nsix"
    assert ticket.to_dict() == {
        "type": "bug",
        "title": "four",
        "source_agent": "security",
        "timestamp": TS,
        "priority": "high",
        "context": "two\nthree\nBUG: four\nfive\nsix",
        "file": None,
        "line": None,
        "output_line": 4,
        "fingerprint": ticket.fingerprint,
    }


def test_context_is_cut_at_the_edges_of_the_text() -> None:
    first, last = extract_text("TODO: a\nx\ny\nz\nTODO: b", "qa")
    assert (first.output_line, first.context) == (1, "TODO: a\nx\ny")
    assert (last.output_line, last.context) == (5, "y\nz\nTODO: b")


def test_crlf_context_and_lines() -> None:
    text = "a\r\nb\r\nTODO: c\r\nd\r\n"
    (ticket,) = extract_text(text, "qa")
    assert (ticket.output_line, ticket.title, ticket.context) == (3, "c", "a\nb\nTODO: c\nd")


def test_explicit_priority_words() -> None:
    assert parse_priority("P0") is Priority.HIGH
    assert parse_priority("critical") is Priority.HIGH
    assert parse_priority("high priority") is Priority.HIGH
    assert parse_priority("p2") is Priority.MEDIUM
    assert parse_priority("Low") is Priority.LOW
    assert parse_priority("alice") is None
    assert parse_priority(None) is None


def test_extract_path_and_lines_agree_with_text(tmp_path: Path) -> None:
    text = "intro\n# TODO: one\nmiddle\r\nFIXME(low): two\n" * 3
    path = tmp_path / "out.log"
    path.write_bytes(text.encode())
    from_text = [t.to_dict() for t in extract_text(text, "qa", timestamp=TS)]
    from_path = [t.to_dict() for t in extract_path(path, "qa", timestamp=TS)]
    from_lines = [t.to_dict() for t in extract_lines(text.splitlines(), "qa", timestamp=TS)]
    assert from_path == from_text
    assert [(d["output_line"], d["title"]) for d in from_lines] == [
        (d["output_line"], d["title"]) for d in from_text
    ]
    assert len(from_text) == 6


def test_undecodable_bytes_are_replaced(tmp_path: Path) -> None:
    path = tmp_path / "bin.log"
    path.write_bytes(b"\xff\xfe garbage\nTODO: after \xe9 bytes\n")
    (ticket,) = extract_path(path, "qa")
    assert ticket.output_line == 2
    assert ticket.title.startswith("after")


def test_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.log"
    path.write_bytes("TODO: first line\n".encode("utf-8-sig"))
    assert [(t.output_line, t.title) for t in extract_path(path, "qa")] == [(1, "first line")]


def test_file_is_part_of_the_fingerprint() -> None:
    (a,) = extract_text("TODO: same", "qa", file="a.py")
    (b,) = extract_text("TODO: same", "qa", file="b.py")
    (c,) = extract_text("# todo:   Same.", "qa", file="a.py")
    assert a.fingerprint != b.fingerprint
    assert a.fingerprint == c.fingerprint


def test_long_lines_are_cut_and_line_numbers_hold() -> None:
    chunks = ["TODO: head\n", "x" * 5000, "y" * 5000, "\nBUG: after the long line\n"]
    tickets = list(iter_extract(chunks, "qa", max_line_chars=1000))
    assert [(t.output_line, t.title) for t in tickets] == [(1, "head"), (3, "after the long line")]
    assert all(len(line) <= 1000 for t in tickets for line in t.context.split("\n"))


def test_streaming_memory_is_bounded() -> None:
    block = ("agent says hello and keeps going on about its work\n" * 199) + "TODO: item\n"
    block_count = 2000  # about 20 MB in all

    def chunks() -> Iterator[str]:
        for _ in range(block_count):
            yield block

    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_extract(chunks(), "qa"))
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == block_count
    assert peak_bytes < 2_000_000


# -- properties ---------------------------------------------------------------

_MARKER_LINE = st.builds(
    lambda lead, marker, tag, title: f"{lead}{marker}{tag}: {title}",
    st.sampled_from(["", "  ", "# ", "// ", "- ", "* ", "1. ", "<!-- ", "x = 1  # ", "f() // "]),
    st.sampled_from(
        ["TODO", "FIXME", "XXX", "BUG", "FEATURE", "SECURITY", "PERFORMANCE", "REFACTOR", "HACK"]
    ),
    st.sampled_from(["", "(high)", "[P2]", "(bob)"]),
    st.one_of(
        st.text(alphabet="abc xyz[]:#", min_size=0, max_size=20),
        # With a location: a/b.py:3: x, `a.py:3` x, C:\\a.cs(3,4): x, x (a.py:3)...
        st.builds(
            lambda path, line, sep, message: f"{path}:{line}{sep}{message}",
            st.sampled_from(["a/b.py", "b.py", "./c/d.rs", "/abs/e.py", "x\\y.cs"]),
            st.integers(min_value=0, max_value=99),
            st.sampled_from([": ", ":7: ", " ", " - ", ":", ""]),
            st.text(alphabet="abc xyz:", max_size=12),
        ),
        st.builds(
            lambda m, p: f"{m} ({p}:4)", st.text(alphabet="ab c", max_size=6), st.just("a.py")
        ),
    ),
)
_NOISE_LINE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"),
    max_size=40,
)
_LINES = st.lists(st.one_of(_MARKER_LINE, _NOISE_LINE), max_size=30)


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(text[start:point])
        start = point
    pieces.append(text[start:])
    return pieces


@settings(max_examples=300, deadline=None)
@given(lines=_LINES, cuts=st.lists(st.integers(min_value=0), max_size=12), crlf=st.booleans())
def test_chunking_does_not_change_the_tickets(
    lines: list[str], cuts: list[int], crlf: bool
) -> None:
    text = ("\r\n" if crlf else "\n").join(lines)
    whole = [t.to_dict() for t in extract_text(text, "qa", timestamp=TS)]
    pieces = _split(text, cuts)
    streamed = [t.to_dict() for t in iter_extract(pieces, "qa", timestamp=TS)]
    assert streamed == whole


_RUNS = st.lists(
    st.tuples(st.one_of(_MARKER_LINE, _NOISE_LINE), st.integers(min_value=1, max_value=6)),
    max_size=15,
)


@settings(max_examples=300, deadline=None)
@given(runs=_RUNS, cuts=st.lists(st.integers(min_value=0), max_size=8), crlf=st.booleans())
def test_counted_items_are_the_tickets_with_copies_folded(
    runs: list[tuple[str, int]], cuts: list[int], crlf: bool
) -> None:
    """iter_counted's (first copy, copies) expand to exactly what iter_extract yields."""
    lines = [line for line, times in runs for _ in range(times)]
    text = ("\r\n" if crlf else "\n").join(lines)
    per_line = list(iter_extract([text], "qa", timestamp=TS))
    counted = list(iter_counted(_split(text, cuts), "qa", timestamp=TS))
    assert sum(copies for _, copies in counted) == len(per_line)
    position = 0
    for ticket, copies in counted:
        assert ticket == per_line[position]
        for copy in per_line[position : position + copies]:
            assert (copy.type, copy.title, copy.priority, copy.file, copy.line) == (
                ticket.type,
                ticket.title,
                ticket.priority,
                ticket.file,
                ticket.line,
            )
        assert [c.output_line for c in per_line[position : position + copies]] == list(
            range(ticket.output_line or 0, (ticket.output_line or 0) + copies)
        )
        position += copies


def test_a_million_copies_of_a_line_are_counted_in_a_few_items() -> None:
    text = "start\n" + "BUG: the same finding again\n" * 1_000_000 + "end\n"
    blocks = [text[i : i + (1 << 20)] for i in range(0, len(text), 1 << 20)]
    tracemalloc.start()
    try:
        items = list(iter_counted(blocks, "qa"))
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(copies for _, copies in items) == 1_000_000
    assert len(items) <= 2 * len(blocks)
    assert peak_bytes < 8_000_000  # a few blocks of the text, whatever the count


def test_a_ticket_is_small_whatever_the_lines() -> None:
    wide = "é" * 5000
    text = f"{wide}\n{wide}\nTODO: {'t' * 5000} [P1]\n{wide}\n{wide}\n"
    (ticket,) = extract_text(text, "qa")
    assert len(ticket.title) == MAX_TITLE_CHARS
    assert len(ticket.context) <= MAX_CONTEXT_CHARS
    assert ticket.priority is Priority.HIGH


_ANY_MARKER = re.compile(r"(?i)todo|fixme|xxx|bug|feature|security|performance|refactor|hack")


@settings(max_examples=300, deadline=None)
@given(lines=_LINES)
def test_line_numbers_point_at_a_marker_line(lines: list[str]) -> None:
    text = "\n".join(lines)
    physical = text.split("\n")
    for ticket in extract_text(text, "qa"):
        assert ticket.output_line is not None
        line = physical[ticket.output_line - 1]
        assert _ANY_MARKER.search(line)
        # A title that is only a location is its path, in POSIX form.
        head = ticket.title.split("[")[0].strip()
        assert head in line or head in line.replace("\\", "/")
        assert line.rstrip("\r") in ticket.context.split("\n")
        if ticket.file is not None:
            assert ticket.line is not None and f":{ticket.line}" in line


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="acdegijlmnoquvwyz \n\t#/-*:;<!()[]0123456789", max_size=400))
def test_no_ticket_without_a_marker(text: str) -> None:
    assert extract_text(text, "qa") == []


def test_every_marker_maps_to_its_type() -> None:
    markers = ["TODO", "FIXME", "XXX", "BUG", "FEATURE", "HACK"]
    text = "\n".join(f"{m}: x{i}" for i, m in enumerate(markers))
    types = [t.type for t in extract_text(text, "qa")]
    assert types == [
        TicketType.TASK,
        TicketType.BUG,
        TicketType.BUG,
        TicketType.BUG,
        TicketType.FEATURE,
        TicketType.REFACTOR,
    ]
