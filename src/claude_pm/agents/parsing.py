"""Read one agent definition file: its bytes, its front matter, its YAML; then validate it.

A file is Markdown with YAML front matter between two ``---`` lines; the body
is the system prompt. The mapping read is validated by
:func:`claude_pm.agents.checks.validate`; the problems are
:mod:`claude_pm.agents.problems`. Nothing here raises on bad input: every outcome is a
:class:`ParseOutcome` holding either a definition or the errors that kept the
file from loading (and, either way, warnings). Each problem names the file, the
line, the field and what was expected, so ``claude-pm agents check`` can point
at it.

Reading is bounded (the limits are in :mod:`claude_pm.agents.limits`): a file
over :data:`~claude_pm.agents.limits.MAX_FILE_BYTES` is refused from its size
(at most limit + 1 bytes are ever read), front matter over
:data:`~claude_pm.agents.limits.MAX_FRONT_MATTER_CHARS` is not parsed, YAML is
loaded by :mod:`claude_pm.agents.bounded_yaml` (aliases, nesting and integers
bounded), at most :data:`~claude_pm.agents.limits.MAX_PROBLEMS_PER_FILE`
problems are listed per file, and a value quoted in a message is a bounded
preview, never the whole value. A description longer than
:data:`~claude_pm.agents.limits.DESCRIPTION_MAX_CHARS` loads, cut to that
length for models (with a warning); the definition keeps the whole text in
``full_description``. An unexpected exception while reading one file is
logged and becomes that file's problem.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path
from typing import Any

from claude_pm.agents.checks import validate
from claude_pm.agents.definition import Tier
from claude_pm.agents.fields import preview
from claude_pm.agents.limits import MAX_FILE_BYTES, MAX_FRONT_MATTER_CHARS
from claude_pm.agents.problems import ParseOutcome, Problem, Severity
from claude_pm.agents.simple_yaml import read_simple_mapping

__all__ = [
    "DefinitionTooLarge",
    "ParseOutcome",
    "Problem",
    "Severity",
    "parse_agent_file",
    "parse_agent_text",
    "read_definition_bytes",
    "split_front_matter",
]

log = logging.getLogger(__name__)

_BOM = "\ufeff"


class DefinitionTooLarge(Exception):
    """A definition file is larger than :data:`~claude_pm.agents.limits.MAX_FILE_BYTES`."""

    def __init__(self, size_bytes: int) -> None:
        super().__init__(f"{size_bytes} bytes")
        self.size_bytes = size_bytes


def read_definition_bytes(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> bytes:
    """The bytes of a definition file, reading at most ``MAX_FILE_BYTES + 1`` of them.

    Raises:
        DefinitionTooLarge: the file is larger than the limit (known from its size
            when it can be, so a huge file is not read at all).
        OSError: it cannot be opened or read, is not a regular file, or (with
            ``follow_symlinks=False``) is a symbolic link.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(0, "not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise DefinitionTooLarge(st.st_size)
        # One read of the size fstat gave, plus one byte to see growth (asking for the
        # limit instead would allocate a MiB for every small file).
        data = os.read(fd, st.st_size + 1)
        if len(data) > st.st_size:  # it grew since fstat: read on, up to the limit + 1 at most
            chunks = [data]
            total = len(data)
            while total <= MAX_FILE_BYTES:
                chunk = os.read(fd, min(64 * 1024, MAX_FILE_BYTES + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise DefinitionTooLarge(len(data))
    return data


def too_large_problem(path: Path, size_bytes: int) -> Problem:
    """The problem of a file over the size limit (it was not read)."""
    return Problem(
        path,
        f"the file is {_size(size_bytes)}; claude-pm reads agent definitions of at most "
        f"{_size(MAX_FILE_BYTES)}, so this one was not read",
        None,
        None,
        f"a file of at most {MAX_FILE_BYTES:,} bytes",
    )


def unreadable_problem(path: Path, error: OSError) -> Problem:
    return Problem(path, f"cannot read the file: {error.strerror or error}", None, None, None)


def _size(size_bytes: int) -> str:
    if size_bytes < 1024 * 1024:
        return f"{size_bytes:,} bytes"
    return f"{size_bytes / (1024 * 1024):,.1f} MiB"


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """``(front_matter, body, body_first_line)``, or None when the text has no front matter.

    ``text`` is already decoded, BOM-free and LF-only. The front matter runs
    from line 2 to the closing ``---``; a file whose front matter is never
    closed has none.
    """
    first_nl = text.find("\n")
    if first_nl < 0 or text[:first_nl].rstrip() != "---":
        return None
    start = first_nl + 1
    if text[start:].startswith("---") and text[start + 3 : start + 4] in ("", "\n"):
        return "", text[start + 4 :], 3
    match = re.search(r"^---[ \t]*$", text[start:], re.MULTILINE)
    if match is None:
        return None
    fm_end = start + match.start()
    body_start = min(len(text), start + match.end() + 1)
    body_first_line = text.count("\n", 0, body_start) + 1
    return text[start:fm_end], text[body_start:], body_first_line


def _decode(data: bytes | str, path: Path) -> str | Problem:
    if isinstance(data, str):
        text = data
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            return Problem(
                path,
                f"the file is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
                "save it as UTF-8",
                line=data.count(b"\n", 0, e.start) + 1,
                expected="UTF-8 text",
            )
    text = text.removeprefix(_BOM)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _no_front_matter(text: str, path: Path) -> Problem:
    expected = "a first line '---', YAML front matter, then a closing '---' line"
    lines = text.split("\n", 40)
    if lines and lines[0].rstrip() == "---":
        return Problem(path, "the front matter is never closed by a '---' line", 1, None, expected)
    for number, line in enumerate(lines[:40], start=1):
        if line.strip() == "---":
            return Problem(
                path,
                f"no front matter on line 1 ('---' found on line {number}, "
                "but the front matter must start the file, unindented)",
                number,
                None,
                expected,
            )
    return Problem(path, "the file has no YAML front matter", 1, None, expected)


def _yaml_problem(error: Exception, front_matter: str, path: Path) -> Problem:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line = mark.line + 2 if mark is not None else None
    reason = getattr(error, "problem", None) or str(error).split("\n", 1)[0]
    reason = preview(reason, 200, quote=False)
    message = f"the front matter is not valid YAML: {reason}"
    if reason and "mapping values are not allowed" in reason and line is not None:
        key = _key_at(front_matter, line)
        if key is not None:
            message += f" (quote the value of {key!r}: it contains ': ')"
    return Problem(path, message, line, None, "valid YAML front matter")


def _key_at(front_matter: str, line: int) -> str | None:
    """The top-level key written on file line ``line`` of the front matter, if any."""
    lines = front_matter.split("\n", line - 1)
    if not 2 <= line <= len(lines) + 1:
        return None
    key = re.match(r"([A-Za-z_][\w-]{0,63}):(?:[ \t]|$)", lines[line - 2])
    return None if key is None else key.group(1)


def parse_agent_text(data: bytes | str, path: Path, tier: Tier = Tier.PROJECT) -> ParseOutcome:
    """Parse and validate one definition's bytes as if read from ``path`` in ``tier``.

    Never raises: an exception nothing here expected is logged (with its
    traceback) and becomes the file's problem.
    """
    try:
        return _parse(data, path, tier)
    except Exception as e:
        log.exception("reading the agent definition %s failed unexpectedly", path)
        message = (
            f"claude-pm failed to read this file ({type(e).__name__}: "
            f"{preview(str(e), 160, quote=False)}); the log has the details"
        )
        return ParseOutcome(path, None, (Problem(path, message, None, None, None),))


def _parse(data: bytes | str, path: Path, tier: Tier) -> ParseOutcome:
    if len(data) > MAX_FILE_BYTES:
        return ParseOutcome(path, None, (too_large_problem(path, len(data)),))
    text = _decode(data, path)
    if isinstance(text, Problem):
        return ParseOutcome(path, None, (text,))
    split = split_front_matter(text)
    if split is None:
        return ParseOutcome(path, None, (_no_front_matter(text, path),))
    front_matter, body, _ = split
    if len(front_matter) > MAX_FRONT_MATTER_CHARS:
        problem = Problem(
            path,
            f"the front matter is {len(front_matter):,} characters long; claude-pm reads at "
            f"most {MAX_FRONT_MATTER_CHARS:,} (put long text in the body, after the closing '---')",
            1,
            None,
            f"front matter of at most {MAX_FRONT_MATTER_CHARS:,} characters",
        )
        return ParseOutcome(path, None, (problem,))
    raw: Any = read_simple_mapping(front_matter)
    if raw is None:
        import yaml

        from claude_pm.agents.bounded_yaml import YAMLLimitExceeded, load_bounded

        try:
            raw = load_bounded(front_matter)
        except yaml.YAMLError as e:
            return ParseOutcome(path, None, (_yaml_problem(e, front_matter, path),))
        except YAMLLimitExceeded as e:
            field = None if e.line is None else _key_at(front_matter, e.line)
            problem = Problem(path, e.message, e.line, field, e.expected)
            return ParseOutcome(path, None, (problem,))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problem = Problem(
            path, "the front matter must be a mapping of fields", 2, None, "key: value lines"
        )
        return ParseOutcome(path, None, (problem,))
    return validate(raw, front_matter, body, path, tier)


def parse_agent_file(path: Path, tier: Tier = Tier.PROJECT) -> ParseOutcome:
    """Read and parse one definition file; an unreadable or oversized file is a problem."""
    try:
        data = read_definition_bytes(path)
    except DefinitionTooLarge as e:
        return ParseOutcome(path, None, (too_large_problem(path, e.size_bytes),))
    except OSError as e:
        return ParseOutcome(path, None, (unreadable_problem(path, e),))
    return parse_agent_text(data, path, tier)
