"""The MCP prompts: requests a user picks by name (in Claude Code ``/mcp__claude-pm__review``).

- ``review`` (argument ``agents``, optional: a comma list): asks the model to
  run the review of the project, the input of
  :func:`claude_pm.workflow.recipes.review_workflow` embedded as JSON, through
  ``coordinate_multi_agent_workflow``, then to sum up the tickets filed by
  priority.
- ``triage``: the open tickets (at most
  :data:`~claude_pm.mcp_server.resources.LISTED_TICKETS`, highest priority
  first, and how many more) and the request to turn them into a plan: group,
  order, and propose which agent takes each group.

Nothing here imports the MCP SDK: a prompt is its description, its arguments
and the text of one user message; an unknown prompt or agent raises
:class:`~claude_pm.errors.InvalidInput` (or ``AgentNotFound``), which the
server turns into an MCP error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from claude_pm.errors import InvalidInput
from claude_pm.mcp_server.resources import LISTED_TICKETS, open_tickets, ticket_line
from claude_pm.tools import resource_uris as uris

if TYPE_CHECKING:
    from claude_pm.tools.services import ToolServices

#: Agents a ``review`` may name at most.
MAX_REVIEW_AGENTS: Final = 20


@dataclass(frozen=True)
class PromptArgument:
    name: str
    description: str
    required: bool = False


@dataclass(frozen=True)
class Prompt:
    """One prompt: what ``prompts/list`` shows, and the function making its text."""

    name: str
    title: str
    description: str
    arguments: tuple[PromptArgument, ...]
    render: Callable[[ToolServices, Mapping[str, str]], str]


def _agents_argument(value: str | None) -> list[str] | None:
    if value is None or not value.strip():
        return None
    agents = [a.strip() for a in value.split(",") if a.strip()]
    if len(agents) > MAX_REVIEW_AGENTS:
        raise InvalidInput(
            f"The review names {len(agents)} agents; name at most {MAX_REVIEW_AGENTS}.",
            field="agents",
            expected="a comma list of agent types, e.g. qa,security",
        )
    return agents or None


def review_text(services: ToolServices, arguments: Mapping[str, str]) -> str:
    """The ``review`` prompt: run the review workflow, then sum up its tickets by priority.

    Raises:
        AgentNotFound: ``agents`` names an agent the project does not have.
    """
    from claude_pm.workflow.recipes import REVIEW_AGENTS, review_workflow

    chosen = _agents_argument(arguments.get("agents"))
    agents = chosen if chosen is not None else list(REVIEW_AGENTS)
    for agent_type in agents:
        services.registry.get(agent_type)  # an unknown one is an error naming the valid ones
    workflow = review_workflow(agents)
    return (
        "Review this project with claude-pm's agents.\n\n"
        "1. Call claude-pm's `coordinate_multi_agent_workflow` tool with exactly this input:\n\n"
        f"```json\n{json.dumps(workflow, indent=2)}\n```\n\n"
        "2. When it returns, sum up what the review found, by priority (high, then medium, "
        "then low): each ticket the agents filed (`tickets_created` and `duplicate_tickets` "
        "of each task result) with its id, title, file:line and the agent that reported it. "
        f"The resource {uris.TICKETS_URI} lists the open tickets with their priority; "
        f"{uris.TICKET_TEMPLATE} reads one. Then say which agents failed and why "
        "(their task result's `error`); a report cut short is read in full from its "
        f"`read_more` resource ({uris.RUN_REPORT_TEMPLATE}).\n"
    )


def triage_text(services: ToolServices, arguments: Mapping[str, str]) -> str:
    """The ``triage`` prompt: the open tickets, and the request to plan the work on them."""
    shown, total = open_tickets(services, LISTED_TICKETS)
    if not shown:
        return (
            "claude-pm has no open tickets in this project. Say so, and suggest running "
            "the review (the `review` prompt, or `claude-pm review`) to find work.\n"
        )
    listing = "\n".join(f"- {ticket_line(t)}" for t in shown)
    more = ""
    if total > len(shown):
        more = (
            f"\n\n…and {total - len(shown)} more open tickets, not listed here "
            "(`claude-pm tickets list --status open` lists them all)."
        )
    return (
        "Turn claude-pm's open tickets into a plan of work.\n\n"
        f"The open tickets ({total} in all; the first {len(shown)}, highest priority "
        f"first; id [priority] type: title (file:line)):\n\n{listing}{more}\n\n"
        f"Read a ticket's context with the resource {uris.TICKET_TEMPLATE} when its title "
        "is not enough. Then:\n"
        "1. Group the tickets that are one piece of work (the same file, the same cause).\n"
        "2. Order the groups by priority, and by what unblocks what.\n"
        "3. For each group, propose the agent that should take it (call "
        "`discover_available_agents` to see the team and what each does) and the task "
        "to give it.\n"
        "Present the plan and wait for the user's go-ahead before running any agent.\n"
    )


PROMPTS: Final[dict[str, Prompt]] = {
    p.name: p
    for p in (
        Prompt(
            "review",
            "Review the project",
            "Run claude-pm's review of the project (qa, security, documentation, engineer, "
            "ops, data-engineer by default) as one workflow, then sum up the tickets filed "
            "by priority.",
            (
                PromptArgument(
                    "agents",
                    "Agents to review with, a comma list (default: the core reviewers), "
                    "e.g. qa,security",
                ),
            ),
            review_text,
        ),
        Prompt(
            "triage",
            "Triage the open tickets",
            "Turn the open tickets into a plan: group them, order them by priority, and "
            "propose which agent takes each group.",
            (),
            triage_text,
        ),
    )
}


def render(services: ToolServices, name: str, arguments: Mapping[str, str] | None) -> str:
    """The text of prompt ``name`` with these arguments.

    Raises:
        ClaudePMError: no such prompt, an argument it does not take, or a bad value.
    """
    prompt = PROMPTS.get(name)
    if prompt is None:
        raise InvalidInput(
            f"Unknown prompt {name[:80]!r}. claude-pm offers: {', '.join(PROMPTS)}.",
            field="name",
            expected=" | ".join(PROMPTS),
        )
    given = dict(arguments or {})
    known = {a.name for a in prompt.arguments}
    unknown = sorted(set(given) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "no arguments"
        raise InvalidInput(
            f"The {name} prompt takes {takes}, not {', '.join(u[:40] for u in unknown)}.",
            field="arguments",
        )
    return prompt.render(services, given)
