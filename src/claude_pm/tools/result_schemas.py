"""The JSON Schemas (2020-12) of the dicts the four tools return, one source.

:mod:`~claude_pm.tools.results` makes the dicts; this module says what they
are. The MCP server serves each schema as its tool's ``outputSchema``
(:func:`~claude_pm.tools.formats.as_mcp`, so ``claude-pm tools --format mcp``
prints them), and MCP clients validate a result's ``structuredContent``
against it.

Every schema admits two shapes (``anyOf``): the tool's own result (a failed
agent run or workflow is one too: ``success`` false and an ``error`` saying
why), and :data:`ERROR_RESULT`, what any tool returns when it could not run
(invalid arguments, an unknown agent, a database that cannot be opened,
:func:`~claude_pm.tools.results.error_result`). The fields results.py makes
are listed exhaustively (``additionalProperties: false``), so a field added
there without its schema fails the tests; the objects other modules build
(error facts, process events, usage counters) stay open.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "DISCOVERY_RESULT",
    "ERROR_RESULT",
    "EXECUTE_RESULT",
    "OUTPUT_SCHEMAS",
    "TICKETS_RESULT",
    "WORKFLOW_RESULT",
    "output_schema",
]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _of(kind: str | list[str], description: str | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind, **extra}
    if description:
        schema["description"] = description
    return schema


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` that also admits ``null``."""
    kind = schema.get("type")
    if kind is None:
        return {"anyOf": [schema, {"type": "null"}]}
    kinds = kind if isinstance(kind, list) else [kind]
    return {**schema, "type": [*dict.fromkeys([*kinds, "null"])]}


