"""Validate one definition's front-matter mapping into an :class:`AgentDefinition`.

Every field is checked and every problem collected (a file is reported whole,
not one error at a time), each at the line of its key; at most
:data:`~claude_pm.agents.limits.MAX_PROBLEMS_PER_FILE` are listed and one more
counts the rest. claude-pm's own fields are converted (``timeout`` and
``memory_limit`` within the range the tool accepts, ``model`` and
``specializations`` short, because models are shown them); Claude Code's are
kept as written and lightly checked; unknown ones are kept with a warning. A
description longer than :data:`~claude_pm.agents.limits.DESCRIPTION_MAX_CHARS`
is cut for models, with a warning, and kept whole in ``full_description``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claude_pm.agents.definition import AgentDefinition, Tier, agent_type_of, cut_description
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
    preview,
    string_list,
)
from claude_pm.agents.limits import (
    DESCRIPTION_MAX_CHARS,
    MAX_MEMORY_LIMIT_MB,
    MAX_PROBLEMS_PER_FILE,
    MAX_SHORT_TEXT_CHARS,
    MAX_SPECIALIZATIONS,
    MAX_TIMEOUT_S,
)
from claude_pm.agents.problems import ParseOutcome, Problem, Severity


def _key_line(front_matter: str, key: str) -> int | None:
    """File line of a top-level ``key:`` in the front matter (front matter starts on line 2)."""
    match = re.search(rf"^{re.escape(key)}[ \t]*:", front_matter, re.MULTILINE)
    if match is None:
        match = re.search(rf"^['\"]{re.escape(key)}['\"][ \t]*:", front_matter, re.MULTILINE)
    return None if match is None else front_matter.count("\n", 0, match.start()) + 2


def _json_safe(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


#: claude-pm's own front-matter fields: key -> (converter, definition attribute).
#: ``backend_options`` is not here: its backend checks it (see :func:`validate`).
_OWN_FIELDS: tuple[tuple[str, Callable[[Any], Any], str], ...] = (
    ("name", agent_name, "name"),
    ("description", non_empty_text, "description"),
    ("tools", lambda v: string_list(v, what="tool names"), "tools"),
    ("model", lambda v: non_empty_text(v, max_chars=MAX_SHORT_TEXT_CHARS), "model"),
    (
        "specializations",
        lambda v: string_list(
            v, what="specializations", max_items=MAX_SPECIALIZATIONS, max_chars=MAX_SHORT_TEXT_CHARS
        ),
        "specializations",
    ),
    ("context_keys", lambda v: string_list(v, what="context keys"), "context_keys"),
    ("timeout", lambda v: positive_number(v, unit="seconds", maximum=MAX_TIMEOUT_S), "timeout_s"),
    (
        "memory_limit",
        lambda v: positive_number(v, unit="megabytes", maximum=MAX_MEMORY_LIMIT_MB),
        "memory_limit_mb",
    ),
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
        self.failed = False
        self.unlisted = 0
        self.unlisted_errors = 0

    def add(self, problem: Problem) -> None:
        """Keep ``problem``; past :data:`MAX_PROBLEMS_PER_FILE` only count it."""
        is_error = problem.severity is Severity.ERROR
        self.failed = self.failed or is_error
        if len(self.problems) < MAX_PROBLEMS_PER_FILE:
            self.problems.append(problem)
        else:
            self.unlisted += 1
            self.unlisted_errors += is_error

    def all_problems(self) -> tuple[Problem, ...]:
        if not self.unlisted:
            return tuple(self.problems)
        message = (
            f"{self.unlisted:,} more problems in this file ({self.unlisted_errors:,} of them "
            f"errors) are not listed; claude-pm lists at most {MAX_PROBLEMS_PER_FILE} per file"
        )
        severity = Severity.ERROR if self.unlisted_errors else Severity.WARNING
        summary = Problem(self.path, message, None, None, None, severity)
        return (*self.problems, summary)

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
        severity = Severity.WARNING if warn else Severity.ERROR
        if len(self.problems) >= MAX_PROBLEMS_PER_FILE:  # not listed: no need for its line
            self.add(Problem(self.path, message, None, key, expected, severity))
            return
        where = line_of or key
        line = _key_line(self.front_matter, where) if where else None
        self.add(Problem(self.path, message, line, key, expected, severity))

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
                self.add(Problem(self.path, message, 1, key, expected))

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
            message = f"version {preview(version)} was read as a number; quote it to keep it exact"
            self.problem("version", message, 'a string such as "1.0"', warn=True)
        else:
            self.check("version", non_empty_text)

    def description_cut(self) -> str | None:
        """Cut a description too long to show a model; the whole text, when it was cut."""
        description = self.values.get("description")
        if description is None or len(description) <= DESCRIPTION_MAX_CHARS:
            return None
        self.values["description"] = cut_description(description)
        message = (
            f"the description is {len(description):,} characters long; models are shown its "
            f"first {DESCRIPTION_MAX_CHARS:,} (in discovery and the PM prompt) and told it was cut"
        )
        expected = f"a description of at most {DESCRIPTION_MAX_CHARS:,} characters"
        self.problem("description", message, expected, warn=True)
        return str(description)

    def claude_code_fields(self) -> dict[str, Any]:
        """Every other field, kept as written for export; Claude Code's are lightly checked."""
        kept: dict[str, Any] = {}
        for key, value in self.raw.items():
            if not isinstance(key, str):
                shown = preview(key)
                message = f"field name {shown} is not text (quote it); the field is ignored"
                self.add(Problem(self.path, message, None, shown, "text keys", Severity.WARNING))
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
                message = f"unknown field {preview(key)}: kept for export, ignored by claude-pm"
                self.problem(key, message, "a Claude Code or claude-pm field", warn=True)
        return kept


def validate(
    raw: dict[Any, Any], front_matter: str, body: str, path: Path, tier: Tier
) -> ParseOutcome:
    """The definition ``raw`` (the front matter's mapping) and ``body`` make, or its errors."""
    checker = _Checker(raw, front_matter, path)
    checker.required()
    for key, convert, _ in _OWN_FIELDS:
        checker.check(key, convert)
    checker.backend_options()
    checker.version()
    claude_code = checker.claude_code_fields()
    full_description = checker.description_cut()
    problems = checker.all_problems()
    if checker.failed:
        return ParseOutcome(path, None, problems)
    values = checker.values
    fields: dict[str, Any] = {
        attribute: values[key] for key, _, attribute in _OWN_FIELDS if key in values
    }
    definition = AgentDefinition(
        **fields,
        full_description=full_description,
        system_prompt=body.strip("\n"),
        backend_options=values.get("backend_options", {}),
        version=values.get("version"),
        claude_code=claude_code,
        tier=tier,
        source_path=path,
    )
    return ParseOutcome(path, definition, problems)
