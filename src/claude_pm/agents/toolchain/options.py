"""The options of the built-in agents: one declaration per option, one checker for all.

Each agent module declares its options as a tuple of :class:`Option` (name,
kind, default, what it does) and the context key that may carry them
(``CONFIG_KEY``: ``test_config`` for qa, ``security_config`` for security...).
Every agent also takes the :data:`COMMON` options (file limits, the tool
timeout, the cap on findings).

Where options come from
    :func:`merge_options` layers them: the definition's ``backend_options``
    first, then the known option names found in the call's ``CONFIG_KEY``
    context mapping (the call is more specific than the definition). Other keys
    of that mapping are context for LLM backends and are ignored here; an
    unknown key in ``backend_options`` is a typo and is reported.

Who checks
    :func:`check` is the one checker: the backend calls it on a definition's
    ``backend_options`` before spawning, and the child calls it again on the
    merged options, so a bad value never reaches a tool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KINDS = ("int", "number", "bool", "str", "str_list", "choice")


@dataclass(frozen=True)
class Option:
    """One option an agent accepts.

    Attributes:
        name: the key in ``backend_options`` or the config context mapping.
        kind: ``int``, ``number``, ``bool``, ``str``, ``str_list`` or ``choice``.
        default: the value when unset (``None``: unset means "not given").
        help: what the option does, with its unit; the README table is made from it.
        minimum: the smallest allowed value for ``int`` and ``number``.
        maximum: the largest allowed value for ``int`` and ``number``.
        choices: the allowed values for ``choice``.
    """

    name: str
    kind: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this option, or None when it is fine."""
        if value is None:
            return None
        where = f"option {self.name!r}"
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"{where} must be true or false"
        if self.kind in ("int", "number"):
            numeric = (int,) if self.kind == "int" else (int, float)
            if isinstance(value, bool) or not isinstance(value, numeric):
                return f"{where} must be {'an integer' if self.kind == 'int' else 'a number'}"
            if self.minimum is not None and value < self.minimum:
                return f"{where} must be at least {self.minimum:g} (got {value})"
            if self.maximum is not None and value > self.maximum:
                return f"{where} must be at most {self.maximum:g} (got {value})"
            return None
        if self.kind == "str":
            return None if isinstance(value, str) and value else f"{where} must be a string"
        if self.kind == "str_list":
            if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
                return None
            return f"{where} must be a list of non-empty strings"
        if value not in self.choices:
            return f"{where} must be one of {', '.join(self.choices)} (got {value!r})"
        return None


COMMON: tuple[Option, ...] = (
    Option(
        "max_files",
        "int",
        5000,
        "files the agent reads at most; the rest are counted and reported as skipped",
        minimum=1,
        maximum=1_000_000,
    ),
    Option(
        "max_file_bytes",
        "int",
        1_000_000,
        "bytes per file at most; larger files are skipped and reported",
        minimum=1,
    ),
    Option(
        "tool_timeout_s",
        "number",
        600,
        "seconds each tool run may take before it is killed (its process group with it)",
        minimum=1,
    ),
    Option(
        "max_findings",
        "int",
        1000,
        "marker lines printed at most; the rest are counted in the summary",
        minimum=1,
    ),
    Option(
        "python",
        "str",
        None,
        "the interpreter that runs the tools (the builtin backend maps it to "
        "ToolchainRequest.python; default: the one running claude-pm)",
    ),
)


def check(
    specs: Sequence[Option], options: Mapping[str, Any], *, allow_unknown: bool = False
) -> list[str]:
    """Problems with ``options`` against ``specs`` (empty when fine), one sentence each."""
    if not isinstance(options, Mapping):
        return ["options must be a mapping of option names to values"]
    by_name = {spec.name: spec for spec in specs}
    problems = []
    for name, value in options.items():
        spec = by_name.get(name)
        if spec is None:
            if not allow_unknown:
                known = ", ".join(sorted(by_name))
                problems.append(f"unknown option {name!r}; known options: {known}")
            continue
        problem = spec.problem(value)
        if problem:
            problems.append(problem)
    return problems


def merge(
    specs: Sequence[Option],
    backend_options: Mapping[str, Any] | None,
    config: Any,
) -> dict[str, Any]:
    """``backend_options`` overlaid with the known option names of the ``config`` mapping."""
    merged = dict(backend_options or {})
    if isinstance(config, Mapping):
        names = {spec.name for spec in specs}
        merged.update({k: v for k, v in config.items() if k in names})
    return merged


class Values:
    """Read access to checked options, with each option's default when unset."""

    def __init__(self, specs: Sequence[Option], options: Mapping[str, Any]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._options = dict(options)

    def __getitem__(self, name: str) -> Any:
        value = self._options.get(name)
        return self._specs[name].default if value is None else value

    def given(self, name: str) -> bool:
        """Whether the option was set (rather than left at its default)."""
        return self._options.get(name) is not None
