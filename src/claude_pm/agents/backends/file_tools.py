"""Read, Write, Edit, Glob and Grep for an LLM agent, confined to its project and bounded.

The tools take the arguments Claude Code's tools of the same names take
(:data:`SCHEMAS`), so a model that knows Claude Code needs no new habits.

Confinement
    Every path an argument names (``file_path``, ``path``) is taken relative
    to the project root unless it is absolute, then resolved: ``..`` segments
    and symbolic links are followed to where they really lead, and a path that
    does not end inside the project root is refused, with an error result that
    says so (a link is named as a link). Walks (Glob, Grep) leave symbolic
    links out, as ripgrep does. Write and
    Edit also refuse ``.git`` (a hook written there would run outside the
    agent) and ``.claude-pm`` (claude-pm's own state).

Bounds
    The model pays for every byte it reads, so every result is capped at
    :attr:`ToolLimits.max_output_bytes` and says where it was cut and how to
    read on (Read's ``offset``, Grep's ``head_limit``, a narrower pattern).
    Read shows ``limit`` lines (2000 by default) of at most 2000 characters
    each; Glob lists 100 paths; Grep lists ``head_limit`` entries (250 by
    default) and skips files over 2 MiB and binary files; a walk visits at most
    50,000 entries and never enters the folders the built-in agents skip
    (``.git``, virtual environments, ``node_modules``, caches, ``.claude-pm``...)
    below the folder it starts from.

A problem with a call raises :class:`ToolRefused`, whose message is what the
model reads. Standard library only; nothing here starts a process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_pm.agents.toolchain.walking import SKIP_DIRS

#: Folders Write and Edit refuse, relative to the project root.
PROTECTED_DIRS = (".git", ".claude-pm")
_BINARY_PROBE_BYTES = 8192
_NEWLINE = "\n"


class ToolRefused(Exception):
    """A tool call that cannot be done; the message tells the model what to change."""


@dataclass(frozen=True)
class ToolLimits:
    """How much one tool call may read, list or write."""

    max_output_bytes: int = 64 * 1024
    read_default_lines: int = 2000
    max_line_chars: int = 2000
    write_max_bytes: int = 5 * 1024 * 1024
    glob_max_results: int = 100
    grep_default_head_limit: int = 250
    grep_max_file_bytes: int = 2 * 1024 * 1024
    walk_max_entries: int = 50_000


#: A path filter: may this project-relative POSIX path be listed or read? (None: yes)
PathCheck = Callable[[str, str], str | None]


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regular expression over POSIX paths (``**``, ``*``, ``?``, ``[...]``, ``{a,b}``).

    ``*`` and ``?`` stay within one folder; ``**/`` spans any number of folders.
    """
    return re.compile(_glob_part(pattern) + r"\Z", re.DOTALL)


def _glob_part(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append(f"[{body}]")
            i = end + 1
        elif pattern[i] == "{" and (end := pattern.find("}", i)) != -1:
            options = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_glob_part(o) for o in options) + ")")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def is_binary(path: Path) -> bool:
    with path.open("rb") as f:
        return b"\0" in f.read(_BINARY_PROBE_BYTES)


def cap_line(line: str, limit: int) -> str:
    return line if len(line) <= limit else f"{line[:limit]}... [line cut at {limit} characters]"