def _closed(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_STR = _of("string")
_NSTR = _of(["string", "null"])
_INT = _of("integer")
_NINT = _of(["integer", "null"])
_NUM = _of("number")
_NNUM = _of(["number", "null"])
_BOOL = _of("boolean")
_STRS = _of("array", items=_STR)
_OPEN = _of("object")

#: What every tool returns when it could not run at all (``results.error_result``), and
#: what the MCP server returns for a result it cannot encode (``tool`` and
#: ``error_details`` absent then).
ERROR_RESULT: Final[dict[str, Any]] = _closed(
    {
        "success": {"const": False},
        "error": _of("string", "What went wrong and what to change."),
        "error_type": _of("string", "The error's class, e.g. InvalidInput, AgentNotFound."),
        "error_details": _of(
            "object",
            "The error's facts: type, message, and e.g. field, expected, valid_agents.",
            properties={"type": _STR, "message": _STR},
        ),
        "tool": _of("string", "The tool that was called."),
        "agent_type": _of("string", "execute_agent_subprocess: the agent asked for (cut short)."),
        "task_description": _of("string", "execute_agent_subprocess: the task (cut short)."),
    },
    ["success", "error", "error_type"],
)

#: The ticket fields every tool result shares (``results.ticket_fields``).
_TICKET_FIELDS: Final[dict[str, Any]] = {
    "tickets_found": _of("integer", "Findings in the text, repeats included."),
    "tickets_created": _of(
        "array", "Ids of tickets new to the store (listed at most).", items=_STR
    ),
    "tickets_created_count": _of("integer", "How many tickets are new, listed or not."),
    "duplicate_tickets": _of(
        "array", "Ids of tickets already on file that were counted again.", items=_STR
    ),
    "duplicate_tickets_count": _INT,
    "repeated_findings_count": _of(
        "integer", "Findings counted again on a ticket: tickets_found - tickets_created_count."
    ),
    "tickets_truncated": _of("boolean", "Some ids are not listed."),
    "tickets_read_more": _of("string", "When ids are left out: where to list them all."),
}

_FINDING: Final[dict[str, Any]] = {
    "type": "object",
    "description": "A finding as extracted from the text.",
    "properties": {
        "type": _STR,
        "title": _STR,
        "source_agent": _STR,
        "timestamp": _STR,
        "priority": _STR,
        "context": _STR,
        "file": _NSTR,
        "line": _NINT,
        "output_line": _NINT,
        "fingerprint": _STR,
    },
    "required": ["type", "title", "priority"],
}

_SAVED_FINDING: Final[dict[str, Any]] = {
    **_FINDING,
    "description": "A finding and the ticket it was filed as.",
    "properties": {
        "id": _STR,
        "duplicate": _BOOL,
        "times_seen": _INT,
        **_FINDING["properties"],
    },
    "required": ["id", "duplicate", *_FINDING["required"]],
}

_MEMORY_USAGE: Final[dict[str, Any]] = _closed(
    {
        "rss_mb": _NUM,
        "peak_rss_mb": _of("number", "Peak resident memory of the whole process tree."),
        "peak_rss_bytes": _INT,
        "peak_sources_bytes": _of("object", additionalProperties=_INT),
        "peak_source": _STR,
        "limit_mb": _NNUM,
        "warning_mb": _NNUM,
        "critical_mb": _NNUM,
        "enforcement": _STR,
    },
    ["peak_rss_mb"],
)

_LOG_PATHS: Final[dict[str, Any]] = _closed(
    {"stdout": _NSTR, "stderr": _NSTR, "run_dir": _NSTR}, ["stdout", "stderr"]
)

#: ``execute_agent_subprocess``'s own fields (``results.agent_result``).
_AGENT_RESULT_FIELDS: Final[dict[str, Any]] = {
    "success": _of("boolean", "The agent completed (exit status 0, no limit hit)."),
    "agent_type": _STR,
    "task_description": _STR,
    "output": _of("string", "The end of the agent's report, capped in size."),
    "errors": _of(["string", "null"], "The end of the agent's stderr."),
    "execution_time_seconds": _NUM,
    "memory_usage": _MEMORY_USAGE,
    "exit_code": _NINT,
    "status": _of(
        "string",
        "completed, failed, timeout, memory_exceeded, cancelled or spawn_error.",
    ),
    "signal": _NINT,
    "peak_memory_mb": _NUM,
    "enforcement": _of("string", "How the memory limit was enforced here."),
    "sandbox": _STR,
    "cpu_time_seconds": _NUM,
    "timeout_seconds": _NUM,
    "events": _of("array", "What the supervisor saw (limits, signals).", items=_OPEN),
    "run_id": _of("string", "The run's id: `claude-pm runs show RUN_ID`."),
    "backend": _NSTR,
    "model": _NSTR,
    "usage": _or_null(_of("object", additionalProperties=_INT)),
    "cost_usd": _NNUM,
    "turns": _NINT,
    "session_id": _NSTR,
    "stop_reason": _NSTR,
    "error_kind": _NSTR,
    "rate_limits": _of("array", items=_OPEN),
    "log_paths": _LOG_PATHS,
    "output_truncated": _of("boolean", "output is not the whole report; see read_more."),
    "errors_truncated": _BOOL,
    **_TICKET_FIELDS,
    "agent": _closed(
        {"name": _STR, "tier": _STR, "source_file": _NSTR, "backend": _STR},
        ["name", "tier"],
    ),
    "read_more": _of("string", "When output was cut: where the whole report is."),
    "error": _of("string", "When the agent did not succeed: why."),
    "ticket_error": _STR,
    "record_error": _STR,
    "report_error": _STR,
}

EXECUTE_RESULT: Final[dict[str, Any]] = _closed(
    _AGENT_RESULT_FIELDS,
    ["success", "agent_type", "output", "status", "exit_code", "run_id", "tickets_created"],
)

_AGENT_ENTRY: Final[dict[str, Any]] = _closed(
    {
        "type": _of("string", "What to pass as agent_type."),
        "name": _STR,
        "description": _STR,
        "specializations": _STRS,
        "custom": _BOOL,
        "tier": _of("string", "project, user or shipped."),
        "source_file": _NSTR,
        "model": _NSTR,
        "backend": _STR,
        "runnable": _of("boolean", "It can run here (else unavailable_reason says why)."),
        "unavailable_reason": _NSTR,
        "shadows": _STRS,
        "description_truncated": _BOOL,
        "description_chars": _INT,
    },
    ["type", "name", "description", "runnable"],
)

_PROBLEM: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"path": _STR, "line": _NINT, "message": _STR, "severity": _STR},
    "required": ["path", "message"],
}

