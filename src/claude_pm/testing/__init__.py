"""Helpers for testing your own agents, loops and integrations with claude-pm.

- :func:`write_python_agent` (:mod:`~claude_pm.testing.agents`): a real agent
  definition that runs a Python snippet, to drive the tools, the MCP server or
  a PM loop end to end through real processes with no model behind them.
- :class:`ScriptedModelClient` with :func:`reply`, :func:`tool_call` and
  :func:`api_error` (:mod:`~claude_pm.testing.models`): a scripted model for
  the loop of :mod:`claude_pm.llm`, so a loop runs offline and a test sees
  every request it sent.
- :class:`InThreadExecutor` with :class:`Outcome` (:mod:`~claude_pm.testing.executor`):
  a workflow executor that runs scripted outcomes in the engine's thread, with
  no processes, so a test drives the workflow engine (scheduling, retries,
  budget, journal, resume) fast and offline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claude_pm.testing.agents import write_python_agent
from claude_pm.testing.models import (
    ScriptedModelClient,
    ScriptExhausted,
    Step,
    api_error,
    reply,
    tool_call,
)

if TYPE_CHECKING:
    from claude_pm.testing.executor import InThreadExecutor, Outcome

#: Imported on first use: the executor brings the supervisor's values and the agents' with
#: it, which a test of the model loop alone must not load.
_LAZY = {"InThreadExecutor": "claude_pm.testing.executor", "Outcome": "claude_pm.testing.executor"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'claude_pm.testing' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "InThreadExecutor",
    "Outcome",
    "ScriptExhausted",
    "ScriptedModelClient",
    "Step",
    "api_error",
    "reply",
    "tool_call",
    "write_python_agent",
]
