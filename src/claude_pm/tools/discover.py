"""``discover_available_agents``: the registry's agents, filtered, as the tool's JSON result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claude_pm.agents.backends import unavailable_reason
from claude_pm.tools.services import CallOptions, ToolServices

if TYPE_CHECKING:
    from claude_pm.agents.definition import AgentDefinition
    from claude_pm.agents.registry import Discovery


def agent_entry(definition: AgentDefinition) -> dict[str, Any]:
    """One agent as ``available_agents`` lists it; ``runnable``: its backend works here."""
    reason = unavailable_reason(definition.backend)
    return {
        "type": definition.agent_type,
        "name": definition.name,
        "description": definition.description,
        "specializations": list(definition.specializations),
        "custom": definition.custom,
        "tier": str(definition.tier),
        "source_file": str(definition.source_path) if definition.source_path else None,
        "model": definition.model,
        "backend": definition.backend,
        "runnable": reason is None,
        "unavailable_reason": reason,
        "shadows": [str(p) for p in definition.shadows],
    }


def discovery_result(discovery: Discovery) -> dict[str, Any]:
    """The tool result for a discovery (also what ``claude-pm agents list --json`` prints)."""
    result: dict[str, Any] = {
        "success": True,
        "available_agents": [agent_entry(d) for d in discovery.agents],
        "total_count": len(discovery.agents),
        "specialization_filter": discovery.specialization_filter,
        "includes_custom": discovery.includes_custom,
        "problems": [p.to_dict() for p in discovery.problems],
        "warnings": [p.to_dict() for p in discovery.warnings],
    }
    if discovery.known_specializations is not None:
        result["known_specializations"] = list(discovery.known_specializations)
    return result


def discover_available_agents(
    services: ToolServices, args: dict[str, Any], call: CallOptions
) -> dict[str, Any]:
    """List the agents, optionally those with a specialization (case-insensitive).

    A file that fails validation is not listed; it appears under ``problems``
    with its path, line, field and what was expected. An unknown
    specialization gives an empty list and ``known_specializations``.
    """
    specialization = args.get("specialization")
    include_custom = args.get("include_custom", True)
    discovery = services.registry.discover(
        specialization=specialization if isinstance(specialization, str) else None,
        include_custom=bool(include_custom),
    )
    return discovery_result(discovery)
