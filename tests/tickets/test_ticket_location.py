"""Locations in titles: what is one, how paths are normalised, what is never touched."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from claude_pm.tickets.extractor import extract_text
from claude_pm.tickets.location import normalize_path, project_roots, split_location

LOCATED = [
    ("path:line: message", "src/a.py:14: crash", ("crash", "src/a.py", 14)),
    ("path:line:col", "src/a.py:14:5: crash", ("crash", "src/a.py", 14)),
    ("path(line)", "src\\a.cs(14): crash", ("crash", "src/a.cs", 14)),
    ("path(line,col)", "src\\a.cs(14, 5): crash", ("crash", "src/a.cs", 14)),
    ("space after the line", "src/a.py:14 crash", ("crash", "src/a.py", 14)),
    ("dash after the line", "src/a.py:14 - crash", ("crash", "src/a.py", 14)),
    ("in backticks", "`src/a.py:14`: crash", ("crash", "src/a.py", 14)),
    ("bare file name with extension", "setup.py:3: pin", ("pin", "setup.py", 3)),
    ("a usual name without extension", "Dockerfile:7: unpinned", ("unpinned", "Dockerfile", 7)),
    ("a dot file", ".dockerignore:1: missing", ("missing", ".dockerignore", 1)),
    ("dot slash", "./src/a.py:2: x", ("x", "src/a.py", 2)),
    (
        "colons in the message",
        "t.py:14: test_total failed: E",
        ("test_total failed: E", "t.py", 14),
    ),
    ("only a location", "src/a.py:14", ("src/a.py", "src/a.py", 14)),
    (
        "at the end, in parentheses",
        "auth: token leak (src/a.py:9)",
        ("auth: token leak", "src/a.py", 9),
    ),
    ("windows drive", "C:\\w\\a.py:3: x", ("x", "C:/w/a.py", 3)),
    ("outside the project", "/usr/lib/x.py:3: x", ("x", "/usr/lib/x.py", 3)),
]

NOT_LOCATED = [
    ("a time", "12:30 meeting"),
    ("a host and port", "localhost:8080 refused"),
    ("a version", "v1.2:3 is out"),
    ("a step", "step 3: failed"),
    ("a word and a number", "Error:3: boom"),
    ("no line", "src/a.py needs tests"),
    ("line zero", "src/a.py:0: whole file"),
    ("no separator", "src/a.py:14:crash"),
    ("location later in the title", "crash in src/a.py:14"),
    ("a url", "http://example.com:80/x is down"),
    ("empty", ""),
    ("trailing without parentheses", "crash src/a.py:14"),
    ("only a trailing location", "(src/a.py:14)"),
]


@pytest.mark.parametrize(
    ("title", "expected"), [c[1:] for c in LOCATED], ids=[c[0] for c in LOCATED]
)
def test_locations(title: str, expected: tuple[str, str, int]) -> None:
    rest, location = split_location(title)
    assert location is not None
    assert (rest, location.file, location.line) == expected


@pytest.mark.parametrize("title", [c[1] for c in NOT_LOCATED], ids=[c[0] for c in NOT_LOCATED])
def test_not_locations(title: str) -> None:
    assert split_location(title) == (title, None)


def test_absolute_paths_inside_the_project_become_relative(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "src").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    roots = project_roots(link)
    assert normalize_path(f"{link}/src/a.py", roots) == "src/a.py"
    assert normalize_path(f"{real}/src/a.py", roots) == "src/a.py"  # symlink resolved
    assert normalize_path(f"{link}/src/../b.py", roots) == "b.py"
    assert normalize_path(f"{tmp_path}/elsewhere.py", roots) == f"{tmp_path}/elsewhere.py"
    assert normalize_path(f"{link}", roots) == "."


def test_the_extractor_records_file_and_source_line(tmp_path: Path) -> None:
    text = (
        "running the suite\n"
        f"BUG: {tmp_path}/tests/test_cart.py:14: test_total failed: AssertionError\n"
        "SECURITY(high): src/settings.py:3: hard-coded AWS secret access key\n"
        "TODO: no location here\n"
    )
    bug, secret, todo = extract_text(text, "qa", project_root=tmp_path)
    assert (bug.file, bug.line, bug.output_line) == ("tests/test_cart.py", 14, 2)
    assert bug.title == "test_total failed: AssertionError"
    assert (secret.file, secret.line, secret.priority.value) == ("src/settings.py", 3, "high")
    assert secret.title == "hard-coded AWS secret access key"
    assert (todo.file, todo.line, todo.output_line) == (None, None, 4)


def test_a_finding_that_moved_keeps_its_fingerprint() -> None:
    (before,) = extract_text("BUG: src/a.py:14: crash on save", "qa")
    (after,) = extract_text("BUG: src/a.py:15: crash on save", "qa")
    (elsewhere,) = extract_text("BUG: src/b.py:14: crash on save", "qa")
    assert before.fingerprint == after.fingerprint
    assert before.fingerprint != elsewhere.fingerprint


def test_a_file_given_by_the_caller_leaves_titles_alone() -> None:
    (ticket,) = extract_text("x\n# TODO: see other.py:12: for the pattern\n", "qa", file="m.py")
    assert (ticket.file, ticket.line, ticket.output_line) == ("m.py", 2, 2)
    assert ticket.title == "see other.py:12: for the pattern"


def test_the_location_comes_out_before_the_title_is_cut() -> None:
    long_path = "deep/" * 100 + "a.py"
    (ticket,) = extract_text(f"BUG: {long_path}:3: " + "m" * 400, "qa")
    assert ticket.file == long_path
    assert len(ticket.title) == 300 and ticket.title.startswith("mmm")


# -- properties ---------------------------------------------------------------

#: A looser shape than the parser's: a title without it can hold no location.
_LOCATION_SHAPE = re.compile(r"[^\s:()`'\",]+(?::[0-9]|\([0-9])|\([^\s()]+:[0-9]+(?::[0-9]+)?\)$")


@settings(max_examples=500, deadline=None)
@given(title=st.text(alphabet="ab./\\:()01 -`,'xy.pcs", max_size=40) | st.text(max_size=40))
def test_a_title_without_a_location_is_never_changed(title: str) -> None:
    assume(not _LOCATION_SHAPE.search(title))
    assert split_location(title) == (title, None)


_SEGMENT = st.text(alphabet="abcxyz_-09", min_size=1, max_size=8)
_PATHS = st.builds(
    lambda parts, ext: "/".join(parts) + ext,
    st.lists(_SEGMENT, min_size=1, max_size=4),
    st.sampled_from([".py", ".ts", ".c", ".rs", ""]),
).filter(lambda p: "/" in p or "." in p)


@settings(max_examples=300, deadline=None)
@given(
    path=_PATHS,
    line=st.integers(min_value=1, max_value=10**8),
    column=st.none() | st.integers(min_value=0, max_value=500),
    message=st.text(alphabet="abc xyz:=()'", max_size=30).map(str.strip).filter(bool),
)
def test_a_location_reads_back(path: str, line: int, column: int | None, message: str) -> None:
    where = f"{path}:{line}" + (f":{column}" if column is not None else "")
    rest, location = split_location(f"{where}: {message}")
    assert location is not None
    assert (location.file, location.line, rest) == (normalize_path(path), line, message)
