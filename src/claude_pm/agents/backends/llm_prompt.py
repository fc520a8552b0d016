"""What an LLM agent is told: its system prompt and its first message.

The system prompt is the definition's body, then a short section saying where
the agent runs, its tools, and that its last message is the report whose
marker lines become tickets. It names nothing that changes between runs (no
run id, no time), so the provider's prompt cache keeps it. The first message
is the task, the context claude-pm passed as a bounded JSON block
(:func:`render_context`), and the tools the definition names that this backend
does not have.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_pm.agents.backends.agent_tools import ToolGrant
    from claude_pm.agents.handoff import Handoff

#: Characters of the context shown to the model, and of any one value in it.
CONTEXT_MAX_CHARS = 8000
CONTEXT_VALUE_MAX_CHARS = 2000


def render_context(context: Mapping[str, Any]) -> str:
    """The context as a JSON block of at most about :data:`CONTEXT_MAX_CHARS` characters.

    A value longer than :data:`CONTEXT_VALUE_MAX_CHARS` (as JSON) is cut, and
    keys that no longer fit are named, not shown.
    """
    shown: dict[str, Any] = {}
    left_out: list[str] = []
    size = 0
    for key in sorted(context, key=lambda k: (k != "project_root", str(k))):
        text = json.dumps(context[key], ensure_ascii=False, default=str, sort_keys=True)
        value: Any = context[key]
        if len(text) > CONTEXT_VALUE_MAX_CHARS:
            cut = len(text) - CONTEXT_VALUE_MAX_CHARS
            value = f"{text[:CONTEXT_VALUE_MAX_CHARS]}... [{cut} more characters not shown]"
        cost = len(json.dumps({key: value}, ensure_ascii=False, default=str))
        if size + cost > CONTEXT_MAX_CHARS:
            left_out.append(str(key))
            continue
        shown[str(key)] = value
        size += cost
    block = json.dumps(shown, ensure_ascii=False, indent=1, default=str, sort_keys=False)
    if left_out:
        block += f"\n(not shown, too large: {', '.join(left_out)})"
    return block


def first_message(handoff: Handoff, grant: ToolGrant) -> str:
    """The task, the context block, and the tools the definition names that are not here."""
    parts = [handoff.task.strip()]
    if handoff.context:
        parts.append(
            "The context claude-pm passed with the task (JSON):\n```json\n"
            f"{render_context(handoff.context)}\n```"
        )
    if grant.unsupported:
        parts.append(
            "Tools your definition names that this run does not have: "
            f"{', '.join(grant.unsupported)}. Do the task with the tools you have."
        )
    return "\n\n".join(parts)


def system_prompt(handoff: Handoff, grant: ToolGrant) -> str:
    """The definition's body, then where the agent runs (stable across runs: it is cached)."""
    agent = handoff.agent
    body = agent.system_prompt.strip() or f"You are {agent.name}. {agent.description}".strip()
    environment = (
        "# Where you run\n"
        f'You run as the claude-pm agent "{agent.name}", unattended: nobody answers '
        "questions, so do the task with your tools, then reply with your report.\n"
        f"- The project root is {handoff.project_root}. Paths are relative to it, or absolute "
        "inside it; nothing outside it can be read or written.\n"
        f"- Your tools: {', '.join(grant.tools)}.\n"
        "- Your last message is your report. claude-pm files each line of it that starts "
        "with TODO:, FIXME:, BUG:, FEATURE:, SECURITY:, PERFORMANCE: or REFACTOR: as a "
        "ticket, so write such a line for each real finding, and only for one."
    )
    return f"{body}\n\n{environment}"


__all__ = [
    "CONTEXT_MAX_CHARS",
    "CONTEXT_VALUE_MAX_CHARS",
    "first_message",
    "render_context",
    "system_prompt",
]
