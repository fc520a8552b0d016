"""The front-matter fields: what each accepts, and writing a definition back as a file.

Checkers raise :class:`InvalidField` with what was expected; the parser turns
that into a :class:`~claude_pm.agents.parsing.Problem` with the file and line.
A value quoted in a message is a :func:`preview`: bounded in length, depth and
items whatever the value is, so formatting a problem never costs more than the
message it makes.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Callable, Mapping
from typing import Any

from claude_pm.agents.backends import BACKENDS, check_backend_options
from claude_pm.agents.definition import AgentDefinition

#: Claude Code's rule (lowercase letters, digits, hyphens) plus ``_`` for claude-pm's own types.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_ENV_PATTERN = re.compile(r"[A-Za-z_*?\[][A-Za-z0-9_*?\[\]!-]*")


class _Preview(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = self.maxother = 80
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 6

    def repr_int(self, x: int, level: int) -> str:
        # repr() of an int of more than 4,300 digits raises; one of 40 is already unreadable.
        if abs(x) >= 10**40:
            return f"<an integer of {x.bit_length():,} bits>"
        return repr(x)

    def repr_str(self, x: str, level: int) -> str:
        return repr(x) if len(x) <= self.maxstring else repr(x[: self.maxstring - 3]) + "..."


_PREVIEW = _Preview()


def preview(value: Any, limit: int = 80, *, quote: bool = True) -> str:
    """``repr(value)`` (or, with ``quote=False``, a string as it is) cut to about ``limit`` chars.

    Built from a bounded view of the value (see :mod:`reprlib`): its cost does
    not grow with the value's size, depth or sharing.
    """
    text = value if not quote and isinstance(value, str) else _PREVIEW.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class InvalidField(Exception):
    """A field's value is unacceptable; ``expected`` says what would be."""

    def __init__(self, message: str, expected: str) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected


