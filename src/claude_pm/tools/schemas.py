"""The four tool definitions: names, descriptions and JSON Schemas (2020-12), one source.

Every entry point (the handler, the MCP server, the Anthropic and OpenAI
exports, the PM loop) reads these. Each entry has the reference design's shape:
``{"name", "description", "parameters"}``.
"""

from __future__ import annotations

from typing import Any, Final

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
        "dependency graph (hybrid: each task starts when the tasks it depends on have "
        "completed). Returns each task's result and the workflow's totals."
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
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {
                            "type": "string",
                            "description": "Task id other tasks name in dependencies; "
                            "defaults to task-<index>.",
                        },
                        "agent_type": _AGENT_TYPE,
                        "task": {"type": "string", "minLength": 1},
                        "dependencies": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "Ids of tasks that must complete first.",
                        },
                        "priority": {"type": "integer"},
                        "context": _CONTEXT,
                        "timeout": {"type": "integer", "minimum": 1, "maximum": 86400},
                        "memory_limit": {"type": "integer", "minimum": 16, "maximum": 1048576},
                    },
                    "required": ["agent_type", "task"],
                    "additionalProperties": False,
                },
            },
            "coordination_mode": {
                "type": "string",
                "enum": ["sequential", "parallel", "hybrid"],
                "default": "hybrid",
            },
        },
        "required": ["workflow_description", "agent_tasks"],
        "additionalProperties": False,
    },
}

CREATE_TICKETS_FROM_OUTPUT: Final[dict[str, Any]] = {
    "name": "create_tickets_from_output",
    "description": (
        "Find TODO, FIXME, BUG, FEATURE, SECURITY, PERFORMANCE and REFACTOR items in "
        "text (an agent's output, a log) and, with auto_create, store them as "
        "deduplicated tickets with stable ids such as PM-42."
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
