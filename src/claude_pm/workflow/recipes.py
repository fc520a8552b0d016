"""Workflows claude-pm ships ready to run: the review of a project.

A recipe is a function returning the ``coordinate_multi_agent_workflow``
input, so the CLI (``claude-pm review``), the MCP ``review`` prompt and a
user's own code run the same workflow through the same engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["REVIEW_AGENTS", "REVIEW_TASKS", "review_workflow"]

#: The agents ``claude-pm review`` runs by default, in the order of the summary.
REVIEW_AGENTS: tuple[str, ...] = (
    "qa",
    "security",
    "documentation",
    "engineer",
    "ops",
    "data-engineer",
)

#: What each reviewing agent is asked (an agent not listed gets a generic review task).
REVIEW_TASKS: Mapping[str, str] = {
    "qa": "Run the test suite with coverage; report every failing test and untested module.",
    "security": "Look for committed secrets and unsafe code; report each with its place.",
    "documentation": "Check that every public module, class and function is documented.",
    "engineer": "Lint the code; report errors, unused code and the TODOs left in it.",
    "ops": "Review CI, dependencies, the lock file and the container build.",
    "data-engineer": "Check that every SQL migration and query parses.",
}


def _key(agent_type: str) -> str:
    return agent_type.strip().casefold().replace("_", "-")


def review_workflow(
    agents: Sequence[str] = REVIEW_AGENTS,
    *,
    max_concurrency: int | None = None,
    budget_usd: float | None = None,
) -> dict[str, Any]:
    """The review of the current project as a workflow input.

    Every agent reviews independently (they declare that they write nothing,
    so none waits for another); the failure policy is ``continue``, so one
    agent failing does not stop the others' reviews.

    Args:
        agents: the agent types to run, each once (repeats are dropped).
        max_concurrency: agents running at once (default: the engine's, the
            number of CPUs).
        budget_usd: dollar cap of the whole review (LLM backends).

    Raises:
        ValueError: ``agents`` is empty.
    """
    chosen = list(dict.fromkeys(a.strip() for a in agents if a.strip()))
    if not chosen:
        raise ValueError("name at least one agent to review with")
    tasks = []
    for agent_type in chosen:
        task = REVIEW_TASKS.get(_key(agent_type)) or (
            f"Review the project as the {agent_type} agent and report each finding "
            "as a ticket line."
        )
        tasks.append(
            {
                "id": _key(agent_type),
                "agent_type": agent_type,
                "task": task,
                "writes": [],
            }
        )
    workflow: dict[str, Any] = {
        "workflow_description": "Review of the project by " + ", ".join(chosen),
        "agent_tasks": tasks,
        "failure_policy": "continue",
    }
    if max_concurrency is not None:
        workflow["max_concurrency"] = max_concurrency
    if budget_usd is not None:
        workflow["budget_usd"] = budget_usd
    return workflow
