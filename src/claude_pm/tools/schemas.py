"""The four tool definitions: names, descriptions and JSON Schemas (2020-12), one source.

Every entry point (the handler, the MCP server, the Anthropic and OpenAI
exports, the PM loop) reads these. Each entry has the reference design's shape:
``{"name", "description", "parameters"}``.
"""

from __future__ import annotations

from typing import Any, Final

from claude_pm.agents.backends import BACKENDS
from claude_pm.workflow import spec as wf

CORE_AGENT_TYPES: Final[tuple[str, ...]] = (
    "documentation",
    "qa",
    "security",
    "engineer",
    "ops",
    "versioner",
    "researcher",
    "data_engineer",
    "ticketer",
)

_AGENT_TYPE = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]*$",
    "description": (
        "Type of agent to run: one of the core agents ("
        + ", ".join(CORE_AGENT_TYPES)
        + ") or a custom agent found by discover_available_agents. "
        "'data-engineer' and 'data_engineer' name the same agent."
    ),
}

_CONTEXT = {
    "type": "object",
    "description": (
        "Context for the agent. Each agent sees only the keys its role needs "
        "(for example security sees security_config, vulnerability_data, "
        "compliance_requirements, file_paths) plus project_root, "
        "user_requirements and priority."
    ),
    "properties": {
        "project_root": {
            "type": "string",
            "description": "Existing project directory the agent works in.",
        },
        "file_paths": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Files or folders to focus on; must lie inside project_root.",
        },
        "user_requirements": {"type": "string"},
        "priority": {"type": "string", "enum": ["low", "medium", "high"]},
    },
    "additionalProperties": True,
}

EXECUTE_AGENT_SUBPROCESS: Final[dict[str, Any]] = {
    "name": "execute_agent_subprocess",
    "description": (
        "Delegate a task to one specialized agent (documentation, qa, security, "
        "engineer, ops, versioner, researcher, data_engineer, ticketer, or a custom "
        "agent). The agent runs as a supervised OS process tree with a timeout and a "
        "memory limit. Returns its output, status (completed, failed, timeout, "
        "memory_exceeded, cancelled, spawn_error), exit code, peak memory and the "
        "tickets found in its output."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "agent_type": _AGENT_TYPE,
            "task_description": {
                "type": "string",
                "minLength": 1,
                "description": "Detailed description of the task for the agent.",
            },
            "context": _CONTEXT,
            "timeout": {
                "type": "integer",
                "minimum": 1,
                "maximum": 86400,
                "default": 300,
                "description": "Maximum execution time in seconds.",
            },
            "memory_limit": {
                "type": "integer",
                "minimum": 16,
                "maximum": 1048576,
                "default": 1024,
                "description": "Hard memory limit for the agent's whole process tree, in MB.",
            },
            "memory_warning": {
                "type": "integer",
                "minimum": 1,
                "description": "Memory (MB) at which a warning event is recorded; default 50% "
                "of memory_limit.",
            },
            "memory_critical": {
                "type": "integer",
                "minimum": 1,
                "description": "Memory (MB) at which a critical event is recorded; default 80% "
                "of memory_limit.",
            },
            "budget_usd": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 100000,
                "description": "Dollar cap of the run when the agent runs on an LLM backend "
                "(claude-code, anthropic, openai); default: the run_budget_usd setting.",
            },
        },
        "required": ["agent_type", "task_description"],
        "additionalProperties": False,
    },
}

DISCOVER_AVAILABLE_AGENTS: Final[dict[str, Any]] = {
    "name": "discover_available_agents",
    "description": (
        "List the agents that can be delegated to, with their specializations, "
        "descriptions, tier (project, user or shipped) and backend. Filter by a "
        "specialization such as testing, security, docs or deployment."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "specialization": {
                "type": "string",
                "description": "Only agents with this specialization (case-insensitive).",
            },
            "include_custom": {
                "type": "boolean",
                "default": True,
                "description": "Include custom agents (project, user and shipped custom ones).",
            },
        },
        "additionalProperties": False,
    },
}

