"""PyYAML's safe loader, bounded: front matter is refused before it can cost much.

PyYAML gives every alias the very node its anchor names, so a "billion laughs"
document is a few dozen nodes that expand to billions of values in whatever
walks the result (``repr``, ``json.dumps``, a copy). :func:`load_bounded`
therefore loads in two steps:

1. compose the node graph (libyaml does it in C, under its own nesting limit);
2. walk the graph once, depth first, counting each node as often as the
   expanded document would hold it (a node already counted adds its known
   total, so the walk stays linear in the graph: a bomb of 90 aliases costs 90
   steps, not a billion), and refuse the document past
   :data:`~claude_pm.agents.limits.MAX_YAML_VALUES` values, past
   :data:`~claude_pm.agents.limits.MAX_YAML_DEPTH` levels of nesting, or when
   an alias lies inside the value it names (a loop);

and only then builds the Python values. While building, an integer of more
than :data:`~claude_pm.agents.limits.MAX_INTEGER_DIGITS` digits is refused
(Python refuses to convert one of more than 4,300 digits, and nothing in a
definition needs one past 18), and a value PyYAML cannot build (``2024-02-30``)
is a YAML error with its line, not a ``ValueError`` from the depths.

Every refusal is a :class:`YAMLLimitExceeded` with a short message and the
line, never the value itself.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import yaml
from yaml.nodes import Node, ScalarNode, SequenceNode

from claude_pm.agents.limits import MAX_INTEGER_DIGITS, MAX_YAML_DEPTH, MAX_YAML_VALUES

_Base: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INT_LIMIT = 10**MAX_INTEGER_DIGITS


class YAMLLimitExceeded(Exception):
    """The front matter passes a limit; ``line`` is the file line (front matter starts on 2)."""

    def __init__(self, message: str, line: int | None, expected: str) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.expected = expected


def _line(node: Node) -> int | None:
    mark = getattr(node, "start_mark", None)
    return None if mark is None else int(mark.line) + 2


def _construct_int(loader: Any, node: ScalarNode) -> int:
    digits = str(node.value).replace("_", "").lstrip("+-")
    if digits[:2].lower() in ("0x", "0o", "0b"):
        digits = digits[2:]
    if len(digits) > MAX_INTEGER_DIGITS:  # checked before int(): its cost grows with the digits
        raise _too_big_integer(node, f"has {len(digits):,} digits")
    value: int = yaml.SafeLoader.construct_yaml_int(loader, node)
    if abs(value) >= _INT_LIMIT:
        raise _too_big_integer(node, f"is 10**{MAX_INTEGER_DIGITS} or more")
    return value


def _too_big_integer(node: Node, what: str) -> YAMLLimitExceeded:
    return YAMLLimitExceeded(
        f"the number on this line {what}; claude-pm reads integers of at most "
        f"{MAX_INTEGER_DIGITS} digits",
        _line(node),
        f"an integer below 10**{MAX_INTEGER_DIGITS}",
    )


def _construct_timestamp(loader: Any, node: ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as e:  # 2024-02-30 matches the pattern of a date but is none
        raise _unbuildable(node, e) from e


def _unbuildable(node: Node, error: Exception) -> yaml.YAMLError:
    return yaml.constructor.ConstructorError(
        None, None, f"cannot build this value ({str(error)[:100]})", node.start_mark
    )


class _BoundedLoader(_Base):  # type: ignore[misc]
    """The safe loader (libyaml's when there is one) with bounded integers and checked dates."""


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_BoundedLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def check_graph(root: Node) -> int:
    """The number of values the document expands to; raises past the limits (see the module)."""
    return _expanded(root, 1, {}, set())


def _expanded(node: Node, depth: int, done: dict[int, int], on_path: set[int]) -> int:
    # Recursion is bounded by MAX_YAML_DEPTH; ``done`` holds the size of every node walked,
    # so a node that many aliases name is walked once.
    if depth > MAX_YAML_DEPTH:
        raise YAMLLimitExceeded(
            f"the front matter nests lists and mappings more than {MAX_YAML_DEPTH} deep",
            _line(node),
            f"at most {MAX_YAML_DEPTH} levels of nesting",
        )
    key = id(node)
    on_path.add(key)
    children = node.value if isinstance(node, SequenceNode) else chain.from_iterable(node.value)
    total = 1
    for child in children:
        if isinstance(child, ScalarNode):
            total += 1
            continue
        known = done.get(id(child))
        if known is None:
            if id(child) in on_path:
                raise YAMLLimitExceeded(
                    "an alias on this line lies inside the value it names (a loop)",
                    _line(child),
                    "aliases to values defined before and outside them",
                )
            known = _expanded(child, depth + 1, done, on_path)
        total += known
        if total > MAX_YAML_VALUES:
            raise YAMLLimitExceeded(
                f"the front matter expands to more than {MAX_YAML_VALUES:,} values "
                "(aliases count as copies of what they name)",
                _line(child),
                f"at most {MAX_YAML_VALUES:,} values",
            )
    on_path.discard(key)
    done[key] = total
    return total


def load_bounded(text: str) -> Any:
    """``yaml.safe_load(text)`` within the limits.

    Raises:
        yaml.YAMLError: the text is not YAML (or holds a value YAML cannot build).
        YAMLLimitExceeded: it is, but past a limit.
    """
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if not isinstance(node, ScalarNode):
            check_graph(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()
