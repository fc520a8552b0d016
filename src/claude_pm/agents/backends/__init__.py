"""Agent backends: what actually does an agent's work inside the executor.

A backend is a module with ``run(handoff: dict) -> int`` (the exit code; it may
``exec`` and never return) and ``check_options(options: dict) -> list[str]``
(problems with the definition's ``backend_options``, empty when fine). Modules
are imported by name, only by the executor that needs them.
"""

from __future__ import annotations

#: Backends this version can run: name -> module.
BACKENDS: dict[str, str] = {
    "command": "claude_pm.agents.backends.command",
}

#: Backends a definition may name that this version cannot run yet, with the reason.
PLANNED_BACKENDS: dict[str, str] = {
    "builtin": "the offline builtin toolchain",
    "claude-code": "the Claude Code CLI backend",
    "anthropic": "the Anthropic Messages API backend",
    "openai": "the OpenAI-compatible backend",
}


def unavailable_reason(backend: str | None) -> str | None:
    """Why ``backend`` cannot run here, or None when it can."""
    if backend in BACKENDS:
        return None
    if backend is None:
        return (
            "the agent definition names no backend; add `backend: command` with "
            "`backend_options: {command: [...]}` to its front matter"
        )
    if backend in PLANNED_BACKENDS:
        return (
            f"backend {backend!r} ({PLANNED_BACKENDS[backend]}) is not available in this "
            "version of claude-pm yet; give the agent `backend: command` to run a program"
        )
    known = ", ".join(sorted([*BACKENDS, *PLANNED_BACKENDS]))
    return f"unknown backend {backend!r}; known backends: {known}"
