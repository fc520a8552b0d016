"""Reading one workflow's fields: each value checked where it is, every problem recorded.

:class:`FieldCheck` collects problems (what is wrong, what to do, where) and
goes on, so :func:`~claude_pm.workflow.parse.parse_workflow` can report them
all at once. :func:`read_task` reads one task as far as it can; what it cannot
read is a problem, never an exception. Messages name the task as
``task 'id' (agent_tasks[i])`` when it has a valid id of its own, else as
``agent_tasks[i]``.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from claude_pm.agents.backends import BACKENDS, unavailable_reason
from claude_pm.workflow.spec import (
    BUDGET_USD_MAX,
    MEMORY_LIMIT_MB_RANGE,
    NAME_MAX_CHARS,
    NAME_PATTERN,
    RETRIES_RANGE,
    TASK_FIELDS,
    TIMEOUT_S_RANGE,
    Isolation,
    default_task_id,
)
from claude_pm.workflow.writes import normalize_write_glob, write_glob_problem

#: Why an agent type cannot run here, or ``None`` when it can.
AgentCheck = Callable[[str], "str | None"]

_NAME = re.compile(NAME_PATTERN.removeprefix("^").removesuffix("$"))
_E = TypeVar("_E", bound=StrEnum)


def kind_of(value: Any) -> str:
    """How a value's type reads in a message, in JSON terms (``a list``, ``a mapping``...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _as_int(value: Any) -> int | None:
    """``value`` as an integer (``30.0`` counts, as in JSON Schema), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


@dataclass
class Problem:
    """One problem: what to fix, the field path, the task it concerns, a cycle it names."""

    message: str
    field: str | None
    task_id: str | None
    cycle: list[str] | None = None


@dataclass
class TaskDraft:
    """One task as far as it could be read."""

    position: int
    id: str
    id_given: bool
    label: str
    agent_type: str | None = None
    task: str | None = None
    dependency_names: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


class FieldCheck:
    """Reads values, recording a problem for each bad one and answering ``None`` for it.

    Each reader takes ``where`` (the message prefix naming the task, or ``""``),
    ``path`` (the field path prefix, ``agent_tasks[2].`` or ``""``) and ``tid``
    (the task's id, for :attr:`WorkflowInvalid.task_id`).
    """

    def __init__(self, check_agent: AgentCheck | None) -> None:
        self.problems: list[Problem] = []
        self._check_agent = check_agent
        self._agent_answers: dict[str, str | None] = {}

    def add(self, message: str, field: str | None, task_id: str | None = None) -> None:
        self.problems.append(Problem(message, field, task_id))

    def unknown_keys(
        self, raw: Mapping[Any, Any], allowed: Sequence[str], where: str, path: str, tid: str | None
    ) -> None:
        for key in raw:
            if key in allowed:
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.add(
                f"{where}unknown field {key!r}{hint}; allowed fields are: {', '.join(allowed)}",
                f"{path}{key}",
                tid,
            )

    def integer(
        self,
        raw: Mapping[str, Any],
        key: str,
        bounds: tuple[int, int],
        unit: str,
        where: str,
        path: str,
        tid: str | None,
    ) -> int | None:
        if key not in raw:
            return None
        value = _as_int(raw[key])
        low, high = bounds
        if value is None or not low <= value <= high:
            self.add(
                f"{where}{key} must be an integer from {low} to {high}{unit}, "
                f"got {_shown(raw[key])}",
                f"{path}{key}",
                tid,
            )
            return None
        return value

    def choice(
        self,
        raw: Mapping[str, Any],
        key: str,
        options: Sequence[str],
        where: str,
        path: str,
        tid: str | None,
    ) -> str | None:
        if key not in raw:
            return None
        value = raw[key]
        if not isinstance(value, str) or value not in options:
            listed = ", ".join(repr(o) for o in options)
            self.add(
                f"{where}{key} must be one of {listed}, got {_shown(value)}", f"{path}{key}", tid
            )
            return None
        return value

    def enum(
        self, raw: Mapping[str, Any], key: str, kind: type[_E], where: str, path: str
    ) -> _E | None:
        value = self.choice(raw, key, [str(m) for m in kind], where, path, None)
        return None if value is None else kind(value)

    def text(
        self, raw: Mapping[str, Any], key: str, what: str, where: str, path: str, tid: str | None
    ) -> str | None:
        if key not in raw:
            self.add(f"{where}{key} is required ({what})", f"{path}{key}", tid)
            return None
        value = raw[key]
        if not isinstance(value, str):
            self.add(
                f"{where}{key} must be a string ({what}), got {kind_of(value)}", path + key, tid
            )
            return None
        if not value.strip():
            self.add(f"{where}{key} is empty; say {what}", f"{path}{key}", tid)
            return None
        return value

    def agent(self, agent_type: str) -> str | None:
        if self._check_agent is None:
            return None
        if agent_type not in self._agent_answers:
            self._agent_answers[agent_type] = self._check_agent(agent_type)
        return self._agent_answers[agent_type]


def _name_problem(value: Any, what: str) -> str | None:
    if not isinstance(value, str):
        quote = " (quote it in YAML)" if isinstance(value, (bool, int, float)) else ""
        return f"must be a string{quote}, got {kind_of(value)} {_shown(value)}"
    if len(value) > NAME_MAX_CHARS or not _NAME.fullmatch(value):
        return (
            f"{_shown(value)} is not a valid {what}: use up to {NAME_MAX_CHARS} letters, digits, "
            "'_' or '-', starting with a letter or digit"
        )
    return None


def _label(position: int, task_id: str | None) -> str:
    return (
        f"task {task_id!r} (agent_tasks[{position}]): " if task_id else f"agent_tasks[{position}]: "
    )


def read_task(check: FieldCheck, position: int, raw: Any) -> TaskDraft:
    """Task ``position`` as far as it can be read; its problems go to ``check``."""
    path = f"agent_tasks[{position}]."
    given = raw.get("id") if isinstance(raw, Mapping) else None
    id_ok = isinstance(raw, Mapping) and "id" in raw and _name_problem(given, "task id") is None
    task_id = str(given) if id_ok else default_task_id(position)
    draft = TaskDraft(position, task_id, id_ok, _label(position, task_id if id_ok else None))
    where, tid = draft.label, task_id
    if not isinstance(raw, Mapping):
        check.add(
            f"{where}each task must be a mapping with agent_type and task, got {kind_of(raw)}",
            f"agent_tasks[{position}]",
            tid,
        )
        return draft
    check.unknown_keys(raw, TASK_FIELDS, where, path, tid)
    if "id" in raw and not id_ok:
        check.add(f"{where}id {_name_problem(given, 'task id')}", f"{path}id", tid)

    if "agent_type" not in raw:
        check.add(
            f"{where}agent_type is required (the agent to run, such as 'qa')",
            path + "agent_type",
            tid,
        )
    elif (why := _name_problem(raw["agent_type"], "agent type")) is not None:
        check.add(f"{where}agent_type {why}", f"{path}agent_type", tid)
    else:
        draft.agent_type = raw["agent_type"]
        if (reason := check.agent(raw["agent_type"])) is not None:
            check.add(f"{where}{reason}", f"{path}agent_type", tid)
    draft.task = check.text(raw, "task", "what the agent should do", where, path, tid)

    deps = raw.get("dependencies", [])
    if not isinstance(deps, (list, tuple)):
        check.add(
            f"{where}dependencies must be a list of task ids, got {kind_of(deps)} {_shown(deps)}",
            f"{path}dependencies",
            tid,
        )
    else:
        for j, name in enumerate(deps):
            if isinstance(name, str):
                draft.dependency_names.append(name)
            else:
                check.add(
                    f"{where}dependencies[{j}] must be a task id (a string), got {_shown(name)}",
                    f"{path}dependencies[{j}]",
                    tid,
                )

    values = draft.values
    if "priority" in raw:
        if (priority := _as_int(raw["priority"])) is None:
            check.add(
                f"{where}priority must be an integer (lower starts first), "
                f"got {_shown(raw['priority'])}",
                f"{path}priority",
                tid,
            )
        values["priority"] = priority
    if "context" in raw:
        values["context"] = _context(check, raw["context"], where, f"{path}context", tid)
    values["timeout_s"] = check.integer(
        raw, "timeout", TIMEOUT_S_RANGE, " (seconds)", where, path, tid
    )
    values["memory_limit_mb"] = check.integer(
        raw, "memory_limit", MEMORY_LIMIT_MB_RANGE, " (MB)", where, path, tid
    )
    values["retries"] = check.integer(raw, "retries", RETRIES_RANGE, "", where, path, tid) or 0
    backend = check.choice(raw, "backend", tuple(BACKENDS), where, path, tid)
    if backend is not None and (why := unavailable_reason(backend)) is not None:
        check.add(f"{where}{why}", f"{path}backend", tid)
    values["backend"] = backend
    if "writes" in raw:
        values["writes"] = _writes(check, raw["writes"], where, f"{path}writes", tid)
    isolation = check.choice(raw, "isolation", [str(m) for m in Isolation], where, path, tid)
    values["isolation"] = None if isolation is None else Isolation(isolation)
    return draft


def _context(check: FieldCheck, value: Any, where: str, path: str, tid: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        check.add(f"{where}context must be a mapping, got {kind_of(value)}", path, tid)
        return {}
    try:
        return dict(json.loads(json.dumps(value, allow_nan=False, sort_keys=True)))
    except (TypeError, ValueError) as e:
        check.add(
            f"{where}context must hold JSON values only (strings, numbers, booleans, null, "
            f"lists, mappings with string keys; quote dates in YAML): {e}",
            path,
            tid,
        )
        return {}


def _writes(
    check: FieldCheck, value: Any, where: str, path: str, tid: str
) -> tuple[str, ...] | None:
    if not isinstance(value, (list, tuple)):
        check.add(
            f"{where}writes must be a list of globs relative to project_root "
            f"([] for a read-only task), got {kind_of(value)} {_shown(value)}",
            path,
            tid,
        )
        return None
    globs: list[str] = []
    for j, glob in enumerate(value):
        if not isinstance(glob, str):
            check.add(
                f"{where}writes[{j}] must be a string, got {_shown(glob)}", f"{path}[{j}]", tid
            )
        elif (why := write_glob_problem(glob)) is not None:
            check.add(f"{where}writes[{j}] {_shown(glob)} {why}", f"{path}[{j}]", tid)
        else:
            globs.append(normalize_write_glob(glob))
    return tuple(dict.fromkeys(globs))


def read_budget(check: FieldCheck, raw: Mapping[str, Any]) -> float | None:
    """The workflow's ``budget_usd`` as a float, if it gave a good one."""
    if "budget_usd" not in raw:
        return None
    value = raw["budget_usd"]
    number = None if isinstance(value, bool) or not isinstance(value, (int, float)) else value
    if number is None or not math.isfinite(number) or not 0 < number <= BUDGET_USD_MAX:
        check.add(
            f"budget_usd must be a number above 0 and at most {BUDGET_USD_MAX} (US dollars), "
            f"got {_shown(value)}",
            "budget_usd",
        )
        return None
    return float(number)
