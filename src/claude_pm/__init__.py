"""claude-pm: let Claude, as a project manager, delegate work to supervised specialist agents.

The public Python API. ``ClaudeToolHandler(framework_context).handle_tool_call(name, params)``
runs one of the four tools in :data:`CLAUDE_PM_TOOLS` and returns a JSON-able dict.

Names are resolved on first access so that the agent executor, which starts on
every agent run, does not pay for importing the tool layer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from claude_pm._version import __version__

if TYPE_CHECKING:
    from claude_pm.errors import (
        AgentDefinitionError,
        AgentNotFound,
        BackendUnavailable,
        ClaudePMError,
        ContextError,
        InvalidInput,
        NotAvailable,
        SpawnFailed,
        StoreError,
        TicketError,
        UnknownTool,
        WorkflowInvalid,
    )
    from claude_pm.tools.handler import ClaudeToolHandler
    from claude_pm.tools.schemas import CLAUDE_PM_TOOLS

_EXPORTS = {
    "CLAUDE_PM_TOOLS": "claude_pm.tools.schemas",
    "ClaudeToolHandler": "claude_pm.tools.handler",
    **dict.fromkeys(
        (
            "AgentDefinitionError",
            "AgentNotFound",
            "BackendUnavailable",
            "ClaudePMError",
            "ContextError",
            "InvalidInput",
            "NotAvailable",
            "SpawnFailed",
            "StoreError",
            "TicketError",
            "UnknownTool",
            "WorkflowInvalid",
        ),
        "claude_pm.errors",
    ),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'claude_pm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "CLAUDE_PM_TOOLS",
    "AgentDefinitionError",
    "AgentNotFound",
    "BackendUnavailable",
    "ClaudePMError",
    "ClaudeToolHandler",
    "ContextError",
    "InvalidInput",
    "NotAvailable",
    "SpawnFailed",
    "StoreError",
    "TicketError",
    "UnknownTool",
    "WorkflowInvalid",
    "__version__",
]
