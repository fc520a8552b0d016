"""A fast reader for the plain subset of YAML that most front matter is written in.

PyYAML's C scanner still builds every value in Python, which makes it the
largest cost of discovering many agents. Most definitions only hold
``key: word words``, ``key: 123``, ``key: "text"`` and ``key: [a, b]`` lines;
:func:`read_simple_mapping` reads exactly those and returns None for anything
else (nesting, block scalars, comments, floats, octal, dates, ``: `` inside a
value, non-ASCII text, an integer of more than 18 digits...), so the caller
falls back to PyYAML (bounded: see :mod:`claude_pm.agents.bounded_yaml`) and
the result is always what ``yaml.safe_load`` would give. A property test holds
it to that.
"""

from __future__ import annotations

import re
from typing import Any

from claude_pm.agents.limits import MAX_YAML_VALUES

_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?:[ ]+(.*?))?[ ]*")
# A plain scalar that YAML 1.1 resolves to a string: it starts with a letter (so it is not
# a number, date or indicator) and holds no character that could start a comment,
# a mapping value, a flow collection or an escape.
_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9 _.,;/()'\"+=!?&%$@*<>~^-]*")
# Inside [a, b] a plain scalar also may not hold a comma, and here holds no quote either.
_FLOW_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9 _.;/()+=!?&%$@*<>~^-]*")
# At most 18 digits: a longer integer goes to the bounded loader, which refuses it with its line.
_INT = re.compile(r"0|[1-9][0-9]{0,17}")
_DOUBLE_QUOTED = re.compile(r'"([ -!#-\[\]-~]*)"')
_SINGLE_QUOTED = re.compile(r"'([ -&(-~]*)'")
# YAML 1.1 booleans and nulls that look like words, and what they mean.
_NOT_STRINGS: dict[str, bool | None] = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("null", "Null", "NULL"), None),
}


def _word(text: str, pattern: re.Pattern[str]) -> bool:
    return bool(pattern.fullmatch(text)) and text not in _NOT_STRINGS and text[-1] != " "


def _scalar(text: str) -> tuple[bool, Any]:
    if _word(text, _WORDS):
        return True, text
    if text in _NOT_STRINGS:
        return True, _NOT_STRINGS[text]
    if _INT.fullmatch(text):
        return True, int(text)
    match = _DOUBLE_QUOTED.fullmatch(text) or _SINGLE_QUOTED.fullmatch(text)
    if match:
        return True, match.group(1)
    return False, None


def read_simple_mapping(text: str) -> dict[str, Any] | None:
    """The mapping ``text`` holds, or None when it is not in the plain subset (or is empty).

    None too when it holds more values than the bounded loader accepts, so that
    loader refuses it: the limits do not depend on which reader ran.
    """
    result: dict[str, Any] = {}
    values = 1  # counted as the bounded loader counts: the mapping, each key, each value
    for line in text.split("\n"):
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            return None
        key, value = match.group(1), match.group(2)
        if key in result or key in _NOT_STRINGS:
            return None
        if not value:
            result[key] = None
        elif value[0] == "[" and value[-1] == "]":
            inner = value[1:-1].strip()
            items = [item.strip() for item in inner.split(",")] if inner else []
            if not all(_word(item, _FLOW_WORDS) for item in items):
                return None
            result[key] = items
            values += len(items)
        else:
            ok, parsed = _scalar(value)
            if not ok:
                return None
            result[key] = parsed
        values += 2
    if values > MAX_YAML_VALUES:
        return None
    return result or None
