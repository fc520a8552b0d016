"""What is wrong with one agent definition file, and what reading it came to.

A :class:`Problem` names the file, the line, the field and what was expected,
so ``claude-pm agents check`` can point at it and a model can say what to fix;
its message is a sentence, never the offending value in full. A
:class:`ParseOutcome` holds the definition, or the errors that kept the file
from loading, and the warnings either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from claude_pm.agents.definition import AgentDefinition


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