class Output:
    """Lines of a result, up to a byte cap; ``full`` once the next line would not fit."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.lines: list[str] = []
        self.size = 0
        self.full = False

    def add(self, line: str) -> bool:
        size = len(line.encode("utf-8", errors="replace")) + 1
        if self.size + size > self.cap:
            self.full = True
            return False
        self.lines.append(line)
        self.size += size
        return True

    def text(self) -> str:
        return "\n".join(self.lines)


def int_arg(args: Mapping[str, Any], name: str, default: int | None, minimum: int) -> int | None:
    value = args.get(name, default)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ToolRefused(f"{name} must be an integer of at least {minimum}, got {value!r}.")
    return value


def str_arg(args: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = args.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise ToolRefused(f"{name} must be a non-empty string, got {value!r:.80}.")
    return value


def bool_arg(args: Mapping[str, Any], name: str, default: bool) -> bool:
    value = args.get(name, default)
    if not isinstance(value, bool):
        raise ToolRefused(f"{name} must be true or false, got {value!r:.80}.")
    return value


class ProjectFiles:
    """The file tools over one project root.

    ``check(tool, rel)`` is asked before a tool reads, lists or writes the
    project-relative path ``rel``; it returns why not, or None (the
    definition's permission rules, see :mod:`~claude_pm.agents.backends.agent_tools`).
    """

    def __init__(
        self, root: Path, limits: ToolLimits | None = None, check: PathCheck | None = None
    ) -> None:
        self.root = root.resolve()
        self.limits = limits or ToolLimits()
        self._check = check

    # -- paths ----------------------------------------------------------------------------

    def locate(self, text: str, *, tool: str | None) -> Path:
        """The real path ``text`` names, which must lie inside the project root.

        ``tool`` names the tool whose rules the path must pass (None: a search's
        starting point, whose files are checked one by one).

        Raises:
            ToolRefused: the path leaves the project (through ``..``, an absolute
                path or a symbolic link), or it is denied to ``tool``.
        """
        if "\0" in text:
            raise ToolRefused("A path cannot contain a NUL character.")
        given = Path(text)
        lexical = Path(os.path.normpath(given if given.is_absolute() else self.root / given))
        resolved = lexical.resolve()
        if not resolved.is_relative_to(self.root):
            if lexical.is_relative_to(self.root):
                raise ToolRefused(
                    f"{text!r} is a symbolic link (or passes through one) that leads outside "
                    f"the project, to {str(resolved)!r}; only files inside {str(self.root)!r} "
                    "can be used."
                )
            raise ToolRefused(
                f"{text!r} is outside the project; only files inside {str(self.root)!r} can "
                "be used (give a path relative to it, or an absolute path inside it)."
            )
        why = None if tool is None else self.denied(tool, self.relative(resolved))
        if why is not None:
            raise ToolRefused(why)
        return resolved

    def relative(self, path: Path) -> str:
        """``path`` (inside the root) as a POSIX path relative to it ('.' for the root)."""
        return path.relative_to(self.root).as_posix() or "."

    def writable(self, path: Path, text: str) -> None:
        """Refuse a write into :data:`PROTECTED_DIRS`."""
        for name in PROTECTED_DIRS:
            if path.is_relative_to(self.root / name):
                raise ToolRefused(
                    f"{text!r} is inside {name}/, which agents may not write "
                    "(git's internals and claude-pm's state)."
                )

    def denied(self, tool: str, rel: str) -> str | None:
        """Why ``tool`` may not use the project-relative path ``rel``, or None."""
        return None if self._check is None else self._check(tool, rel)

    def folder(self, text: str | None) -> Path:
        """The folder a search starts from: ``text`` located, or the root when None."""
        if not text:
            return self.root
        base = self.locate(text, tool=None)
        if not base.is_dir():
            raise ToolRefused(f"path {text!r} is not a folder.")
        return base

    def walk(self, base: Path) -> Iterator[tuple[Path, str]]:
        """Files under ``base`` as (path, project-relative path), in sorted order.

        Folders in ``SKIP_DIRS`` below ``base`` are not entered and symbolic
        links are left out, as ripgrep does (Read still opens a link that stays
        inside the project).

        Raises:
            WalkCut: after ``walk_max_entries`` files (the caller says so).
        """
        seen = 0
        for folder, dirs, files in os.walk(base, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for name in sorted(files):
                seen += 1
                if seen > self.limits.walk_max_entries:
                    raise WalkCut
                path = Path(folder, name)
                if path.is_symlink() or not path.is_file():
                    continue
                yield path, self.relative(path)

    # -- Read -----------------------------------------------------------------------------

    def read(self, args: Mapping[str, Any]) -> str:
        limits = self.limits
        text = str_arg(args, "file_path") or ""
        offset = int_arg(args, "offset", 1, 0) or 1
        count = int_arg(args, "limit", limits.read_default_lines, 1) or limits.read_default_lines
        path = self.locate(text, tool="Read")
        if path.is_dir():
            raise ToolRefused(f"{text!r} is a folder; list it with Glob.")
        if not path.is_file():
            raise ToolRefused(f"{text!r} does not exist; find the right path with Glob.")
        if is_binary(path):
            size = path.stat().st_size
            raise ToolRefused(f"{text!r} is a binary file ({size} bytes); Read shows text only.")
        out = Output(limits.max_output_bytes)
        seen = 0
        last = 0
        more = False
        with path.open(encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, start=1):
                seen = number
                if number < offset:
                    continue
                shown = f"{number:>6}\t{cap_line(line.rstrip(_NEWLINE), limits.max_line_chars)}"
                if number >= offset + count or not out.add(shown):
                    more = True
                    break
                last = number
        if not last:
            rel = self.relative(path)
            if seen == 0:
                return f"(the file {rel} is empty)"
            return f"(the file {rel} has {seen} lines, fewer than offset={offset})"
        body = out.text()
        if more:
            why = f"the output cap of {out.cap} bytes" if out.full else f"limit={count}"
            body += f"\n[stopped at line {last} ({why}); read on with offset={last + 1}]"
        return body

    # -- Write and Edit -------------------------------------------------------------------

    def write(self, args: Mapping[str, Any]) -> str:
        text = str_arg(args, "file_path") or ""
        content = args.get("content")
        if not isinstance(content, str):
            raise ToolRefused(f"content must be a string, got {type(content).__name__}.")
        data = content.encode("utf-8")
        if len(data) > self.limits.write_max_bytes:
            raise ToolRefused(
                f"content is {len(data)} bytes; Write takes at most "
                f"{self.limits.write_max_bytes} bytes at once."
            )
        path = self.locate(text, tool="Write")
        self.writable(path, text)
        if path.is_dir():
            raise ToolRefused(f"{text!r} is a folder, not a file.")
        existed = path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace(path, data)
        lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
        how = "overwrote" if existed else "created"
        return f"{how} {self.relative(path)} ({len(data)} bytes, {lines} lines)"

    def edit(self, args: Mapping[str, Any]) -> str:
        text = str_arg(args, "file_path") or ""
        old = args.get("old_string")
        new = args.get("new_string")
        if not isinstance(old, str) or not old:
            raise ToolRefused("old_string must be the non-empty text to replace.")
        if not isinstance(new, str):
            raise ToolRefused("new_string must be a string (empty to delete old_string).")
        if old == new:
            raise ToolRefused("old_string and new_string are the same; there is nothing to do.")
        replace_all = bool_arg(args, "replace_all", False)
        path = self.locate(text, tool="Edit")
        self.writable(path, text)
        if not path.is_file():
            raise ToolRefused(f"{text!r} does not exist; create it with Write.")
        if path.stat().st_size > self.limits.write_max_bytes:
            raise ToolRefused(f"{text!r} is larger than {self.limits.write_max_bytes} bytes.")
        try:
            current = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise ToolRefused(f"{text!r} is not UTF-8 text ({e.reason}); Edit changes text.") from e
        found = current.count(old)
        rel = self.relative(path)
        if found == 0:
            raise ToolRefused(
                f"old_string was not found in {rel}; Read the file and copy the text exactly, "
                "whitespace and line breaks included."
            )
        if found > 1 and not replace_all:
            raise ToolRefused(
                f"old_string occurs {found} times in {rel}; include more of the surrounding "
                "text to make it unique, or set replace_all to replace every occurrence."
            )
        first = current.index(old)
        updated = current.replace(old, new) if replace_all else current.replace(old, new, 1)
        _replace(path, updated.encode("utf-8"))
        done = found if replace_all else 1
        return f"edited {rel}: {done} replacement(s)\n{self._snippet(updated, first, new)}"

    def _snippet(self, content: str, start: int, new: str, context: int = 3) -> str:
        lines = content.splitlines()
        first = content.count("\n", 0, start)
        last = first + new.count("\n")
        low, high = max(0, first - context), min(len(lines), last + context + 1)
        out = Output(min(4096, self.limits.max_output_bytes))
        for number in range(low, high):
            line = cap_line(lines[number], 200)
            if not out.add(f"{number + 1:>6}\t{line}"):
                break
        return out.text()


class WalkCut(Exception):
    """A walk reached ``walk_max_entries``."""


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it (mode kept)."""
    temporary = path.with_name(f".{path.name}.claude-pm-tmp")
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    try:
        temporary.write_bytes(data)
        if mode is not None:
            temporary.chmod(mode)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


__all__ = [
    "PROTECTED_DIRS",
    "Output",
    "PathCheck",
    "ProjectFiles",
    "ToolLimits",
    "ToolRefused",
    "WalkCut",
    "bool_arg",
    "cap_line",
    "glob_regex",
    "int_arg",
    "is_binary",
    "str_arg",
]
