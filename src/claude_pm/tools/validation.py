"""Validate tool arguments against the JSON Schemas in :mod:`claude_pm.tools.schemas`.

JSON Schema patterns are ECMA-262 regular expressions, where ``$`` (without the
multiline flag) matches only at the end of the input. Python's ``re``, which
the ``jsonschema`` package uses as is, also matches ``$`` before a final
newline, so ``"echo\n"`` would pass ``^[A-Za-z0-9][A-Za-z0-9_-]*$``. Patterns
are therefore checked here with ECMA semantics (:func:`ecma_pattern`): the
published schemas keep the standard pattern, and it means the same to us as to
every conforming validator.

Before the schema, :func:`check_structure` refuses what no schema check can
survive: objects and arrays nested deeper than :data:`MAX_ARGUMENT_DEPTH`
(jsonschema and ``json`` recurse once per level), strings that are not
Unicode scalar sequences (a lone surrogate such as ``"\\ud800"`` cannot be
encoded as UTF-8, so it could neither reach an agent nor come back in a
result), and integers beyond 64 bits. Every error quotes an offending value
through :func:`preview`: at most :data:`PREVIEW_CHARS` characters and its
length, so a 50 MB value gets a short error, not a 50 MB one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import Any, NamedTuple

from claude_pm.errors import InvalidInput
from claude_pm.tools.schemas import TOOLS_BY_NAME

#: Deepest nesting of objects and arrays in tool arguments (the arguments object is level 1).
MAX_ARGUMENT_DEPTH = 64
#: Most characters of an offending value an error message quotes.
PREVIEW_CHARS = 80
#: Integers in tool arguments must lie in the signed 64-bit range.
MAX_INTEGER = 2**63 - 1

_SURROGATE = re.compile("[\ud800-\udfff]")


def clip(text: str, limit: int = PREVIEW_CHARS) -> str:
    """``text`` cut to ``limit`` characters (then ``... (N characters)``), always encodable.

    Lone surrogates and other unencodable characters become backslash escapes.
    """
    shown = text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
    if shown.isascii():
        return shown
    return shown.encode("utf-8", "backslashreplace").decode("utf-8")


def _sketch(value: Any, level: int = 0) -> str:
    if isinstance(value, str):
        return repr(value[:PREVIEW_CHARS])
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() <= 256 else f"<{value.bit_length()}-bit integer>"
    if isinstance(value, list | tuple):
        if level >= 2:
            return "[...]" if value else "[]"
        items = [_sketch(v, level + 1) for v in value[:4]]
        return "[" + ", ".join(items + (["..."] if len(value) > 4 else [])) + "]"
    if isinstance(value, Mapping):
        if level >= 2:
            return "{...}" if value else "{}"
        pairs = [f"{_sketch(k, 2)}: {_sketch(v, level + 1)}" for k, v in list(value.items())[:4]]
        return "{" + ", ".join(pairs + (["..."] if len(value) > 4 else [])) + "}"
    return f"<{type(value).__name__}>"


def preview(value: Any) -> str:
    """A short quotation of ``value`` for an error message, never more than a prefix.

    A string shows its first :data:`PREVIEW_CHARS` characters and, when longer,
    its length (``'aaa'... (10,000,000 characters)``); a list or object shows
    a sketch cut to :data:`PREVIEW_CHARS` and its size. Never recurses deeper
    than two levels, never raises, and the result is always encodable
    (surrogates and control characters are escaped, as ``repr`` does).
    """
    if isinstance(value, str):
        text = repr(value[:PREVIEW_CHARS])
        if len(value) > PREVIEW_CHARS:
            text += f"... ({len(value):,} characters)"
    else:
        text = _sketch(value)
        if len(text) > PREVIEW_CHARS:
            text = text[:PREVIEW_CHARS] + "..."
        if isinstance(value, list | tuple | Mapping) and len(value) > 4:
            text += f" ({len(value):,} items)"
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


class _Node(NamedTuple):
    value: Any
    depth: int
    parent: _Node | None
    key: Any


def _path_of(node: _Node) -> list[Any]:
    path: list[Any] = []
    current: _Node | None = node
    while current is not None and current.parent is not None:
        path.append(current.key)
        current = current.parent
    return path[::-1]


def _path_text(path: list[Any], limit: int = 6) -> str:
    out = ""
    for part in path[:limit]:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = clip(str(part), 40)
            out += f".{name}" if out else name
    if len(path) > limit:
        out += "..."
    return out or "(arguments)"


def check_structure(tool_name: str, arguments: Mapping[str, Any]) -> None:
    """Refuse arguments no schema check can survive, naming the field.

    Raises:
        InvalidInput: a container nested deeper than :data:`MAX_ARGUMENT_DEPTH`
            (``field`` is the top-level argument holding it), a string or key
            with a lone surrogate, or an integer beyond 64 bits (``field`` is
            where it is).
    """
    stack = [_Node(arguments, 1, None, None)]
    while stack:
        node = stack.pop()
        value = node.value
        if isinstance(value, str):
            _check_text(tool_name, value, node)
        elif isinstance(value, int) and not isinstance(value, bool):
            if not -MAX_INTEGER - 1 <= value <= MAX_INTEGER:
                field = _path_text(_path_of(node))
                raise InvalidInput(
                    f"Invalid arguments for {tool_name}: {field} is {preview(value)}, "
                    "beyond the 64-bit integers claude-pm accepts.",
                    field=field,
                    expected="a 64-bit integer",
                )
        elif isinstance(value, Mapping | list | tuple):
            if node.depth > MAX_ARGUMENT_DEPTH:
                path = _path_of(node)
                field = _path_text(path[:1])
                raise InvalidInput(
                    f"Invalid arguments for {tool_name}: {field} nests objects and arrays "
                    f"deeper than {MAX_ARGUMENT_DEPTH} levels (at {_path_text(path)}); "
                    "send flatter data.",
                    field=field,
                    expected=f"at most {MAX_ARGUMENT_DEPTH} levels of nesting",
                )
            if isinstance(value, Mapping):
                for key, child in value.items():
                    if isinstance(key, str):
                        _check_text(tool_name, key, node, is_key=True)
                    stack.append(_Node(child, node.depth + 1, node, key))
            else:
                stack.extend(_Node(c, node.depth + 1, node, i) for i, c in enumerate(value))


def _check_text(tool_name: str, text: str, node: _Node, *, is_key: bool = False) -> None:
    if text.isascii():
        return
    found = _SURROGATE.search(text)
    if found is None:
        return
    field = _path_text(_path_of(node))
    what = f"the key {preview(text)} in {field}" if is_key else f"{field} ({preview(text)})"
    raise InvalidInput(
        f"Invalid arguments for {tool_name}: {what} contains a lone surrogate "
        f"({found.group()!r} at index {found.start()}), which is not valid Unicode; "
        "send text as valid UTF-8.",
        field=field,
        expected="valid Unicode text",
    )


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
        yield ValidationError(f"{preview(instance)} does not match {pattern!r}")


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
    return _path_text(list(path), limit=len(path))


#: jsonschema validator -> how its failure reads: (instance, schema value) -> phrase.
_PHRASES: dict[str, Callable[[Any, Any], str]] = {
    "minimum": lambda got, bound: f"{preview(got)} is less than the minimum of {bound}",
    "maximum": lambda got, bound: f"{preview(got)} is greater than the maximum of {bound}",
    "minLength": lambda got, bound: (
        f"{preview(got)} is shorter than {bound} character(s)" if got else "'' should be non-empty"
    ),
    "maxLength": lambda got, bound: f"{preview(got)} is longer than {bound} characters",
    "minItems": lambda got, bound: (
        f"{preview(got)} has fewer than {bound} item(s)" if got else "[] should be non-empty"
    ),
}


def _describe(error: Any) -> tuple[str, str, str]:
    """(field, what was expected, message) for one jsonschema error.

    Messages are built here, never taken from jsonschema, whose own messages
    quote the whole offending value.
    """
    validator = error.validator
    field = _field_path(error.absolute_path)
    if validator == "required":
        present = error.instance if isinstance(error.instance, Mapping) else {}
        missing = next((k for k in error.validator_value if k not in present), "?")
        name = f"{field}.{missing}" if field != "(arguments)" else missing
        return name, "a value", f"{name} is required but missing"
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        shown = ", ".join(preview(k) for k in extra[:5]) + (", ..." if len(extra) > 5 else "")
        verb = "was" if len(extra) == 1 else "were"
        return (
            field,
            f"only {', '.join(allowed)}",
            f"Additional properties are not allowed ({shown} {verb} unexpected) at {field}; "
            f"allowed fields are: {', '.join(allowed)}",
        )
    if validator == "type":
        got = type(error.instance).__name__
        return (
            field,
            str(error.validator_value),
            f"{field} must be of type {error.validator_value}, got {got} "
            f"({preview(error.instance)})",
        )
    if validator == "enum":
        options = ", ".join(repr(v) for v in error.validator_value)
        return (
            field,
            f"one of {options}",
            f"{field} must be one of {options}, got {preview(error.instance)}",
        )
    if validator == "pattern":
        return field, f"pattern {error.validator_value}", f"{field}: {error.message}"
    phrase = _PHRASES.get(validator)
    if phrase is not None:
        return (
            field,
            f"{validator} {error.validator_value}",
            f"{field}: {phrase(error.instance, error.validator_value)}",
        )
    return (
        field,
        f"{validator} {error.validator_value!r}",
        f"{field}: {preview(error.instance)} does not satisfy {validator} "
        f"{error.validator_value!r}",
    )


def validate_arguments(tool_name: str, arguments: Any) -> dict[str, Any]:
    """Check ``arguments`` against the tool's schema and return them as a plain dict.

    :func:`check_structure` runs first, so jsonschema never meets a value it
    cannot walk or quote.

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
    check_structure(tool_name, args)
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
