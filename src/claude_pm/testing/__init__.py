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

from claude_pm.testing.agents import write_python_agent
from claude_pm.testing.executor import InThreadExecutor, Outcome
from claude_pm.testing.models import (
    ScriptedModelClient,
    ScriptExhausted,
    Step,
    api_error,
    reply,
    tool_call,
)

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
