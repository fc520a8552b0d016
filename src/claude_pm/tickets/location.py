"""Where a finding is: the ``path:line`` an agent puts at the start of a ticket's title.

Agents report findings as ``MARKER: path:line: message``
(``BUG: tests/test_cart.py:14: test_total failed``). The location is not part
of what the finding *is*: the same bug one line further down, after an edit
above it, is the same ticket. So the extractor takes the location out of the
title and records it as the ticket's ``file`` and ``line``; the fingerprint
then sees the message and the file, never the line.

What counts as a location
    At the very start of the title (after any priority tag), optionally in
    backticks, a path followed by a line:

    ===========================  ===========================================
    ``path:LINE``                ``src/a.py:14: message``
    ``path:LINE:COL``            ``src/a.py:14:5: message``
    ``path(LINE)``               ``src\\a.cs(14): message`` (MSBuild, MSVC)
    ``path(LINE,COL)``           ``src\\a.cs(14,5): message``
    ===========================  ===========================================

    then a separator: a colon followed by white space, white space (with an
    optional dash: ``src/a.py:14 - message``), or the end of the title. Or, at
    the very end of the title, in parentheses after white space:
    ``message (src/a.py:14)``.

    A path has no white space, colons, parentheses, quotes or commas (a
    Windows drive, ``C:\\``, is allowed), is at most ``MAX_PATH_CHARS`` long,
    and looks like a path: it holds a ``/`` or ``\\``, or it ends in an
    extension that starts with a letter (``setup.py``, ``main.c``,
    ``.dockerignore``), or it is one of the usual file names without one
    (:data:`BARE_FILE_NAMES`: ``Dockerfile``, ``Makefile``...). So
    ``12:30 meeting``, ``localhost:8080 refused``, ``step 3: failed`` and
    ``v1.2:3`` are not locations. Line numbers start at 1; a column is
    accepted and dropped.

    A title with no location is left exactly as it was.

Paths
    Recorded in POSIX form relative to the project root: ``\\`` becomes
    ``/``, ``./`` and ``a/../`` are collapsed, and an absolute path inside
    the project root (as given, or with its symlinks resolved) becomes
    relative to it. An absolute path outside the project stays absolute.

A title that is nothing but a location (``BUG: src/a.py:14``) keeps the path
as its title, so it still names the finding without its line.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BARE_FILE_NAMES",
    "MAX_PATH_CHARS",
    "Location",
    "normalize_path",
    "project_roots",
    "split_location",
]

#: Longest path taken as a location; a longer token is left in the title.
MAX_PATH_CHARS = 1024

_PATH = r"(?P<path>(?:[A-Za-z]:[\\/])?[^\s:()`'\",]{1," + str(MAX_PATH_CHARS) + "})"
_LINE_COL = (
    r"(?::(?P<line>[1-9][0-9]{0,8})(?::[0-9]{1,9})?"
    r"|\((?P<pline>[1-9][0-9]{0,8})(?:,[ \t]*[0-9]{1,9})?\))"
)
_LEADING = re.compile(
    r"(?P<tick>`?)" + _PATH + _LINE_COL + r"(?P=tick)"
    r"(?:[ \t]*:(?:[ \t]+|$)|[ \t]+(?:[-\u2013\u2014][ \t]+)?|$)"
)
_TRAILING = re.compile(r"[ \t]+\(" + _PATH + _LINE_COL + r"\)$")
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9_-]{0,15}$")

#: File names without an extension that are taken as paths on their own.
BARE_FILE_NAMES = frozenset(
    (
        "AUTHORS",
        "Brewfile",
        "BUILD",
        "CHANGELOG",
        "CODEOWNERS",
        "Containerfile",
        "Dockerfile",
        "Gemfile",
        "GNUmakefile",
        "Jenkinsfile",
        "Justfile",
        "justfile",
        "LICENSE",
        "Makefile",
        "makefile",
        "NOTICE",
        "Pipfile",
        "Procfile",
        "Rakefile",
        "README",
        "Vagrantfile",
        "WORKSPACE",
    )
)


@dataclass(frozen=True)
class Location:
    """A place in the project: ``file`` in POSIX form, relative when inside the project."""

    file: str
    line: int


def looks_like_path(path: str) -> bool:
    """True for ``a/b``, ``a\\b``, ``name.ext``, ``Dockerfile``; not ``12``, ``host``, ``v1.2``."""
    return (
        "/" in path
        or "\\" in path
        or _EXTENSION.search(path) is not None
        or path in BARE_FILE_NAMES
    )


def project_roots(project_root: Path | str | None) -> tuple[str, ...]:
    """The forms of the project root that absolute paths are matched against."""
    if project_root is None:
        return ()
    given = posixpath.normpath(str(project_root).replace("\\", "/"))
    try:
        resolved = posixpath.normpath(Path(project_root).resolve().as_posix())
    except OSError:
        resolved = given
    return (given,) if resolved == given else (given, resolved)


def normalize_path(path: str, roots: Sequence[str] = ()) -> str:
    """``path`` in POSIX form, relative to the first of ``roots`` it lies under."""
    text = path.replace("\\", "/")
    drive = len(text) >= 3 and text[1] == ":" and text[2] == "/"
    if not text.startswith("/") and not drive:
        return posixpath.normpath(text)
    text = posixpath.normpath(text)
    for root in roots:
        if text == root:
            return "."
        prefix = root if root.endswith("/") else root + "/"
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def split_location(title: str, roots: Sequence[str] = ()) -> tuple[str, Location | None]:
    """The title without its location, and the location; ``(title, None)`` when it has none.

    ``roots`` are the project root's forms (:func:`project_roots`), for
    turning absolute paths inside the project into relative ones.
    """
    if not title:
        return title, None
    found = _LEADING.match(title)
    if found is not None and looks_like_path(found["path"]):
        rest = title[found.end() :].strip()
        line = int(found["line"] or found["pline"])
        file = normalize_path(found["path"], roots)
        return (rest or file), Location(file, line)
    if title.endswith(")"):
        # Only the tail can hold it: the search stays short on a long title.
        tail_start = max(0, len(title) - MAX_PATH_CHARS - 40)
        found = _TRAILING.search(title, tail_start)
        if found is not None and looks_like_path(found["path"]):
            rest = title[: found.start()].strip()
            if rest:
                line = int(found["line"] or found["pline"])
                return rest, Location(normalize_path(found["path"], roots), line)
    return title, None
