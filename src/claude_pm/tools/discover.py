"""``discover_available_agents``: the registry's agents, filtered, as the tool's JSON result."""

from __future__ import annotations

from typing import Any

from claude_pm.tools.results import discovery_result
from claude_pm.tools.services import CallOptions, ToolServices


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
    return discovery_result(discovery, services.settings.default_backend)
