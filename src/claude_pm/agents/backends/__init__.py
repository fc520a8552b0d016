"""Agent backends: what does an agent's work inside the executor, found in one registry.

:data:`BACKENDS` is the one source of what a backend is called, which module
implements it, whether this version can run it, and what it does. A backend
module satisfies :class:`Backend`: ``check_options(options, agent_type=...)``
lists what is wrong with running that agent with those ``backend_options``
(the only check of them: the parser calls it for a definition that pins its
backend, the runner for one that runs on the configured backend),
and ``run(handoff)`` does the work in the child process and returns its exit
code (it may ``exec`` and never return). Modules are imported by name, only
where needed: the executor imports exactly the one it runs.

Standard library only: the executor imports this on every agent run.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from claude_pm.agents.handoff import Handoff


class BackendStatus(StrEnum):
    AVAILABLE = "available"
    PLANNED = "planned"


@dataclass(frozen=True)
class BackendInfo:
    """One backend: its name, module, whether it runs in this version, and what it does."""

    name: str
    module: str
    status: BackendStatus
    summary: str
    #: Calls a paid model API (never chosen without the user asking for it).
    uses_model: bool = False
    #: Environment variables (or patterns) the backend needs besides the allowlist.
    env: tuple[str, ...] = ()
    #: Paths under the user's home the backend must write in a sandbox (its own state).
    home_writable: tuple[str, ...] = ()


class Backend(Protocol):
    """What the executor and the parser call on a backend module."""

    def check_options(self, options: Mapping[str, Any], *, agent_type: str) -> list[str]: ...

    def run(self, handoff: Handoff) -> int: ...


BACKENDS: dict[str, BackendInfo] = {
    info.name: info
    for info in (
        BackendInfo(
            "command",
            "claude_pm.agents.backends.command",
            BackendStatus.AVAILABLE,
            "run the program in backend_options.command (argv, never a shell)",
        ),
        BackendInfo(
            "builtin",
            "claude_pm.agents.backends.builtin",
            BackendStatus.AVAILABLE,
            "the offline toolchain of the core agents (pytest, coverage, Bandit, Ruff, git...)",
        ),
        BackendInfo(
            "claude-code",
            "claude_pm.agents.backends.claude_code",
            BackendStatus.AVAILABLE,
            "the Claude Code CLI, headless (claude -p, stream-json)",
            uses_model=True,
            env=(
                "ANTHROPIC_API_KEY",
                "ANTHROPIC_AUTH_TOKEN",
                "ANTHROPIC_BASE_URL",
                "CLAUDE_CODE_*",
            ),
            home_writable=(".claude", ".claude.json"),
        ),
        BackendInfo(
            "anthropic",
            "claude_pm.agents.backends.anthropic",
            BackendStatus.AVAILABLE,
            "the Anthropic Messages API, with tools confined to the project",
            uses_model=True,
            env=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"),
        ),
        BackendInfo(
            "openai",
            "claude_pm.agents.backends.openai",
            BackendStatus.AVAILABLE,
            "an OpenAI-compatible API (vLLM, llama.cpp, Ollama...), tools confined to the project",
            uses_model=True,
            env=("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"),
        ),
    )
}


def unavailable_reason(backend: str | None) -> str | None:
    """Why ``backend`` cannot run in this version, or None when it can."""
    info = BACKENDS.get(backend) if backend is not None else None
    if info is not None and info.status is BackendStatus.AVAILABLE:
        return None
    if backend is None:
        return "no backend is configured"
    if info is not None:
        return (
            f"backend {backend!r} ({info.summary}) is not available in this version of "
            "claude-pm yet; give the agent `backend: command` to run a program"
        )
    known = ", ".join(sorted(BACKENDS))
    return f"unknown backend {backend!r}; known backends: {known}"


def load_backend(name: str) -> Backend:
    """The module implementing an available backend.

    Raises:
        KeyError: ``name`` is not an available backend (check
            :func:`unavailable_reason` first).
    """
    info = BACKENDS[name]
    if info.status is not BackendStatus.AVAILABLE:
        raise KeyError(name)
    return cast("Backend", importlib.import_module(info.module))


def check_backend_options(
    backend: str | None, options: Mapping[str, Any], *, agent_type: str
) -> list[str]:
    """Problems with running ``agent_type`` on ``backend`` with ``options``.

    Nothing to check for a backend that is not available (the runner says why).
    """
    if backend is None or unavailable_reason(backend) is not None:
        return []
    return load_backend(backend).check_options(options, agent_type=agent_type)


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendInfo",
    "BackendStatus",
    "check_backend_options",
    "load_backend",
    "unavailable_reason",
]
