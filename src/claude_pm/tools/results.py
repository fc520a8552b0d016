"""Turn service values and errors into the dicts the tools return, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from claude_pm.errors import ClaudePMError

if TYPE_CHECKING:
    from claude_pm.agents.runner import AgentResult


def error_result(
    error: BaseException, tool_name: str, parameters: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``{"error": message, "error_type", "error_details", "success": False}`` for any failure.

    The reference design's ``agent_type`` and ``task_description`` are echoed
    for ``execute_agent_subprocess`` so callers can tell which call failed.
    """
    if isinstance(error, ClaudePMError):
        message = error.message
        details = error.to_dict()
    else:
        message = (
            f"Internal error in {tool_name}: {type(error).__name__}: {error}. "
            "This is a claude-pm bug; the log has the traceback."
        )
        details = {"type": type(error).__name__, "message": str(error)}
    result: dict[str, Any] = {
        "success": False,
        "error": message,
        "error_type": details["type"],
        "error_details": details,
        "tool": tool_name,
    }
    if tool_name == "execute_agent_subprocess" and isinstance(parameters, Mapping):
        for key in ("agent_type", "task_description"):
            if isinstance(parameters.get(key), str):
                result[key] = parameters[key]
    return result


def agent_result(result: AgentResult) -> dict[str, Any]:
    """The ``execute_agent_subprocess`` result: the reference fields, then claude-pm's own."""
    p = result.process
    memory = result.memory
    peak_mb = round(p.peak_rss_mb, 2)
    out: dict[str, Any] = {
        "success": result.success,
        "agent_type": result.definition.agent_type,
        "task_description": result.task_description,
        "output": p.stdout_tail,
        "errors": p.stderr_tail or None,
        "execution_time_seconds": round(p.wall_time_s, 3),
        "memory_usage": {
            "rss_mb": peak_mb,
            "peak_rss_mb": peak_mb,
            "peak_rss_bytes": p.peak_rss_bytes,
            "peak_sources_bytes": dict(p.peak_rss_sources),
            "limit_mb": memory.hard_limit_mb,
            "warning_mb": memory.effective_warning_mb,
            "critical_mb": memory.effective_critical_mb,
            "enforcement": p.enforcement.value,
        },
        "tickets_created": [t.id for t in result.tickets_saved if not t.duplicate],
        "exit_code": p.exit_code,
        "status": p.status.value,
        "signal": p.signal,
        "peak_memory_mb": peak_mb,
        "enforcement": p.enforcement.value,
        "cpu_time_seconds": round(p.cpu_time_s, 3),
        "timeout_seconds": result.timeout_s,
        "events": [e.to_dict() for e in p.events],
        "run_id": result.run_id,
        "log_paths": {
            "stdout": str(p.stdout_path),
            "stderr": str(p.stderr_path),
            "run_dir": str(result.run_dir),
        },
        "output_truncated": p.stdout_truncated,
        "errors_truncated": p.stderr_truncated,
        "tickets_found": len(result.tickets_found),
        "duplicate_tickets": [t.id for t in result.tickets_saved if t.duplicate],
        "agent": {
            "name": result.definition.name,
            "tier": result.definition.tier.value,
            "source_file": str(result.definition.source_path)
            if result.definition.source_path
            else None,
            "backend": result.definition.backend,
        },
    }
    if not result.success:
        out["error"] = result.summary()
    if result.ticket_error:
        out["ticket_error"] = result.ticket_error
    if result.record_error:
        out["record_error"] = result.record_error
    return out
