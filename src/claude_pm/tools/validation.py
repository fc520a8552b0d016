"""Validate tool arguments against the JSON Schemas in :mod:`claude_pm.tools.schemas`.

JSON Schema patterns are ECMA-262 regular expressions, where ``$`` (without the
multiline flag) matches only at the end of the input. Python's ``re``, which
the ``jsonschema`` package uses as is, also matches ``$`` before a final
newline, so ``"echo\n"`` would pass ``^[A-Za-z0-9][A-Za-z0-9_-]*$``. Patterns
are therefore checked here with ECMA semantics (:func:`ecma_pattern`): the
published schemas keep the standard pattern, and it means the same to us as to
every conforming validator.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from claude_pm.errors import InvalidInput
from claude_pm.tools.schemas import TOOLS_BY_NAME


@cache
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled so that Python's ``re`` reads it as ECMA-262 does.

    Every ``$`` outside a character class and not escaped becomes ``\\Z`` (end
    of input only). The patterns in our schemas use no other construct whose
    meaning differs between the two engines.
    """
    out: list[str] = []
    in_class = escaped = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif in_class:
            out.append(char)
            in_class = char != "]"
        elif char == "[":
            out.append(char)
            in_class = True
        elif char == "$":
            out.append(r"\Z")
        else:
            out.append(char)
    return re.compile("".join(out))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema import ValidationError

    if isinstance(instance, str) and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r:.80} does not match {pattern!r}")


@cache
def _validator_class() -> Any:
    # jsonschema costs ~40 ms to import; only tool calls pay it.
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {"pattern": _pattern})


@cache
def _validator(tool_name: str) -> Any:
    cls = _validator_class()
    schema = TOOLS_BY_NAME[tool_name]["parameters"]
    cls.check_schema(schema)
    return cls(schema)


def _field_path(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(arguments)"


def _describe(error: Any) -> tuple[str, str, str]:
    """(field, what was expected, message) for one jsonschema error."""
    validator = error.validator
    field = _field_path(error.absolute_path)
    if validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else error.message
        name = f"{field}.{missing}" if field != "(arguments)" else missing
        return name, "a value", f"{name} is required but missing"
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return (
            field,
            f"only {', '.join(allowed)}",
            f"{error.message} at {field}; allowed fields are: {', '.join(allowed)}",
        )
    if validator == "type":
        got = type(error.instance).__name__
        return (
            field,
            str(error.validator_value),
            f"{field} must be of type {error.validator_value}, got {got} ({error.instance!r:.60})",
        )
    if validator == "enum":
        options = ", ".join(repr(v) for v in error.validator_value)
        return (
            field,
            f"one of {options}",
            f"{field} must be one of {options}, got {error.instance!r}",
        )
    if validator in {"minimum", "maximum", "minLength", "maxLength", "minItems", "pattern"}:
        return field, f"{validator} {error.validator_value}", f"{field}: {error.message}"
    return field, str(validator), f"{field}: {error.message}"


def validate_arguments(tool_name: str, arguments: Any) -> dict[str, Any]:
    """Check ``arguments`` against the tool's schema and return them as a plain dict.

    Raises:
        InvalidInput: naming the first offending field and what was expected;
            every problem found is listed in ``problems``.
    """
    if not isinstance(arguments, Mapping):
        raise InvalidInput(
            f"Arguments for {tool_name} must be a JSON object, got {type(arguments).__name__}.",
            field="(arguments)",
            expected="object",
        )
    args = dict(arguments)
    errors = sorted(_validator(tool_name).iter_errors(args), key=lambda e: list(e.absolute_path))
    if not errors:
        return args
    described = [_describe(e) for e in errors]
    field, expected, first = described[0]
    more = f" (and {len(described) - 1} more problem(s))" if len(described) > 1 else ""
    raise InvalidInput(
        f"Invalid arguments for {tool_name}: {first}{more}.",
        field=field,
        expected=expected,
        problems=[d[2] for d in described],
    )
