"""One error tree for claude-pm.

Every error carries the facts a caller needs as attributes, says what to do in
its message, and survives pickling (workflow executors move errors between
processes)::

    ClaudePMError
    ├── InvalidInput            a value from outside is wrong (field, expected)
    │   ├── UnknownTool         tool name not one of the four (valid_tools)
    │   └── ContextError        project_root / file_paths / context size (path)
    ├── AgentError
    │   ├── AgentNotFound       no agent of that type (agent_type, valid_agents)
    │   ├── AgentDefinitionError an agent file fails validation (path, line, field)
    │   └── BackendUnavailable  the agent's backend cannot run here (backend)
    ├── ProcessError
    │   └── SpawnFailed         the OS refused to start the process (argv, errno)
    ├── StoreError              the SQLite state could not be read or written (path)
    ├── TicketError             a ticket operation failed (ticket_id)
    ├── WorkflowInvalid         a workflow graph is not runnable (task_id)
    └── NotAvailable            a tool or feature that is not built yet (feature)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ClaudePMError(Exception):
    """Base of every error claude-pm raises on purpose."""

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.message = message
        self.facts = dict(facts)
        for key, value in facts.items():
            setattr(self, key, value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.facts))

    def to_dict(self) -> dict[str, Any]:
        """The error as the JSON-able dict tool results carry under ``error_details``."""
        details: dict[str, Any] = {"type": type(self).__name__, "message": self.message}
        for key, value in self.facts.items():
            if isinstance(value, (str, int, float, bool, type(None), list, tuple, dict)):
                details[key] = list(value) if isinstance(value, tuple) else value
            else:
                details[key] = str(value)
        return details


def _rebuild(cls: type[ClaudePMError], message: str, facts: dict[str, Any]) -> ClaudePMError:
    error = cls.__new__(cls)
    ClaudePMError.__init__(error, message, **facts)
    return error


class InvalidInput(ClaudePMError):
    """A value from outside (tool arguments, a flag, a file) is not acceptable."""

    def __init__(self, message: str, *, field: str | None = None, **facts: Any) -> None:
        super().__init__(message, field=field, **facts)


class UnknownTool(InvalidInput):
    """The tool name is not one claude-pm provides."""

    def __init__(self, tool_name: str, valid_tools: Sequence[str]) -> None:
        valid = ", ".join(valid_tools)
        super().__init__(
            f"Unknown tool {tool_name!r}. Use one of: {valid}.",
            field="name",
            tool_name=tool_name,
            valid_tools=list(valid_tools),
        )


class ContextError(InvalidInput):
    """The execution context is unusable (missing project root, path outside it...)."""


class AgentError(ClaudePMError):
    """Base for agent lookup, definition and backend errors."""


class AgentNotFound(AgentError):
    """No agent of the requested type is known to the registry."""

    def __init__(self, agent_type: str, valid_agents: Sequence[str]) -> None:
        valid = ", ".join(sorted(valid_agents)) or "(none)"
        super().__init__(
            f"Unknown agent type {agent_type!r}. Valid agent types: {valid}. "
            "Run discover_available_agents (or `claude-pm agents list`) to see them.",
            agent_type=agent_type,
            valid_agents=sorted(valid_agents),
        )


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


class BackendUnavailable(AgentError):
    """The agent's backend cannot run on this installation or configuration."""


class ProcessError(ClaudePMError):
    """Base for supervision errors."""


class SpawnFailed(ProcessError):
    """The operating system refused to start the process."""


class StoreError(ClaudePMError):
    """The SQLite state could not be opened, migrated, read or written."""


class TicketError(ClaudePMError):
    """A ticket operation failed (unknown id, bad status...)."""


class WorkflowInvalid(ClaudePMError):
    """A workflow is not runnable (unknown dependency, cycle...)."""


class NotAvailable(ClaudePMError):
    """A tool or feature that this version does not provide yet."""


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
