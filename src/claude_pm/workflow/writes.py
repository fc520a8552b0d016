"""What a task may change: ``writes`` globs, how they are checked, and when two overlap.

A task's ``writes`` are globs relative to the project root (``src/**``,
``docs/*.md``, ``pyproject.toml``). They are checked before anything runs:
a glob may not be absolute, start with ``~`` (nothing is expanded) or use a
``..`` component (it would reach outside the project). Accepted globs are
normalized: ``./`` and empty components are dropped, so ``./src//a/`` is
``src/a``; a glob naming the project itself (``.``) becomes ``**``.

**The overlap rule.** The *literal prefix* of a glob is its text before the
first wildcard character (``*``, ``?`` or ``[``): ``src/`` for ``src/*.py``,
the whole glob for ``pyproject.toml``. Two globs overlap when the literal
prefix of one is a prefix of the other's. The rule is conservative on purpose:
it never misses a path both globs could match (any such path starts with both
literal prefixes, so one prefix extends the other), and it may report an
overlap that matching would not (``src/*.py`` and ``src/README.md``; ``src``
and ``src2/x``). A false overlap costs parallelism; a missed one could let two
agents edit the same file at once.

A task that declares no ``writes`` and whose agent can write counts as writing
everything (``**``); ``writes: []`` declares a read-only task, which overlaps
nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

#: The characters that end a glob's literal prefix.
WILDCARDS = "*?["

#: What a task that may write anything is treated as writing.
EVERYTHING: tuple[str, ...] = ("**",)

#: Longest accepted glob, in characters.
MAX_GLOB_CHARS = 1024


def write_glob_problem(glob: str) -> str | None:
    """Why ``glob`` is not an acceptable ``writes`` entry, or ``None`` when it is."""
    if not glob.strip():
        return "is empty; name a path or glob relative to project_root, such as 'src/**'"
    if len(glob) > MAX_GLOB_CHARS:
        return f"is longer than {MAX_GLOB_CHARS} characters"
    if "\0" in glob:
        return "contains a NUL character"
    if glob.startswith("/"):
        return "is absolute; write it relative to project_root (for example 'src/**')"
    if glob.startswith("~"):
        return "starts with '~'; globs are relative to project_root and '~' is not expanded"
    if ".." in glob.split("/"):
        return "uses '..'; globs must stay inside project_root"
    return None


def normalize_write_glob(glob: str) -> str:
    """``glob`` without ``.`` and empty components; ``**`` for the project itself.

    Only call it on a glob :func:`write_glob_problem` accepts.
    """
    parts = [part for part in glob.split("/") if part not in ("", ".")]
    return "/".join(parts) or "**"


def literal_prefix(glob: str) -> str:
    """The text of ``glob`` before its first wildcard (``*``, ``?``, ``[``)."""
    cut = min((i for i in (glob.find(c) for c in WILDCARDS) if i >= 0), default=len(glob))
    return glob[:cut]


def globs_overlap(a: str, b: str) -> bool:
    """Whether two globs may name a common path, by the literal-prefix rule."""
    pa, pb = literal_prefix(a), literal_prefix(b)
    return pa.startswith(pb) or pb.startswith(pa)


def prefixes_overlap(a: Iterable[str], b: Collection[str]) -> bool:
    """Whether some literal prefix in ``a`` extends, or is extended by, some prefix in ``b``."""
    return any(pa.startswith(pb) or pb.startswith(pa) for pa in a for pb in b)


def writes_overlap(a: Iterable[str], b: Iterable[str]) -> bool:
    """Whether two tasks' write sets overlap: some glob of one overlaps some glob of the other.

    An empty set (a read-only task) overlaps nothing.
    """
    return prefixes_overlap((literal_prefix(g) for g in a), [literal_prefix(g) for g in b])


def effective_writes(writes: tuple[str, ...] | None, *, can_write: bool) -> tuple[str, ...]:
    """What a task counts as writing: its declared ``writes``, else everything if it can write."""
    if writes is not None:
        return writes
    return EVERYTHING if can_write else ()
