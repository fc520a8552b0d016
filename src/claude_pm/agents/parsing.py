"""Read one agent definition file: front matter, validation, and the problems found.

A file is Markdown with YAML front matter between two ``---`` lines; the body
is the system prompt. Nothing here raises on bad input: every outcome is a
:class:`ParseOutcome` holding either a definition or the errors that kept the
file from loading (and, either way, warnings). Each problem names the file, the
line, the field and what was expected, so ``claude-pm agents check`` can point
at it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from claude_pm.agents.definition import AgentDefinition, Tier, agent_type_of
from claude_pm.agents.fields import (
    CLAUDE_CODE_FIELDS,
    CLAUDE_PM_FIELDS,
    InvalidField,
    agent_name,
    backend_name,
    backend_options,
    env_names,
    non_empty_text,
    of_type,
    positive_number,
    string_list,
)
from claude_pm.agents.simple_yaml import read_simple_mapping

_BOM = "\ufeff"


class Severity(StrEnum):
    """An error keeps the file from loading; a warning does not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """Something wrong with one agent file, precise enough to fix."""

    path: Path
    message: str
    line: int | None = None
    field: str | None = None
    expected: str | None = None
    severity: Severity = Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "line": self.line,
            "field": self.field,
            "expected": self.expected,
            "message": self.message,
            "severity": str(self.severity),
        }

    def describe(self) -> str:
        """``path:line: field: message`` as a compiler would print it."""
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


@dataclass(frozen=True)
class ParseOutcome:
    """The definition, or why there is none; warnings either way."""

    path: Path
    definition: AgentDefinition | None
    problems: tuple[Problem, ...] = ()

    @cached_property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @cached_property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.WARNING)


def _yaml_loader() -> type[Any]:
    import yaml

    loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return loader


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


def _key_line(front_matter: str, key: str) -> int | None:
    """File line of a top-level ``key:`` in the front matter (front matter starts on line 2)."""
    match = re.search(rf"^{re.escape(key)}[ \t]*:", front_matter, re.MULTILINE)
    if match is None:
        match = re.search(rf"^['\"]{re.escape(key)}['\"][ \t]*:", front_matter, re.MULTILINE)
    return None if match is None else front_matter.count("\n", 0, match.start()) + 2


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
    message = f"the front matter is not valid YAML: {reason}"
    if reason and "mapping values are not allowed" in reason and line is not None:
        key = re.match(r"([A-Za-z_][\w-]*):[ \t]", front_matter.split("\n")[line - 2])
        if key is not None:
            message += f" (quote the value of {key.group(1)!r}: it contains ': ')"
    return Problem(path, message, line, None, "valid YAML front matter")


def parse_agent_text(data: bytes | str, path: Path, tier: Tier = Tier.PROJECT) -> ParseOutcome:
    """Parse and validate one definition's bytes as if read from ``path`` in ``tier``."""
    text = _decode(data, path)
    if isinstance(text, Problem):
        return ParseOutcome(path, None, (text,))
    split = split_front_matter(text)
    if split is None:
        return ParseOutcome(path, None, (_no_front_matter(text, path),))
    front_matter, body, _ = split
    raw: Any = read_simple_mapping(front_matter)
    if raw is None:
        import yaml

        try:
            raw = yaml.load(front_matter, Loader=_yaml_loader())
        except yaml.YAMLError as e:
            return ParseOutcome(path, None, (_yaml_problem(e, front_matter, path),))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problem = Problem(
            path, "the front matter must be a mapping of fields", 2, None, "key: value lines"
        )
        return ParseOutcome(path, None, (problem,))
    return _validate(raw, front_matter, body, path, tier)


