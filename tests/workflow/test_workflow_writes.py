"""The writes rules: accepted globs, normalization, and the conservative overlap rule."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_pm.workflow.writes import (
    effective_writes,
    globs_overlap,
    literal_prefix,
    normalize_write_glob,
    write_glob_problem,
    writes_overlap,
)

OVERLAPS = [
    ("same file", "pyproject.toml", "pyproject.toml", True),
    ("file inside a folder glob", "src/**", "src/a.py", True),
    ("folder named without a wildcard", "src", "src/pkg/a.py", True),
    ("two globs in one folder", "src/*.py", "src/*.md", True),
    ("conservative: a file the glob would not match", "src/*.py", "src/README.md", True),
    ("conservative: a longer name", "src", "src2/x", True),
    ("everything", "**", "docs/index.md", True),
    ("wildcard first", "*.md", "src/a.py", True),
    ("character class ends the prefix", "src/[ab].py", "src/c.py", True),
    ("question mark ends the prefix", "docs/?.md", "docs/x/y", True),
    ("sibling folders", "src/**", "docs/**", False),
    ("different files", "README.md", "LICENSE", False),
    ("prefixes differ before a wildcard", "src/a*", "src/b*", False),
]


@pytest.mark.parametrize(
    ("a", "b", "overlap"), [c[1:] for c in OVERLAPS], ids=[c[0] for c in OVERLAPS]
)
def test_the_overlap_rule(a: str, b: str, overlap: bool) -> None:
    assert globs_overlap(a, b) is overlap
    assert globs_overlap(b, a) is overlap
    assert writes_overlap([a], [b]) is overlap


def test_a_read_only_task_overlaps_nothing() -> None:
    assert not writes_overlap([], ["**"])
    assert not writes_overlap(["**"], [])


def test_write_sets_overlap_when_any_pair_does() -> None:
    assert writes_overlap(["docs/**", "src/a.py"], ["tests/**", "src/*"])
    assert not writes_overlap(["docs/**", "src/a.py"], ["tests/**", "src/b*"])


def test_the_literal_prefix_stops_at_the_first_wildcard() -> None:
    assert literal_prefix("src/pkg/*.py") == "src/pkg/"
    assert literal_prefix("a?b*c") == "a"
    assert literal_prefix("x[ab]") == "x"
    assert literal_prefix("plain/file") == "plain/file"


def test_normalization_drops_dot_and_empty_parts() -> None:
    assert normalize_write_glob("./src//pkg/") == "src/pkg"
    assert normalize_write_glob(".") == "**"
    assert normalize_write_glob("./") == "**"
    assert normalize_write_glob("docs/*.md") == "docs/*.md"


@pytest.mark.parametrize(
    "glob", ["/etc/passwd", "../x", "src/../../x", "a/..", "~/x", "", "  ", "a\0b", "x" * 1025]
)
def test_globs_that_could_leave_the_project_are_refused(glob: str) -> None:
    assert write_glob_problem(glob) is not None


@pytest.mark.parametrize("glob", ["src/**", "a..b", "..hidden", "docs/*.md", ".", "x" * 1024])
def test_ordinary_globs_are_accepted(glob: str) -> None:
    assert write_glob_problem(glob) is None


def test_a_writer_without_writes_writes_everything() -> None:
    assert effective_writes(None, can_write=True) == ("**",)
    assert effective_writes(None, can_write=False) == ()
    assert effective_writes((), can_write=True) == ()
    assert effective_writes(("src/**",), can_write=False) == ("src/**",)


_glob = st.lists(st.sampled_from(["a", "b", "/", "*", "?", "[ab]", "**"]), max_size=6).map("".join)
_path = st.lists(st.sampled_from(["a", "b", "/"]), min_size=1, max_size=8).map("".join)


@settings(max_examples=500, deadline=None)
@given(a=_glob, b=_glob, path=_path)
def test_the_rule_never_misses_a_path_both_globs_match(a: str, b: str, path: str) -> None:
    # fnmatch lets * cross "/", so it matches more than any glob dialect: a stronger check.
    if fnmatch.fnmatchcase(path, a) and fnmatch.fnmatchcase(path, b):
        assert globs_overlap(a, b)
