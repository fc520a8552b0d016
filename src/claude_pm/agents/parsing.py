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

from claude_pm.agents.definition import AgentDefinition, Tier
from claude_pm.agents.fields import (
    BACKENDS,
    CLAUDE_CODE_FIELDS,
    CLAUDE_PM_FIELDS,
    InvalidField,
    agent_name,
    backend_options,
    env_names,
    non_empty_text,
    of_type,
    one_of,
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


def _validate(
    raw: dict[Any, Any], front_matter: str, body: str, path: Path, tier: Tier
) -> ParseOutcome:
    problems: list[Problem] = []
    values: dict[str, Any] = {}

    def check(key: str, convert: Callable[[Any], Any], *, warn: bool = False) -> None:
        if raw.get(key) is None:
            return
        try:
            values[key] = convert(raw[key])
        except InvalidField as e:
            severity = Severity.WARNING if warn else Severity.ERROR
            line = _key_line(front_matter, key)
            problems.append(Problem(path, e.message, line, key, e.expected, severity))

    for required in ("name", "description"):
        if raw.get(required) is None:
            expected = "a lowercase name" if required == "name" else "when to delegate to it"
            problems.append(
                Problem(path, f"the required field {required!r} is missing", 1, required, expected)
            )
    check("name", agent_name)
    check("description", non_empty_text)
    check("tools", lambda v: string_list(v, what="tool names"))
    check("model", non_empty_text)
    check("specializations", lambda v: string_list(v, what="specializations"))
    check("context_keys", lambda v: string_list(v, what="context keys"))
    check("timeout", lambda v: positive_number(v, unit="seconds"))
    check("memory_limit", lambda v: positive_number(v, unit="megabytes"))
    check("env", env_names)
    check("backend", one_of(BACKENDS))
    check("backend_options", lambda v: backend_options(v, values.get("backend")))
    if values.get("backend") == "command" and raw.get("backend_options") is None:
        expected = "backend_options: {command: [program, args...]}"
        message = f"the command backend needs {expected}"
        line = _key_line(front_matter, "backend")
        problems.append(Problem(path, message, line, "backend_options", expected))
    check("custom", of_type(bool, "true or false"))
    version = raw.get("version")
    if isinstance(version, (int, float)) and not isinstance(version, bool):
        values["version"] = str(version)
        problems.append(
            Problem(
                path,
                f"version {version!r} was read as a number; quote it to keep it exact",
                _key_line(front_matter, "version"),
                "version",
                'a string such as "1.0"',
                Severity.WARNING,
            )
        )
    else:
        check("version", non_empty_text)
    claude_code: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            message = f"field name {key!r} is not text (quote it); the field is ignored"
            problems.append(Problem(path, message, None, str(key), "text keys", Severity.WARNING))
            continue
        if key in CLAUDE_PM_FIELDS:
            continue
        if not _json_safe(value):
            message = "the value cannot be carried as JSON (a date, or an alias to itself); ignored"
            line = _key_line(front_matter, key)
            expected = "text, numbers, booleans, lists and mappings"
            problems.append(Problem(path, message, line, key, expected, Severity.WARNING))
            continue
        claude_code[key] = value
        if key in CLAUDE_CODE_FIELDS:
            check(key, CLAUDE_CODE_FIELDS[key], warn=key in ("color", "effort"))
        else:
            problems.append(
                Problem(
                    path,
                    f"unknown field {key!r}: kept for export, ignored by claude-pm",
                    _key_line(front_matter, key),
                    key,
                    "a Claude Code or claude-pm field",
                    Severity.WARNING,
                )
            )
    if any(p.severity is Severity.ERROR for p in problems):
        return ParseOutcome(path, None, tuple(problems))
    definition = AgentDefinition(
        name=values["name"],
        description=values["description"],
        system_prompt=body.strip("\n"),
        tools=values.get("tools"),
        model=values.get("model"),
        specializations=values.get("specializations", ()),
        context_keys=values.get("context_keys", ()),
        timeout_s=values.get("timeout"),
        memory_limit_mb=values.get("memory_limit"),
        env=values.get("env", ()),
        backend=values.get("backend"),
        backend_options=values.get("backend_options", {}),
        version=values.get("version"),
        claude_code=claude_code,
        marked_custom=values.get("custom", False),
        tier=tier,
        source_path=path,
    )
    return ParseOutcome(path, definition, tuple(problems))
