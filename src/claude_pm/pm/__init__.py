"""The PM loop: a model as the project manager, on the model loop of :mod:`claude_pm.llm`.

::

    from claude_pm.llm import AnthropicClient
    from claude_pm.pm import PMConfig, run_pm, team_from_handler
    from claude_pm.tools import ClaudeToolHandler

    handler = ClaudeToolHandler({"project_root": "."})
    with AnthropicClient(max_retries=3) as client:
        result = run_pm(
            "Get the docs in shape",
            handler=handler,
            client=client,
            config=PMConfig(team=team_from_handler(handler), max_turns=20),
        )

Modules: :mod:`~claude_pm.pm.loop` (:func:`run_pm`), :mod:`~claude_pm.pm.config`
(:class:`PMConfig`), :mod:`~claude_pm.pm.team` (who is on the team),
:mod:`~claude_pm.pm.prompt` (the system prompt), :mod:`~claude_pm.pm.result`
(:class:`PMResult`), :mod:`~claude_pm.pm.transcript` (the transcript files).
"""

from __future__ import annotations

from claude_pm.llm.types import StopReason, Usage
from claude_pm.pm.config import DEFAULT_MODEL, PMConfig
from claude_pm.pm.loop import run_pm
from claude_pm.pm.prompt import build_system_prompt
from claude_pm.pm.result import PMResult
from claude_pm.pm.team import Team, TeamMember, team_from_handler, team_from_registry

__all__ = [
    "DEFAULT_MODEL",
    "PMConfig",
    "PMResult",
    "StopReason",
    "Team",
    "TeamMember",
    "Usage",
    "build_system_prompt",
    "run_pm",
    "team_from_handler",
    "team_from_registry",
]