def _json_safe(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def parse_agent_file(path: Path, tier: Tier = Tier.PROJECT) -> ParseOutcome:
    """Read and parse one definition file; an unreadable file is a problem, not an exception."""
    try:
        data = path.read_bytes()
    except OSError as e:
        problem = Problem(path, f"cannot read the file: {e.strerror or e}", None, None, None)
        return ParseOutcome(path, None, (problem,))
    return parse_agent_text(data, path, tier)


#: claude-pm's own front-matter fields: key -> (converter, definition attribute).
#: ``backend_options`` is not here: its backend checks it (see :func:`_validate`).
_OWN_FIELDS: tuple[tuple[str, Callable[[Any], Any], str], ...] = (
    ("name", agent_name, "name"),
    ("description", non_empty_text, "description"),
    ("tools", lambda v: string_list(v, what="tool names"), "tools"),
    ("model", non_empty_text, "model"),
    ("specializations", lambda v: string_list(v, what="specializations"), "specializations"),
    ("context_keys", lambda v: string_list(v, what="context keys"), "context_keys"),
    ("timeout", lambda v: positive_number(v, unit="seconds"), "timeout_s"),
    ("memory_limit", lambda v: positive_number(v, unit="megabytes"), "memory_limit_mb"),
    ("env", env_names, "env"),
    ("backend", backend_name, "backend"),
    ("custom", of_type(bool, "true or false"), "marked_custom"),
)
_REQUIRED = {"name": "a lowercase name", "description": "when to delegate to it"}
#: Claude Code fields whose bad value is only a warning (cosmetic for claude-pm).
_WARN_ONLY = frozenset({"color", "effort"})


class _Checker:
    """Runs the checks of one file, collecting values and problems."""

    def __init__(self, raw: dict[Any, Any], front_matter: str, path: Path) -> None:
        self.raw = raw
        self.front_matter = front_matter
        self.path = path
        self.values: dict[str, Any] = {}
        self.problems: list[Problem] = []

    def problem(
        self,
        key: str | None,
        message: str,
        expected: str | None,
        *,
        warn: bool = False,
        line_of: str | None = None,
    ) -> None:
        """Record a problem with ``key``, at the line of ``line_of`` (default: the key's own)."""
        where = line_of or key
        line = _key_line(self.front_matter, where) if where else None
        severity = Severity.WARNING if warn else Severity.ERROR
        self.problems.append(Problem(self.path, message, line, key, expected, severity))

    def check(self, key: str, convert: Callable[[Any], Any], *, warn: bool = False) -> None:
        if self.raw.get(key) is None:
            return
        try:
            self.values[key] = convert(self.raw[key])
        except InvalidField as e:
            self.problem(key, e.message, e.expected, warn=warn)

    def required(self) -> None:
        for key, expected in _REQUIRED.items():
            if self.raw.get(key) is None:
                message = f"the required field {key!r} is missing"
                self.problems.append(Problem(self.path, message, 1, key, expected))

    def backend_options(self) -> None:
        """A pinned backend checks its own options, also when they are missing.

        Without a pinned backend the runner checks them against the backend the
        agent will run on (the configured one), when it runs.
        """
        backend = self.values.get("backend")
        given = self.raw.get("backend_options")
        agent_type = agent_type_of(str(self.values.get("name", "")))
        try:
            self.values["backend_options"] = backend_options(
                {} if given is None else given, backend, agent_type
            )
        except InvalidField as e:
            line_of = "backend_options" if given is not None else "backend"
            self.problem("backend_options", e.message, e.expected, line_of=line_of)

    def version(self) -> None:
        version = self.raw.get("version")
        if isinstance(version, (int, float)) and not isinstance(version, bool):
            self.values["version"] = str(version)
            message = f"version {version!r} was read as a number; quote it to keep it exact"
            self.problem("version", message, 'a string such as "1.0"', warn=True)
        else:
            self.check("version", non_empty_text)

    def claude_code_fields(self) -> dict[str, Any]:
        """Every other field, kept as written for export; Claude Code's are lightly checked."""
        kept: dict[str, Any] = {}
        for key, value in self.raw.items():
            if not isinstance(key, str):
                message = f"field name {key!r} is not text (quote it); the field is ignored"
                self.problems.append(
                    Problem(self.path, message, None, str(key), "text keys", Severity.WARNING)
                )
                continue
            if key in CLAUDE_PM_FIELDS:
                continue
            if not _json_safe(value):
                message = (
                    "the value cannot be carried as JSON (a date, or an alias to itself); ignored"
                )
                expected = "text, numbers, booleans, lists and mappings"
                self.problem(key, message, expected, warn=True)
                continue
            kept[key] = value
            if key in CLAUDE_CODE_FIELDS:
                self.check(key, CLAUDE_CODE_FIELDS[key], warn=key in _WARN_ONLY)
            else:
                message = f"unknown field {key!r}: kept for export, ignored by claude-pm"
                self.problem(key, message, "a Claude Code or claude-pm field", warn=True)
        return kept


def _validate(
    raw: dict[Any, Any], front_matter: str, body: str, path: Path, tier: Tier
) -> ParseOutcome:
    checker = _Checker(raw, front_matter, path)
    checker.required()
    for key, convert, _ in _OWN_FIELDS:
        checker.check(key, convert)
    checker.backend_options()
    checker.version()
    claude_code = checker.claude_code_fields()
    problems = tuple(checker.problems)
    if any(p.severity is Severity.ERROR for p in problems):
        return ParseOutcome(path, None, problems)
    values = checker.values
    fields: dict[str, Any] = {
        attribute: values[key] for key, _, attribute in _OWN_FIELDS if key in values
    }
    definition = AgentDefinition(
        **fields,
        system_prompt=body.strip("\n"),
        backend_options=values.get("backend_options", {}),
        version=values.get("version"),
        claude_code=claude_code,
        tier=tier,
        source_path=path,
    )
    return ParseOutcome(path, definition, problems)
