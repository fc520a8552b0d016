"""The agent definition: one Markdown file with YAML front matter, as Claude Code subagents.

This module holds the value only; parsing and validation live in
``claude_pm.agents.parsing`` and discovery in ``claude_pm.agents.registry``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from claude_pm.agents.handoff import AgentSpec
from claude_pm.agents.limits import DESCRIPTION_MAX_CHARS

#: Context keys every agent sees, whatever its definition says (``dependency_results``:
#: what a workflow task's dependencies produced, see claude_pm.workflow.attempts).
BASE_CONTEXT_KEYS: tuple[str, ...] = (
    "project_root",
    "user_requirements",
    "priority",
    "dependency_results",
)


class Tier(StrEnum):
    """Where a definition came from, highest precedence first."""

    PROJECT = "project"
    USER = "user"
    SHIPPED = "shipped"


def agent_type_of(name: str) -> str:
    """The agent type for a name: ``data-engineer`` and ``data_engineer`` are one agent.

    Nothing is stripped: ``"echo\\n"`` is not ``echo``.
    """
    return name.lower().replace("-", "_")


def cut_description(text: str) -> str:
    """``text`` as a model is shown it: at most :data:`DESCRIPTION_MAX_CHARS`, then a note.

    The note says the description was cut and how long it is, so a model (and
    whoever reads its transcript) knows there was more.
    """
    if len(text) <= DESCRIPTION_MAX_CHARS:
        return text
    head = text[:DESCRIPTION_MAX_CHARS].rstrip()
    return f"{head} [\u2026 description cut: {len(text):,} characters in all]"


@dataclass(frozen=True)
class AgentDefinition:
    """A loaded, validated agent definition.

    ``claude_code`` keeps every Claude Code subagent field the file carries
    (``disallowedTools``, ``permissionMode``, ``maxTurns``, ``skills``,
    ``mcpServers``, ``hooks``, ``memory``, ``background``, ``isolation``,
    ``color``...) under its original key so an export writes it back unchanged.

    ``description`` is what models are shown (discovery, the PM prompt): a
    description longer than :data:`~claude_pm.agents.limits.DESCRIPTION_MAX_CHARS`
    is cut there and says so, and ``full_description`` keeps the text as
    written (for an export and for the agent's own run); it is None otherwise.
    """

    name: str
    description: str
    system_prompt: str = ""
    tools: tuple[str, ...] | None = None
    model: str | None = None
    specializations: tuple[str, ...] = ()
    context_keys: tuple[str, ...] = ()
    timeout_s: float | None = None
    memory_limit_mb: float | None = None
    env: tuple[str, ...] = ()
    backend: str | None = None
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    version: str | None = None
    claude_code: Mapping[str, Any] = field(default_factory=dict)
    marked_custom: bool = False
    tier: Tier = Tier.SHIPPED
    source_path: Path | None = None
    #: Files of the same agent type this definition overrides, highest precedence first.
    shadows: tuple[Path, ...] = ()
    full_description: str | None = None

    @property
    def description_chars(self) -> int:
        """The length of the description as written (``description`` may be cut)."""
        return len(self.full_description if self.full_description is not None else self.description)

    @property
    def agent_type(self) -> str:
        return agent_type_of(self.name)

    @property
    def custom(self) -> bool:
        """Core agents are the ones shipped as core; everything else is custom."""
        return self.tier is not Tier.SHIPPED or self.marked_custom

    def backend_for(self, configured: str) -> str:
        """The backend that runs this agent: its own pin, else the ``configured`` one."""
        return self.backend or configured

    def unavailable_reason(self, configured: str) -> str | None:
        """Why this agent cannot run here on its backend (see :meth:`backend_for`), or None.

        A pinned backend checked the definition's options when the file was read;
        the configured one is asked now, since it may not know this agent.
        """
        from claude_pm.agents.backends import check_backend_options, unavailable_reason

        backend = self.backend_for(configured)
        reason = unavailable_reason(backend)
        if reason is None and self.backend is None:
            problems = check_backend_options(
                backend, self.backend_options, agent_type=self.agent_type
            )
            reason = "; ".join(problems) or None
        return reason

    def visible_context_keys(self) -> tuple[str, ...]:
        """Keys of the caller's context this agent may see."""
        return tuple(dict.fromkeys((*self.context_keys, *BASE_CONTEXT_KEYS)))

    def agent_spec(self) -> AgentSpec:
        """The part the executor needs to run the agent (no re-parsing in the child)."""
        return AgentSpec(
            name=self.name,
            agent_type=self.agent_type,
            description=self.full_description or self.description,
            system_prompt=self.system_prompt,
            tools=self.tools,
            model=self.model,
            backend_options=dict(self.backend_options),
            claude_code=dict(self.claude_code),
            source_path=str(self.source_path) if self.source_path else None,
        )