COORDINATE_MULTI_AGENT_WORKFLOW: Final[dict[str, Any]] = {
    "name": "coordinate_multi_agent_workflow",
    "description": (
        "Run several agent tasks as one workflow: sequentially, in parallel, or as a "
        "dependency graph (hybrid: each task starts as soon as the tasks it depends on have "
        "completed; ready tasks start by priority, up to max_concurrency at once). The whole "
        "workflow is checked before anything runs, and every problem (unknown or ambiguous "
        "dependencies, cycles, bad limits, unknown agents) is reported at once. A task whose "
        "dependency failed, was skipped or was cancelled is skipped; with failure_policy "
        "'stop' nothing new starts after a failure. Tasks whose writes overlap never run at "
        "the same time unless both use isolation 'worktree'. Returns each task's result and "
        "the workflow's totals."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "workflow_description": {
                "type": "string",
                "minLength": 1,
                "description": "Description of the overall workflow.",
            },
            "agent_tasks": {
                "type": "array",
                "minItems": 1,
                "maxItems": wf.MAX_TASKS,
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": wf.NAME_MAX_CHARS,
                            "pattern": wf.NAME_PATTERN,
                            "description": "Task id other tasks name in dependencies; "
                            "defaults to task-<index> (task-0, task-1, ... by position).",
                        },
                        "agent_type": _AGENT_TYPE,
                        "task": {
                            "type": "string",
                            "minLength": 1,
                            "description": "What this agent should do.",
                        },
                        "dependencies": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "Tasks that must complete before this one starts: "
                            "task ids, or the agent_type of exactly one task in this workflow "
                            "(a task id wins over an agent_type).",
                        },
                        "priority": {
                            "type": "integer",
                            "description": "Among tasks ready at the same time, lower starts "
                            "first; tasks without a priority start after those with one, "
                            "then in list order.",
                        },
                        "context": _CONTEXT,
                        "timeout": {
                            "type": "integer",
                            "minimum": wf.TIMEOUT_S_RANGE[0],
                            "maximum": wf.TIMEOUT_S_RANGE[1],
                            "description": "Maximum execution time in seconds; default: the "
                            "agent's own.",
                        },
                        "memory_limit": {
                            "type": "integer",
                            "minimum": wf.MEMORY_LIMIT_MB_RANGE[0],
                            "maximum": wf.MEMORY_LIMIT_MB_RANGE[1],
                            "description": "Hard memory limit for the task's whole process "
                            "tree, in MB; default: the agent's own.",
                        },
                        "retries": {
                            "type": "integer",
                            "minimum": wf.RETRIES_RANGE[0],
                            "maximum": wf.RETRIES_RANGE[1],
                            "default": 0,
                            "description": "How many more times to try the task, with "
                            "backoff, after a transient failure.",
                        },
                        "backend": {
                            "type": "string",
                            "enum": list(BACKENDS),
                            "description": "Run the agent with this backend instead of the "
                            "one its definition names; one this installation cannot run is "
                            "refused before anything starts.",
                        },
                        "writes": {
                            "type": "array",
                            "items": {"type": "string", "minLength": 1},
                            "description": "Paths this task may change, as globs relative to "
                            "project_root (such as 'src/**' or 'docs/*.md'). Tasks whose writes "
                            "overlap never run at the same time unless both are isolated; two "
                            "globs overlap when the text of one before its first wildcard "
                            "(*, ? or [) begins the other's. Left out, a task whose agent can "
                            "change files counts as writing everything; [] declares a "
                            "read-only task.",
                        },
                        "isolation": {
                            "type": "string",
                            "enum": [str(m) for m in wf.Isolation],
                            "description": "'worktree': the task works in its own git "
                            "worktree, so it may run beside other isolated tasks that write "
                            "the same paths.",
                        },
                    },
                    "required": ["agent_type", "task"],
                    "additionalProperties": False,
                },
            },
            "coordination_mode": {
                "type": "string",
                "enum": [str(m) for m in wf.CoordinationMode],
                "default": "hybrid",
                "description": "'sequential': one task at a time in dependency order, ties by "
                "priority; 'parallel': all tasks at once, up to max_concurrency (with "
                "dependencies it runs as hybrid, and the result says so); 'hybrid': each task "
                "starts as soon as its dependencies completed.",
            },
            "max_concurrency": {
                "type": "integer",
                "minimum": wf.MAX_CONCURRENCY_RANGE[0],
                "maximum": wf.MAX_CONCURRENCY_RANGE[1],
                "description": "Most tasks running at the same time; default: the number of CPUs.",
            },
            "failure_policy": {
                "type": "string",
                "enum": [str(m) for m in wf.FailurePolicy],
                "default": "continue",
                "description": "'continue': after a failure, the tasks that do not depend on "
                "it still run; 'stop': nothing new starts after a failure and the tasks not "
                "started are skipped.",
            },
            "budget_usd": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": wf.BUDGET_USD_MAX,
                "description": "Spending limit in US dollars for the whole workflow (the "
                "model costs its agents report); once it is reached, no new task starts. "
                "Default: the configured workflow budget, if any.",
            },
        },
        "required": ["workflow_description", "agent_tasks"],
        "additionalProperties": False,
    },
}

CREATE_TICKETS_FROM_OUTPUT: Final[dict[str, Any]] = {
    "name": "create_tickets_from_output",
    "description": (
        "Find TODO, FIXME, XXX, BUG, FEATURE, SECURITY, PERFORMANCE, REFACTOR and HACK "
        "items in text (an agent's output, a log) and, with auto_create, store them as "
        "deduplicated tickets with stable ids such as PM-42. A leading path:line in an "
        "item (BUG: src/a.py:14: message) is where it is, not part of its identity."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "output_text": {
                "type": "string",
                "description": "Agent output to parse for ticket creation.",
            },
            "source_agent": {
                "type": "string",
                "minLength": 1,
                "description": "Agent that produced the output.",
            },
            "auto_create": {
                "type": "boolean",
                "default": False,
                "description": "Store the tickets found (duplicates update the existing ticket).",
            },
        },
        "required": ["output_text", "source_agent"],
        "additionalProperties": False,
    },
}

CLAUDE_PM_TOOLS: Final[list[dict[str, Any]]] = [
    EXECUTE_AGENT_SUBPROCESS,
    DISCOVER_AVAILABLE_AGENTS,
    COORDINATE_MULTI_AGENT_WORKFLOW,
    CREATE_TICKETS_FROM_OUTPUT,
]

TOOLS_BY_NAME: Final[dict[str, dict[str, Any]]] = {t["name"]: t for t in CLAUDE_PM_TOOLS}
