"""The PM's team: the agents it may delegate to, as its system prompt introduces them.

The caller says who is on the team: :func:`team_from_registry` reads an agent
registry, :func:`team_from_handler` the registry and project of a
:class:`~claude_pm.tools.handler.ClaudeToolHandler`. Neither raises: a broken
registry (a bad project root, an unreadable agent file) must not stop the PM
from starting, so the team is then the core agent types with the reason, and
the prompt tells the model to call ``discover_available_agents``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from claude_pm.tools.schemas import CORE_AGENT_TYPES

if TYPE_CHECKING:
    from claude_pm.agents.registry import AgentRegistry
    from claude_pm.tools.handler import ClaudeToolHandler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TeamMember:
    """One agent as the prompt describes it."""

    agent_type: str
    description: str
    specializations: tuple[str, ...] = ()
    custom: bool = False
    #: Why this agent cannot run in this installation (its backend), or None.
    unavailable: str | None = None


@dataclass(frozen=True)
class Team:
    """The agents the PM is told about, the project they work on, and why the list may be partial.

    ``problem`` is set when the registry could not be read: ``members`` are
    then the core agent types without descriptions.
    """

    members: tuple[TeamMember, ...]
    project_root: Path | None = None
    problem: str | None = None

    @classmethod
    def unknown(cls, problem: str, project_root: Path | None = None) -> Team:
        """The core agent types only, with the reason the real team is not known."""
        core = tuple(TeamMember(agent_type=t, description="") for t in CORE_AGENT_TYPES)
        return cls(core, project_root, problem)


def team_from_registry(
    registry: AgentRegistry,
    *,
    project_root: Path | None = None,
    default_backend: str | None = None,
) -> Team:
    """Every agent ``registry`` knows, core ones first; never raises.

    ``default_backend`` is the backend of agents whose definition names none
    (the ``default_backend`` setting): it decides whether they can run here.
    """
    try:
        members = [
            TeamMember(
                agent_type=str(d.agent_type),
                description=" ".join(str(d.description or "").split()),
                specializations=tuple(str(s) for s in d.specializations),
                custom=d.custom,
                unavailable=d.unavailable_reason(default_backend or "builtin"),
            )
            for d in registry.agents(include_custom=True)
        ]
    except Exception as e:
        log.warning("agent registry unavailable for the PM prompt: %s", e)
        return Team.unknown(str(e), project_root)
    members.sort(key=lambda m: (m.custom, m.agent_type))
    return Team(tuple(members), project_root)


def team_from_handler(handler: ClaudeToolHandler) -> Team:
    """The team and project of a handler's settings and registry; never raises."""
    try:
        services = handler.services
        project_root = services.settings.project_root
        default_backend = services.settings.default_backend
    except Exception as e:  # the settings themselves are unusable (a missing project root)
        log.warning("no settings for the PM prompt: %s", e)
        return Team.unknown(str(e))
    try:
        registry = services.registry
    except Exception as e:
        log.warning("agent registry unavailable for the PM prompt: %s", e)
        return Team.unknown(str(e), project_root)
    return team_from_registry(registry, project_root=project_root, default_backend=default_backend)


__all__ = ["Team", "TeamMember", "team_from_handler", "team_from_registry"]
