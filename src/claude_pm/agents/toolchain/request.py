"""What one built-in agent run is given, and how it fails when it cannot do its job.

The ``builtin`` backend builds a :class:`ToolchainRequest` from the hand-off
(project root, task, filtered context, run directory, options) and calls
:func:`claude_pm.agents.toolchain.run_agent` with it inside the agent's child
process. Nothing here imports more than the standard library and
``claude_pm.errors``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claude_pm.errors import ClaudePMError

#: The agent did its job, whatever it found.
EXIT_OK = 0
#: The input it was given cannot be used (an empty question, a malformed ticket snapshot).
EXIT_BAD_INPUT = 65
#: A tool the agent needs is not installed in the interpreter it was told to use.
EXIT_TOOL_MISSING = 69
#: A tool did not finish within ``tool_timeout_s`` (the test suite, say).
EXIT_TIMEOUT = 75
#: The agent itself failed (a bug in claude-pm: the traceback is on stderr).
EXIT_INTERNAL = 70
#: The agent's options are wrong (the message on stderr says which and why).
EXIT_BAD_OPTIONS = 78


@dataclass(frozen=True, kw_only=True)
class ToolchainRequest:
    """One built-in agent run.

    Attributes:
        project_root: the project the agent works on (read-only for every agent
            except ``engineer`` with ``fix`` and ``documentation`` with
            ``api_reference_path``).
        task: the task text, as the model wrote it.
        context: the filtered context the agent may see (``file_paths``,
            ``test_config``, ``ticket_snapshot``...); each agent module says
            which keys it reads.
        run_dir: the run's own directory: caches, coverage data and the files
            an agent writes (changelog draft, API reference) go here, never in
            the project.
        options: the definition's ``backend_options`` merged with the call's
            option-carrying context key (see :func:`merge_options`); each agent
            module documents its options.
        python: the interpreter that runs the tools (``python -m pytest``,
            ``python -m bandit``...): the one running claude-pm by default.
    """

    project_root: Path
    task: str
    context: Mapping[str, Any] = field(default_factory=dict)
    run_dir: Path
    options: Mapping[str, Any] = field(default_factory=dict)
    python: str = sys.executable


class ToolchainError(ClaudePMError):
    """A built-in agent could not do its job; ``exit_code`` is what its process exits with.

    Attributes:
        tool: the tool that failed, when one did (``bandit``, ``git``...).
    """

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, *, tool: str | None = None, **facts: Any) -> None:
        super().__init__(message, tool=tool, **facts)
        self.tool = tool


class ToolMissing(ToolchainError):
    """A tool the agent needs is not installed where it looked (``where``: "for PYTHON")."""

    exit_code = EXIT_TOOL_MISSING

    def __init__(self, tool: str, where: str, hint: str) -> None:
        super().__init__(f"{tool} is not installed {where}; {hint}", tool=tool, where=where)
        self.where = where


class BadOptions(ToolchainError):
    """The agent's options (or the context it was given) cannot be used."""

    exit_code = EXIT_BAD_OPTIONS

    def __init__(self, agent_type: str, problems: list[str]) -> None:
        super().__init__(
            f"agent {agent_type!r}: " + "; ".join(problems),
            agent_type=agent_type,
            problems=list(problems),
        )
        self.agent_type = agent_type
        self.problems = list(problems)


class BadInput(ToolchainError):
    """The task or a context value cannot be used (an empty question, a malformed snapshot)."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)
        self.field = field
