"""The ``builtin`` backend: the core agents' offline toolchain (no model, no key).

It maps the hand-off to a :class:`~claude_pm.agents.toolchain.ToolchainRequest`
(:func:`~claude_pm.agents.toolchain.make_request`), runs the agent's module of
:mod:`claude_pm.agents.toolchain` (which runs pytest, coverage, Bandit, Ruff,
detect-secrets, sqlglot or git as subprocesses), and writes a small
``result.json`` saying the builtin backend ran. Only the nine core agents have
a built-in implementation: any other agent is refused before it is spawned,
with the backends that would run it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_pm.agents.handoff import Handoff

NAME = "builtin"


def check_options(options: Mapping[str, Any], *, agent_type: str) -> list[str]:
    """Whether ``agent_type`` has a built-in implementation, and its options are valid."""
    from claude_pm.agents import toolchain

    name = toolchain.canonical_agent_type(agent_type)
    if name not in toolchain.AGENTS:
        return [
            f"the builtin backend has no implementation of {agent_type!r} (it runs the core "
            f"agents: {', '.join(sorted(toolchain.AGENTS))}); run it as an LLM agent on "
            "claude-code (the Claude Code CLI), anthropic (ANTHROPIC_API_KEY) or openai (an "
            "OpenAI-compatible endpoint): pass --backend, set CLAUDE_PM_BACKEND, or pin "
            "`backend:` in its definition"
        ]
    return toolchain.check_options(name, options)


def run(handoff: Handoff) -> int:
    """Run the built-in agent; its report goes to stdout, the exit code says how it went."""
    from claude_pm.agents import toolchain
    from claude_pm.agents.handoff import BackendReport

    agent_type = handoff.agent.agent_type
    request = toolchain.make_request(
        agent_type,
        project_root=handoff.project_root,
        task=handoff.task,
        context=handoff.context,
        run_dir=handoff.run_dir,
        backend_options=handoff.agent.backend_options,
    )
    code = toolchain.run_agent(agent_type, request, sys.stdout)
    sys.stdout.flush()
    try:
        BackendReport(backend=NAME, stop_reason="completed" if code == 0 else "failed").write(
            handoff.result_file
        )
    except OSError as e:
        print(f"claude-pm builtin backend: result file not written: {e}", file=sys.stderr)
    return code
