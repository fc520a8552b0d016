"""One error tree for claude-pm.

Every error carries the facts a caller needs as declared, typed attributes,
says what to do in its message, and survives pickling (workflow executors move
errors between processes)::

    ClaudePMError
    ├── InvalidInput            a value from outside is wrong (field, expected)
    │   ├── UnknownTool         tool name not one of the four (tool_name, valid_tools)
    │   └── ContextError        project_root / file_paths / context size (path)
    ├── AgentError
    │   ├── AgentNotFound       no agent of that type (agent_type, valid_agents)
    │   ├── AgentDefinitionError an agent file fails validation (path, line, field, expected)
    │   └── BackendUnavailable  the agent's backend cannot run here (agent_type, backend)
    ├── ProcessError
    │   └── SpawnFailed         the OS refused to start the process (program, errno)
    ├── StoreError              the SQLite state could not be read or written (path)
    ├── TicketError             a ticket operation failed (ticket_id)
    ├── WorkflowInvalid         a workflow is not runnable (problems, field, task_id, cycle)
    └── NotAvailable            a tool or feature that is not built yet (feature)

Each class declares its own facts in ``__init__``; further keyword facts go to
``facts`` only. ``to_dict`` gives all of them (for tool results'
``error_details``); ``facts`` holds every fact by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ClaudePMError(Exception):
    """Base of every error claude-pm raises on purpose.

    Args:
        message: what went wrong and what to do about it.
        facts: JSON-able facts for the caller (they appear in ``to_dict``).
    """

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.message = message
        self.facts: dict[str, Any] = dict(facts)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild without calling the subclass's __init__ (its signature differs),
        # then restore every attribute, the declared facts included.
        return (_rebuild, (type(self), self.message), dict(self.__dict__))

    def to_dict(self) -> dict[str, Any]:
        """The error as the JSON-able dict tool results carry under ``error_details``."""
        details: dict[str, Any] = {"type": type(self).__name__, "message": self.message}
        for key, value in self.facts.items():
            if isinstance(value, (str, int, float, bool, type(None), list, tuple, dict)):
                details[key] = list(value) if isinstance(value, tuple) else value
            else:
                details[key] = str(value)
        return details


def _rebuild(cls: type[ClaudePMError], message: str) -> ClaudePMError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    return error


class InvalidInput(ClaudePMError):
    """A value from outside (tool arguments, a flag, a file) is not acceptable."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        expected: str | None = None,
        **facts: Any,
    ) -> None:
        super().__init__(message, field=field, expected=expected, **facts)
        self.field = field
        self.expected = expected


class UnknownTool(InvalidInput):
    """The tool name is not one claude-pm provides."""

    def __init__(self, tool_name: str, valid_tools: Sequence[str]) -> None:
        valid = ", ".join(valid_tools)
        super().__init__(
            f"Unknown tool {tool_name!r:.80}. Use one of: {valid}.",
            field="name",
            tool_name=tool_name[:80],
            valid_tools=list(valid_tools),
        )
        self.tool_name = tool_name
        self.valid_tools = list(valid_tools)


class ContextError(InvalidInput):
    """The execution context is unusable (missing project root, path outside it...)."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        path: str | None = None,
        **facts: Any,
    ) -> None:
        super().__init__(message, field=field, path=path, **facts)
        self.path = path


class AgentError(ClaudePMError):
    """Base for agent lookup, definition and backend errors."""


class AgentNotFound(AgentError):
    """No agent of the requested type is known to the registry."""

    #: Valid types named in the message and the facts at most (huge tiers stay readable).
    LISTED = 50

    def __init__(self, agent_type: str, valid_agents: Sequence[str]) -> None:
        ordered = sorted(valid_agents)
        valid = ", ".join(ordered[: self.LISTED]) or "(none)"
        if len(ordered) > self.LISTED:
            valid += f" and {len(ordered) - self.LISTED} more"
        super().__init__(
            f"Unknown agent type {agent_type!r:.80}. Valid agent types: {valid}. "
            "Run discover_available_agents (or `claude-pm agents list`) to see them.",
            agent_type=agent_type[:80],
            valid_agents=ordered[: self.LISTED],
            valid_agents_count=len(ordered),
        )
        self.agent_type = agent_type
        self.valid_agents = sorted(valid_agents)


class AgentDefinitionError(AgentError):
    """An agent definition file fails validation."""

    def __init__(
        self,
        message: str,
        *,
        path: str,
        line: int | None = None,
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        super().__init__(message, path=path, line=line, field=field, expected=expected)
        self.path = path
        self.line = line
        self.field = field
        self.expected = expected


class BackendUnavailable(AgentError):
    """The agent's backend cannot run on this installation or configuration."""

    def __init__(self, message: str, *, agent_type: str, backend: str | None, **facts: Any) -> None:
        super().__init__(message, agent_type=agent_type, backend=backend, **facts)
        self.agent_type = agent_type
        self.backend = backend


class ProcessError(ClaudePMError):
    """Base for supervision errors."""


class SpawnFailed(ProcessError):
    """The operating system refused to start the process (or its launcher failed).

    The supervisor turns it into a ``spawn_error`` result; it never reaches a
    tool caller as an exception.
    """

    def __init__(self, message: str, *, program: str | None = None, errno: int | None = None):
        super().__init__(message, program=program, errno=errno)
        self.program = program
        self.errno = errno


class StoreError(ClaudePMError):
    """The SQLite state could not be opened, migrated, read or written."""

    def __init__(self, message: str, *, path: str | None = None, **facts: Any) -> None:
        super().__init__(message, path=path, **facts)
        self.path = path


class TicketError(ClaudePMError):
    """A ticket operation failed (unknown id, bad status, a refused push...)."""

    def __init__(self, message: str, *, ticket_id: str | None = None, **facts: Any) -> None:
        super().__init__(message, ticket_id=ticket_id, **facts)
        self.ticket_id = ticket_id


class WorkflowInvalid(ClaudePMError):
    """A workflow is not runnable (unknown dependency, cycle, bad limit...).

    One error for every problem found before anything runs: ``problems`` lists
    them all (each says what to fix), the message carries the first. ``field``
    and ``task_id`` locate the first problem (``None`` when it concerns the
    whole workflow); ``cycle`` is the first dependency cycle found, as task ids
    from a task back to itself (``["a", "b", "a"]``: a depends on b, b on a).
    """

    def __init__(
        self,
        message: str,
        *,
        problems: Sequence[str] = (),
        field: str | None = None,
        task_id: str | None = None,
        cycle: Sequence[str] | None = None,
        **facts: Any,
    ) -> None:
        listed = list(problems) or [message]
        named = None if cycle is None else list(cycle)
        super().__init__(
            message, problems=listed, field=field, task_id=task_id, cycle=named, **facts
        )
        self.problems = listed
        self.field = field
        self.task_id = task_id
        self.cycle = named


class NotAvailable(ClaudePMError):
    """A tool or feature that this version does not provide yet."""

    def __init__(self, message: str, *, feature: str) -> None:
        super().__init__(message, feature=feature)
        self.feature = feature


__all__ = [
    "AgentDefinitionError",
    "AgentError",
    "AgentNotFound",
    "BackendUnavailable",
    "ClaudePMError",
    "ContextError",
    "InvalidInput",
    "NotAvailable",
    "ProcessError",
    "SpawnFailed",
    "StoreError",
    "TicketError",
    "UnknownTool",
    "WorkflowInvalid",
]
