"""``coordinate_multi_agent_workflow``: not built yet; says so instead of pretending."""

from __future__ import annotations

from typing import Any

from claude_pm.errors import NotAvailable
from claude_pm.tools.services import CallOptions, ToolServices


def coordinate_multi_agent_workflow(
    services: ToolServices, args: dict[str, Any], call: CallOptions
) -> dict[str, Any]:
    """Refuse with an error: workflows arrive with their own issue.

    Raises:
        NotAvailable: always, naming the alternative (one execute_agent_subprocess per task).
    """
    raise NotAvailable(
        "coordinate_multi_agent_workflow is not available in this version of claude-pm yet. "
        "Run each task with execute_agent_subprocess instead, in dependency order.",
        feature="coordinate_multi_agent_workflow",
    )
