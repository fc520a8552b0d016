"""Glob and Grep over a :class:`~claude_pm.agents.backends.file_tools.ProjectFiles` root.

Glob lists the files whose path below the searched folder matches the pattern
(``*.json`` matches in that folder only, ``**/*.json`` in every folder below),
newest first, as paths relative to the project root. Grep searches file
contents with a Python regular expression (nearly ripgrep's syntax for common
patterns) and answers, like Claude Code's Grep, with the matching files
(newest first), the matching lines (``path:line:text``, context lines
``path-line-text``, groups separated by ``--``) or counts per file. Both obey
the bounds and the confinement described in
:mod:`~claude_pm.agents.backends.file_tools`; files the definition's rules deny
to Read are never searched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from claude_pm.agents.backends.file_tools import (
    Output,
    ProjectFiles,
    ToolRefused,
    WalkCut,
    bool_arg,
    cap_line,
    glob_regex,
    int_arg,
    is_binary,
    str_arg,
)

#: Grep's ``type`` filter: a type name -> the file suffixes it covers.
FILE_TYPES: dict[str, tuple[str, ...]] = {
    "py": (".py", ".pyi"),
    "js": (".js", ".mjs", ".cjs", ".jsx"),
    "ts": (".ts", ".tsx", ".mts", ".cts"),
    "go": (".go",),
    "rust": (".rs",),
    "java": (".java",),
    "kotlin": (".kt", ".kts"),
    "c": (".c", ".h"),
    "cpp": (".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx", ".h"),
    "rb": (".rb",),
    "php": (".php",),
    "swift": (".swift",),
    "sh": (".sh", ".bash"),
    "sql": (".sql",),
    "md": (".md", ".markdown"),
    "json": (".json",),
    "yaml": (".yaml", ".yml"),
    "toml": (".toml",),
    "html": (".html", ".htm"),
    "css": (".css", ".scss"),
    "txt": (".txt",),
}
OUTPUT_MODES = ("content", "files_with_matches", "count")
#: Characters of one matching line Grep shows.
GREP_LINE_CHARS = 500


def glob_files(files: ProjectFiles, args: Mapping[str, Any]) -> str:
    """The Glob tool: paths matching ``pattern`` below ``path``, newest first."""
    pattern = str_arg(args, "pattern") or ""
    base = files.folder(str_arg(args, "path", required=False))
    if Path(pattern).is_absolute():
        where = Path(os.path.normpath(pattern))
        if not where.is_relative_to(base):
            raise ToolRefused(f"pattern {pattern!r} is outside the folder searched.")
        pattern = where.relative_to(base).as_posix()
    if ".." in pattern.split("/"):
        raise ToolRefused("A pattern cannot contain '..'; give the folder as path instead.")
    matcher = glob_regex(pattern)
    found: list[tuple[float, str]] = []
    cut = False
    try:
        for path, rel in files.walk(base):
            below = path.relative_to(base).as_posix()
            if matcher.match(below) and files.denied("Glob", rel) is None:
                found.append((path.lstat().st_mtime, rel))
    except WalkCut:
        cut = True
    note = _cut_note(files) if cut else ""
    if not found:
        return "No files found" + note
    found.sort(key=lambda item: (-item[0], item[1]))
    limit = files.limits.glob_max_results
    shown = _listed(files, (rel for _, rel in found[:limit]))
    body = "\n".join(shown)
    if len(shown) < len(found):
        body += (
            f"\n[{len(found) - len(shown)} more of {len(found)} files not shown (newest first, "
            f"at most {limit}); use a narrower pattern or path]"
        )
    return body + note


def _listed(files: ProjectFiles, lines: Iterable[str]) -> list[str]:
    out = Output(files.limits.max_output_bytes)
    for line in lines:
        if not out.add(line):
            break
    return out.lines


def _cut_note(files: ProjectFiles) -> str:
    return (
        f"\n[the search stopped after {files.limits.walk_max_entries} files; give a narrower path]"
    )


def grep_files(files: ProjectFiles, args: Mapping[str, Any]) -> str:
    """The Grep tool: see the module docstring."""
    return _Grep(files, args).run()


class _Grep:
    """One Grep call: its arguments checked, then one pass over the files."""

    def __init__(self, files: ProjectFiles, args: Mapping[str, Any]) -> None:
        self.files = files
        limits = files.limits
        pattern = str_arg(args, "pattern") or ""
        self.mode = args.get("output_mode") or "files_with_matches"
        if self.mode not in OUTPUT_MODES:
            raise ToolRefused(f"output_mode must be one of {', '.join(OUTPUT_MODES)}.")
        self.multiline = bool_arg(args, "multiline", False)
        self.numbers = bool_arg(args, "-n", True)
        around = int_arg(args, "-C", None, 0)
        self.before = int_arg(args, "-B", around, 0) or 0
        self.after = int_arg(args, "-A", around, 0) or 0
        self.head_limit = int_arg(args, "head_limit", limits.grep_default_head_limit, 1) or 1
        flags = re.IGNORECASE if bool_arg(args, "-i", False) else 0
        if self.multiline:
            flags |= re.MULTILINE | re.DOTALL
        try:
            self.regex = re.compile(pattern, flags)
        except re.error as e:
            raise ToolRefused(
                f"pattern is not a valid regular expression ({e}); Grep uses Python's re syntax."
            ) from e
        glob = str_arg(args, "glob", required=False)
        self.glob = glob_regex(glob) if glob else None
        self.glob_paths = bool(glob and "/" in glob)
        kind = args.get("type")
        if kind is not None and kind not in FILE_TYPES:
            raise ToolRefused(f"type must be one of {', '.join(sorted(FILE_TYPES))}.")
        self.suffixes = FILE_TYPES[kind] if kind else None
        where = str_arg(args, "path", required=False)
        self.target = files.locate(where, tool=None) if where else files.root
        self.skipped_large = 0
        self.cut = False

    def _candidates(self) -> Iterable[tuple[Path, str]]:
        if self.target.is_file():
            yield self.target, self.files.relative(self.target)
            return
        try:
            for path, rel in self.files.walk(self.target):
                name = path.relative_to(self.target).as_posix() if self.glob_paths else path.name
                if self.glob is not None and not self.glob.match(name):
                    continue
                if self.suffixes is not None and path.suffix.lower() not in self.suffixes:
                    continue
                yield path, rel
        except WalkCut:
            self.cut = True

    def _searchable(self, path: Path, rel: str) -> bool:
        if self.files.denied("Read", rel) or self.files.denied("Grep", rel):
            return False
        if path.stat().st_size > self.files.limits.grep_max_file_bytes:
            self.skipped_large += 1
            return False
        return not is_binary(path)

    def _matching_lines(self, text: str) -> tuple[list[str], list[int]]:
        """The file's lines and the (0-based) numbers of the lines that match."""
        lines = text.splitlines()
        if not self.multiline:
            return lines, [i for i, line in enumerate(lines) if self.regex.search(line)]
        numbers: set[int] = set()
        for match in self.regex.finditer(text):
            first = text.count("\n", 0, match.start())
            numbers.update(range(first, first + text.count("\n", match.start(), match.end()) + 1))
        return lines, sorted(n for n in numbers if n < max(len(lines), 1))

    def run(self) -> str:
        out = Output(self.files.limits.max_output_bytes)
        found: list[tuple[float, str, int]] = []
        entries = 0
        limited = False
        for path, rel in self._candidates():
            if not self._searchable(path, rel):
                continue
            text = path.read_bytes().decode("utf-8", errors="replace")
            lines, matched = self._matching_lines(text)
            if not matched:
                continue
            if self.mode != "content":
                found.append((path.stat().st_mtime, rel, len(matched)))
                continue
            if entries >= self.head_limit or out.full:
                limited = True
                break
            if entries:
                out.add("--")
            entries += self._content(out, rel, lines, matched, self.head_limit - entries)
        if self.mode == "content":
            body = out.text() or "No matches found"
            if limited or out.full or entries >= self.head_limit:
                body += (
                    f"\n[results cut at {entries} lines (head_limit={self.head_limit}, "
                    f"or the {out.cap}-byte cap); narrow the pattern, path or glob]"
                )
        else:
            body = self._listing(found)
        if self.skipped_large:
            limit = self.files.limits.grep_max_file_bytes
            body += f"\n[{self.skipped_large} file(s) over {limit} bytes not searched]"
        return body + (_cut_note(self.files) if self.cut else "")

    def _content(
        self, out: Output, rel: str, lines: list[str], matched: list[int], room: int
    ) -> int:
        """Add one file's matching lines (and context) to ``out``; returns the lines added."""
        shown: dict[int, bool] = {}
        for n in matched:
            for i in range(max(0, n - self.before), min(len(lines), n + self.after + 1)):
                shown.setdefault(i, False)
            shown[n] = True
        added = 0
        previous = None
        for i in sorted(shown):
            if added >= room:
                break
            if previous is not None and i > previous + 1:
                out.add("--")
            mark = ":" if shown[i] else "-"
            where = f"{rel}{mark}{i + 1}{mark}" if self.numbers else f"{rel}{mark}"
            if not out.add(where + cap_line(lines[i], GREP_LINE_CHARS)):
                break
            added += 1
            previous = i
        return added

    def _listing(self, found: list[tuple[float, str, int]]) -> str:
        if not found:
            return "No files found" if self.mode == "files_with_matches" else "No matches found"
        found.sort(key=lambda item: (-item[0], item[1]))
        if self.mode == "files_with_matches":
            rows = [rel for _, rel, _ in found[: self.head_limit]]
            head = f"Found {len(found)} file(s)"
        else:
            rows = [f"{rel}:{count}" for _, rel, count in found[: self.head_limit]]
            total = sum(count for _, _, count in found)
            head = f"Found {total} matching line(s) in {len(found)} file(s)"
        shown = _listed(self.files, rows)
        body = "\n".join([head, *shown])
        if len(shown) < len(found):
            body += (
                f"\n[{len(found) - len(shown)} more file(s) not shown (head_limit="
                f"{self.head_limit}, or the output cap); narrow the pattern, path or glob]"
            )
        return body


__all__ = ["FILE_TYPES", "GREP_LINE_CHARS", "OUTPUT_MODES", "glob_files", "grep_files"]