DISCOVERY_RESULT: Final[dict[str, Any]] = _closed(
    {
        "success": _BOOL,
        "available_agents": _of("array", items=_AGENT_ENTRY),
        "total_count": _INT,
        "specialization_filter": _NSTR,
        "includes_custom": _BOOL,
        "problems": _of(
            "array", "Agent files that were not loaded (listed at most).", items=_PROBLEM
        ),
        "warnings": _of("array", items=_PROBLEM),
        "problems_count": _INT,
        "warnings_count": _INT,
        "known_specializations": _STRS,
    },
    ["success", "available_agents", "total_count"],
)

TICKETS_RESULT: Final[dict[str, Any]] = _closed(
    {
        "success": _BOOL,
        **_TICKET_FIELDS,
        "auto_create_enabled": _BOOL,
        "ticket_details": _of("array", "The first findings.", items=_FINDING),
        "created_tickets": _of("array", "What became of them in the store.", items=_SAVED_FINDING),
        "details_truncated": _BOOL,
    },
    ["success", "tickets_found", "tickets_created", "ticket_details"],
)

#: A task of a workflow: its last attempt's ``execute_agent_subprocess`` result (or what an
#: earlier orchestrator's record tells, or nothing when it never ran), plus its own fields.
_TASK_ENTRY: Final[dict[str, Any]] = _closed(
    {
        **{name: _or_null(schema) for name, schema in _AGENT_RESULT_FIELDS.items()},
        "from_earlier_run": _of("boolean", "The result is an earlier orchestrator's record."),
        "task_id": _STR,
        "task_status": _of("string", "completed, failed, skipped or cancelled."),
        "attempts": _INT,
        "interrupted": _BOOL,
        "started_at": _NSTR,
        "finished_at": _NSTR,
        "skipped_reason": _NSTR,
        "reason": _STR,
        "worktree": _OPEN,
        "effects_in_doubt": _STRS,
        "short": _of("boolean", "Shortened to keep the result small."),
        "run_status": _STR,
    },
    ["task_id", "task_status", "agent_type"],
)

WORKFLOW_RESULT: Final[dict[str, Any]] = _closed(
    {
        "success": _of("boolean", "Every task completed."),
        "workflow_id": _of("string", "`claude-pm workflow status WORKFLOW_ID` shows every task."),
        "workflow_description": _STR,
        "status": _STR,
        "coordination_mode": _STR,
        "coordination_mode_used": _STR,
        "total_tasks": _INT,
        "completed_tasks": _INT,
        "failed_tasks": _INT,
        "skipped_tasks": _INT,
        "cancelled_tasks": _INT,
        "task_results": _of("array", items=_TASK_ENTRY),
        "critical_path": _STRS,
        "makespan_s": _NUM,
        "executor": _STR,
        "mode_note": _STR,
        "cost_usd": _NUM,
        "budget_usd": _NUM,
        "rate_limit_pauses": _INT,
        "resumed": _BOOL,
        "cancelled_reason": _STR,
        "task_results_truncated": _BOOL,
        "read_more": _STR,
        "error": _STR,
    },
    ["success", "workflow_id", "status", "total_tasks", "task_results"],
)

_RESULTS: Final[dict[str, tuple[str, dict[str, Any]]]] = {
    "execute_agent_subprocess": ("The agent's run", EXECUTE_RESULT),
    "discover_available_agents": ("The agents found", DISCOVERY_RESULT),
    "coordinate_multi_agent_workflow": ("The workflow's run", WORKFLOW_RESULT),
    "create_tickets_from_output": ("The findings and tickets", TICKETS_RESULT),
}


def output_schema(tool_name: str) -> dict[str, Any] | None:
    """The schema of what ``tool_name`` returns: its result or an error result (None: unknown)."""
    known = _RESULTS.get(tool_name)
    if known is None:
        return None
    title, result = known
    return {
        "$schema": _DIALECT,
        "type": "object",
        "description": f"{title}, or an error result (success false, error, error_type).",
        "anyOf": [result, ERROR_RESULT],
    }


#: Each tool's output schema, by name.
OUTPUT_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    name: schema for name in _RESULTS if (schema := output_schema(name)) is not None
}