def _split_top_level_commas(text: str) -> list[str]:
    """``"Read, Agent(a, b)"`` -> ``["Read", "Agent(a, b)"]``: commas inside brackets stay."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def string_list(
    value: Any, *, what: str, max_items: int | None = None, max_chars: int | None = None
) -> tuple[str, ...]:
    """Distinct strings from a list or a comma-separated string, within the limits given."""
    expected = f"a list of {what} or a comma-separated string"
    if isinstance(value, str):
        items = tuple(dict.fromkeys(_split_top_level_commas(value)))
    elif isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        items = tuple(dict.fromkeys(v.strip() for v in value))
    else:
        raise InvalidField(f"must be {expected}, got {preview(value)}", expected)
    if max_items is not None and len(items) > max_items:
        expected = f"at most {max_items} {what}"
        raise InvalidField(f"lists {len(items):,} {what}; claude-pm takes {expected}", expected)
    if max_chars is not None:
        for item in items:
            if len(item) > max_chars:
                expected = f"{what} of at most {max_chars} characters each"
                message = f"{preview(item)} is {len(item):,} characters long; expected {expected}"
                raise InvalidField(message, expected)
    return items


def non_empty_text(
    value: Any, *, expected: str = "a non-empty string", max_chars: int | None = None
) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidField(f"must be {expected}, got {preview(value)}", expected)
    text = value.strip()
    if max_chars is not None and len(text) > max_chars:
        expected = f"{expected} of at most {max_chars} characters"
        raise InvalidField(f"is {len(text):,} characters long; expected {expected}", expected)
    return text


def positive_number(value: Any, *, unit: str, maximum: float | None = None) -> float:
    """A number greater than 0 (and at most ``maximum``), as a float."""
    expected = f"a number of {unit} greater than 0"
    if maximum is not None:
        expected += f" and at most {maximum:,}"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    # Compare before converting: float() of a huge int raises OverflowError.
    if not ok or value != value or value <= 0 or (maximum is not None and value > maximum):
        raise InvalidField(f"must be {expected}, got {preview(value)}", expected)
    number = float(value)
    if not math.isfinite(number):
        raise InvalidField(f"must be {expected}, got {preview(value)}", expected)
    return number


def one_of(choices: tuple[str, ...]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in choices:
            expected = "one of " + ", ".join(choices)
            raise InvalidField(f"must be {expected}, got {preview(value)}", expected)
        return value

    return check


def of_type(kind: type | tuple[type, ...], expected: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InvalidField(f"must be {expected}, got {preview(value)}", expected)
        return value

    return check


def _positive_int(value: Any) -> Any:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        expected = "a positive integer"
        raise InvalidField(f"must be {expected}, got {preview(value)}", expected)
    return value


def _memory_scope(value: Any) -> Any:
    if value not in ("user", "project", "local"):
        raise InvalidField(
            f"is Claude Code's memory scope (user, project or local), got {preview(value)}; "
            "for a memory limit in megabytes use memory_limit",
            "one of user, project, local",
        )
    return value


def _str_or_list(value: Any) -> Any:
    string_list(value, what="strings")
    return value


#: Claude Code's subagent fields besides name/description/tools/model, lightly checked.
#: Kept as written under their own key so export writes them back unchanged.
CLAUDE_CODE_FIELDS: dict[str, Callable[[Any], Any]] = {
    "disallowedTools": _str_or_list,
    "permissionMode": one_of(
        ("default", "acceptEdits", "auto", "dontAsk", "bypassPermissions", "plan")
    ),
    "maxTurns": _positive_int,
    "skills": _str_or_list,
    "mcpServers": of_type((list, dict), "a list of server names or {name: config} mappings"),
    "hooks": of_type(dict, "a mapping of hook event to hook list"),
    "memory": _memory_scope,
    "background": of_type(bool, "true or false"),
    "isolation": one_of(("worktree",)),
    "color": of_type(str, "a color name"),
    "effort": of_type(str, "an effort level such as low, medium or high"),
    "initialPrompt": of_type(str, "a string"),
}
CLAUDE_PM_FIELDS = {
    "name",
    "description",
    "tools",
    "model",
    "specializations",
    "context_keys",
    "timeout",
    "memory_limit",
    "env",
    "backend",
    "backend_options",
    "version",
    "custom",
}


def env_names(value: Any) -> tuple[str, ...]:
    names = string_list(value, what="environment variable names or patterns")
    for name in names:
        if not _ENV_PATTERN.fullmatch(name):
            expected = "variable names or shell patterns such as AWS_*"
            raise InvalidField(f"{preview(name)} is not a variable name or pattern", expected)
    return names


def backend_name(value: Any) -> str:
    return str(one_of(tuple(BACKENDS))(value))


def backend_options(value: Any, backend: str | None, agent_type: str) -> dict[str, Any]:
    """The options as a dict, checked by the backend itself (the one check there is)."""
    if not isinstance(value, dict):
        raise InvalidField(f"must be a mapping, got {preview(value)}", "a mapping")
    problems = check_backend_options(backend, value, agent_type=agent_type)
    if problems:
        message = preview("; ".join(problems), 400, quote=False)
        raise InvalidField(message, f"backend_options the {backend} backend accepts")
    return dict(value)


def agent_name(value: Any) -> str:
    expected = "lowercase letters, digits, hyphens or underscores (e.g. data-engineer)"
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise InvalidField(f"{preview(value)} is not a valid agent name", expected)
    return value


def render_definition(definition: AgentDefinition, *, claude_pm_fields: bool = True) -> str:
    """The definition as a Markdown file; parsing the result gives the same definition back.

    With ``claude_pm_fields=False`` only Claude Code's fields are written.
    """
    import yaml

    description = definition.full_description or definition.description
    fields: dict[str, Any] = {"name": definition.name, "description": description}
    if definition.tools is not None:
        fields["tools"] = ", ".join(definition.tools)
    if definition.model is not None:
        fields["model"] = definition.model
    fields.update(definition.claude_code)
    if claude_pm_fields:
        fields.update(_claude_pm_fields(definition))
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(fields, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{text}---\n\n{definition.system_prompt.strip()}\n"


def _claude_pm_fields(definition: AgentDefinition) -> Mapping[str, Any]:
    optional: dict[str, Any] = {
        "specializations": list(definition.specializations) or None,
        "context_keys": list(definition.context_keys) or None,
        "timeout": definition.timeout_s,
        "memory_limit": definition.memory_limit_mb,
        "env": list(definition.env) or None,
        "backend": definition.backend,
        "backend_options": dict(definition.backend_options) or None,
        "version": definition.version,
        "custom": True if definition.marked_custom else None,
    }
    return {k: v for k, v in optional.items() if v is not None}
