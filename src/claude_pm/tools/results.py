"""Every dict a tool returns is made here, from the services' values.

The calling model pays for every byte of a result, so results are bounded:
an agent's report is capped at ``max_report_bytes`` (its end: the final
report; the whole output stays in the run's logs, and ``read_more`` names
the CLI command and the MCP resource that serve it), and ticket lists name
at most ``max_tickets_listed`` distinct ids (the ``*_count`` fields count
them all). What each result holds is in :mod:`~claude_pm.tools.result_schemas`.

Ticket fields are the same in every tool: ``tickets_found`` (findings in the
text), ``tickets_created`` (ids of tickets new to the store, each once) with
``tickets_created_count``, ``duplicate_tickets`` (ids of tickets that were
already on file and were counted again, each once) with
``duplicate_tickets_count``, ``repeated_findings_count`` (findings counted
again on a ticket: ``tickets_found - tickets_created_count``), and, when
some ids are not listed, ``tickets_read_more`` (the command that lists them
all). ``created_tickets`` and ``ticket_details`` exist for compatibility with
the reference design of ``create_tickets_from_output``.

A workflow's result holds one entry per task, each the
``execute_agent_subprocess`` result of its last attempt plus the task's own
fields. Its size is bounded too: at most ``max_report_bytes`` of output per
task, and :data:`WORKFLOW_RESULT_MAX_REPORTS` times that in all; the tasks that
did not complete are shown first, then the others while room is left, in full
and then in short; ``read_more`` names ``claude-pm workflow status`` for the rest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from claude_pm.agents.definition import cut_description
from claude_pm.agents.limits import DESCRIPTION_MAX_CHARS
from claude_pm.errors import ClaudePMError
from claude_pm.tools.resource_uris import run_log_uri

if TYPE_CHECKING:
    from claude_pm.agents.definition import AgentDefinition
    from claude_pm.agents.registry import Discovery
    from claude_pm.agents.runs import RunRecord
    from claude_pm.agents.values import AgentResult
    from claude_pm.tickets.summary import TicketSummary
    from claude_pm.workflow.outcome import TaskOutcome, WorkflowResult

#: A workflow result holds at most this many times ``max_report_bytes`` (about 256 KiB by
#: default, whatever the number of tasks).
WORKFLOW_RESULT_MAX_REPORTS = 16


#: Definition problems and warnings listed in a discovery result at most (``agents check``
#: shows them all).
MAX_PROBLEMS_LISTED = 20
#: Rate-limit events of one run listed at most, the latest (the run's result.json has them all).
MAX_RATE_LIMITS_LISTED = 10


def error_result(
    error: BaseException, tool_name: str, parameters: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``{"error": message, "error_type", "error_details", "success": False}`` for any failure.

    The reference design's ``agent_type`` and ``task_description`` are echoed
    (cut short) for ``execute_agent_subprocess`` so callers can tell which call failed.
    """
    if isinstance(error, ClaudePMError):
        message = error.message
        details = error.to_dict()
    else:
        message = (
            f"Internal error in {tool_name}: {type(error).__name__}: {str(error)[:300]}. "
            "This is a claude-pm bug; the log has the traceback."
        )
        details = {"type": type(error).__name__, "message": str(error)[:300]}
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
                result[key] = parameters[key][:200]
    return result


def _capped_text(text: str, max_bytes: int) -> tuple[str, bool]:
    """The last ``max_bytes`` of ``text`` (in UTF-8), cut at a character boundary."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= max_bytes:
        return text, False
    return data[-max_bytes:].decode("utf-8", errors="ignore"), True


def ticket_fields(summary: TicketSummary, max_listed: int) -> dict[str, Any]:
    """The ticket fields every tool result shares (ids distinct, at most ``max_listed``)."""
    fields: dict[str, Any] = {
        "tickets_found": summary.found,
        "tickets_created": list(summary.created_ids[:max_listed]),
        "tickets_created_count": summary.created_count,
        "duplicate_tickets": list(summary.filed_ids[:max_listed]),
        "duplicate_tickets_count": summary.filed_count,
        "repeated_findings_count": summary.repeated_count,
        "tickets_truncated": (
            summary.created_count > min(len(summary.created_ids), max_listed)
            or summary.filed_count > min(len(summary.filed_ids), max_listed)
        ),
    }
    if fields["tickets_truncated"] and summary.run is not None:
        fields["tickets_read_more"] = (
            f"{summary.created_count + summary.filed_count} tickets in all: "
            f"claude-pm tickets list --run {summary.run}"
        )
    return fields


def agent_result(
    result: AgentResult, *, max_report_bytes: int, max_tickets_listed: int
) -> dict[str, Any]:
    """The ``execute_agent_subprocess`` result: the reference fields, then claude-pm's own."""
    p = result.process
    memory = result.memory
    peak_mb = round(p.peak_rss_mb, 2)
    output, output_cut = _capped_text(p.stdout_tail, max_report_bytes)
    errors, errors_cut = _capped_text(p.stderr_tail, max_report_bytes)
    report = result.report
    out: dict[str, Any] = {
        "success": result.success,
        "agent_type": result.definition.agent_type,
        "task_description": result.task_description,
        "output": output,
        "errors": errors or None,
        "execution_time_seconds": round(p.wall_time_s, 3),
        "memory_usage": {
            "rss_mb": peak_mb,
            "peak_rss_mb": peak_mb,
            "peak_rss_bytes": p.peak_rss_bytes,
            "peak_sources_bytes": dict(p.peak_rss_sources),
            "peak_source": p.peak_rss_source,
            "limit_mb": memory.hard_limit_mb,
            "warning_mb": memory.effective_warning_mb,
            "critical_mb": memory.effective_critical_mb,
            "enforcement": p.enforcement.value,
        },
        "tickets_created": [],
        "exit_code": p.exit_code,
        "status": p.status.value,
        "signal": p.signal,
        "peak_memory_mb": peak_mb,
        "enforcement": p.enforcement.value,
        "sandbox": p.sandbox.value,
        "cpu_time_seconds": round(p.cpu_time_s, 3),
        "timeout_seconds": result.timeout_s,
        "events": [e.to_dict() for e in p.events],
        "run_id": result.run_id,
        "backend": report.backend if report is not None else result.backend,
        "model": report.model if report is not None else None,
        "usage": dict(report.usage) if report is not None else None,
        "cost_usd": report.cost_usd if report is not None else None,
        "turns": report.turns if report is not None else None,
        "session_id": report.session_id if report is not None else None,
        "stop_reason": report.stop_reason if report is not None else None,
        "error_kind": report.error_kind if report is not None else None,
        "rate_limits": [asdict(r) for r in report.rate_limits[-MAX_RATE_LIMITS_LISTED:]]
        if report is not None
        else [],
        "log_paths": {
            "stdout": str(p.stdout_path),
            "stderr": str(p.stderr_path),
            "run_dir": str(result.run_dir),
        },
        "output_truncated": output_cut or p.stdout_truncated,
        "errors_truncated": errors_cut or p.stderr_truncated,
        **ticket_fields(result.tickets, max_tickets_listed),
        "agent": {
            "name": result.definition.name,
            "tier": result.definition.tier.value,
            "source_file": str(result.definition.source_path)
            if result.definition.source_path
            else None,
            "backend": result.backend,
        },
    }
    if out["output_truncated"]:
        out["read_more"] = (
            f"output is the last {max_report_bytes} bytes; the whole report is in "
            f"{p.stdout_path} (claude-pm runs show {result.run_id}; over MCP, page by "
            f"page: the resource {run_log_uri(result.run_id)})"
        )
    if not result.success:
        out["error"] = result.summary()
    for key in ("ticket_error", "record_error", "report_error"):
        value = getattr(result, key)
        if value:
            out[key] = value
    return out


def tickets_result(
    summary: TicketSummary, *, auto_create: bool, max_tickets_listed: int
) -> dict[str, Any]:
    """The ``create_tickets_from_output`` result (lists bounded by ``max_tickets_listed``).

    ``ticket_details`` are the first findings (consecutive copies of a line
    are one), ``created_tickets`` what became of them in the store.
    """
    details = [t.to_dict() for t in summary.first_found[:max_tickets_listed]]
    return {
        "success": True,
        **ticket_fields(summary, max_tickets_listed),
        "auto_create_enabled": auto_create,
        "ticket_details": details,
        "created_tickets": [s.to_dict() for s in summary.first_saved[:max_tickets_listed]],
        "details_truncated": summary.found_entries > len(details),
    }


def agent_entry(definition: AgentDefinition, configured_backend: str) -> dict[str, Any]:
    """One agent as ``available_agents`` lists it; ``runnable``: it can run here, on the
    backend it pins or, if none, the configured one.

    The description is at most ``DESCRIPTION_MAX_CHARS`` characters and a note;
    when it was cut, ``description_truncated`` is true and ``description_chars``
    says how long it is as written (neither key is there otherwise).
    """
    backend = definition.backend_for(configured_backend)
    reason = definition.unavailable_reason(configured_backend)
    description = definition.description
    cut = definition.full_description is not None
    if not cut and len(description) > DESCRIPTION_MAX_CHARS:  # a definition made in code
        description, cut = cut_description(description), True
    entry: dict[str, Any] = {
        "type": definition.agent_type,
        "name": definition.name,
        "description": description,
        "specializations": list(definition.specializations),
        "custom": definition.custom,
        "tier": str(definition.tier),
        "source_file": str(definition.source_path) if definition.source_path else None,
        "model": definition.model,
        "backend": backend,
        "runnable": reason is None,
        "unavailable_reason": reason,
        "shadows": [str(p) for p in definition.shadows],
    }
    if cut:
        entry["description_truncated"] = True
        entry["description_chars"] = definition.description_chars
    return entry


def agent_definition(definition: AgentDefinition, configured_backend: str) -> dict[str, Any]:
    """Every field of a definition as merged, and where it came from: the discovery entry,
    the rest of the front matter, and the system prompt (the MCP ``agents`` resource)."""
    d = definition
    return {
        **agent_entry(d, configured_backend),
        "tools": list(d.tools) if d.tools is not None else None,
        "context_keys": list(d.context_keys),
        "visible_context_keys": list(d.visible_context_keys()),
        "timeout_s": d.timeout_s,
        "memory_limit_mb": d.memory_limit_mb,
        "env": list(d.env),
        "backend_options": dict(d.backend_options),
        "version": d.version,
        "claude_code": dict(d.claude_code),
        "system_prompt": d.system_prompt,
    }


def discovery_result(discovery: Discovery, default_backend: str) -> dict[str, Any]:
    """The tool result for a discovery (also what ``claude-pm agents list --json`` prints).

    Each agent's ``backend`` is the one that would run it: its definition's
    pin, else ``default_backend``.
    """
    entries: Iterable[dict[str, Any]] = (agent_entry(d, default_backend) for d in discovery.agents)
    result: dict[str, Any] = {
        "success": True,
        "available_agents": list(entries),
        "total_count": len(discovery.agents),
        "specialization_filter": discovery.specialization_filter,
        "includes_custom": discovery.includes_custom,
        "problems": [p.to_dict() for p in discovery.problems[:MAX_PROBLEMS_LISTED]],
        "warnings": [p.to_dict() for p in discovery.warnings[:MAX_PROBLEMS_LISTED]],
        "problems_count": len(discovery.problems),
        "warnings_count": len(discovery.warnings),
    }
    if discovery.known_specializations is not None:
        result["known_specializations"] = list(discovery.known_specializations)
    return result


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


def _tail_of(path: str | None, max_bytes: int) -> tuple[str, bool]:
    if not path:
        return "", False
    try:
        with open(path, "rb") as f:  # noqa: PTH123
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            return f.read().decode("utf-8", errors="ignore"), size > max_bytes
    except OSError:
        return "", False


def earlier_run_result(record: RunRecord, *, max_report_bytes: int) -> dict[str, Any]:
    """A run an earlier orchestrator of the workflow made, as far as its record tells."""
    output, cut = _tail_of(record.stdout_path, max_report_bytes)
    peak = round(record.peak_rss_mb, 2) if record.peak_rss_mb is not None else None
    return {
        "success": record.status.value == "completed",
        "agent_type": record.agent_type,
        "task_description": record.task,
        "output": output,
        "exit_code": record.exit_code,
        "status": record.status.value,
        "signal": record.signal,
        "execution_time_seconds": record.wall_time_s,
        "peak_memory_mb": peak,
        "run_id": record.run_id,
        "backend": record.backend,
        "model": record.model,
        "cost_usd": record.cost_usd,
        "log_paths": {
            "stdout": record.stdout_path,
            "stderr": record.stderr_path,
            "run_dir": record.run_dir,
        },
        "output_truncated": cut,
        "from_earlier_run": True,
    }


def _task_entry(
    task: TaskOutcome, *, max_report_bytes: int, max_tickets_listed: int
) -> dict[str, Any]:
    if task.result is not None:
        out = agent_result(
            task.result, max_report_bytes=max_report_bytes, max_tickets_listed=max_tickets_listed
        )
    elif task.record is not None:
        out = earlier_run_result(task.record, max_report_bytes=max_report_bytes)
    else:
        out = {"agent_type": task.agent_type}
    out.update(_task_fields(task))
    if task.worktree is not None:
        out["worktree"] = task.worktree.to_dict()
    if task.effects_in_doubt:
        out["effects_in_doubt"] = list(task.effects_in_doubt)
    return out


def _task_fields(task: TaskOutcome) -> dict[str, Any]:
    status = task.status.value
    return {
        "task_id": task.task_id,
        "task_status": status,
        "attempts": task.attempts,
        "interrupted": task.interrupted,
        "started_at": _iso(task.started_at),
        "finished_at": _iso(task.finished_at),
        "skipped_reason": task.reason if status == "skipped" else None,
        **({"reason": task.reason} if task.reason and status != "skipped" else {}),
        **({"cost_usd": task.cost_usd} if task.cost_usd is not None else {}),
    }


def _short_entry(task: TaskOutcome, *, paths: bool = False) -> dict[str, Any]:
    out = {"agent_type": task.agent_type, "run_id": task.run_id, **_task_fields(task)}
    if not paths:
        return {**out, "short": True}
    process = task.result.process if task.result is not None else None
    record = task.record
    if process is not None:
        out["log_paths"] = {"stdout": str(process.stdout_path), "stderr": str(process.stderr_path)}
    elif record is not None and record.stdout_path:
        out["log_paths"] = {"stdout": record.stdout_path, "stderr": record.stderr_path}
    if record is not None:
        out["run_status"] = record.status.value
    if task.worktree is not None:
        out["worktree"] = task.worktree.to_dict()
    if task.effects_in_doubt:
        out["effects_in_doubt"] = list(task.effects_in_doubt)
    return out


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str))


def workflow_result(
    result: WorkflowResult,
    *,
    max_report_bytes: int,
    max_tickets_listed: int,
    every_task: bool = False,
) -> dict[str, Any]:
    """The ``coordinate_multi_agent_workflow`` result, bounded (see the module docstring).

    ``every_task`` (``claude-pm workflow status --json``) lists every task, each
    in short (status, attempts, run id, reason, log paths), whatever their number.
    """
    counts = {
        s: sum(1 for t in result.tasks if t.status.value == s)
        for s in ("completed", "failed", "skipped", "cancelled")
    }
    room = WORKFLOW_RESULT_MAX_REPORTS * max_report_bytes
    first = sorted(
        range(len(result.tasks)),
        key=lambda i: (result.tasks[i].status.value == "completed", i),
    )
    entries: dict[int, dict[str, Any]] = {}
    used, shortened = 0, 0
    if every_task:
        entries = {i: _short_entry(t, paths=True) for i, t in enumerate(result.tasks)}
        first = []
    for i in first:
        task = result.tasks[i]
        full = _task_entry(
            task, max_report_bytes=max_report_bytes, max_tickets_listed=max_tickets_listed
        )
        size = _size(full)
        if used + size <= room * 3 // 4:
            entries[i], used = full, used + size
            continue
        short = _short_entry(task)
        size = _size(short)
        if used + size <= room:
            entries[i], used = short, used + size
            shortened += 1
    out: dict[str, Any] = {
        "success": result.completed,
        "workflow_id": result.workflow_id,
        "workflow_description": result.description,
        "status": result.status.value,
        "coordination_mode": result.coordination_mode.value,
        "coordination_mode_used": result.coordination_mode_used.value,
        "total_tasks": len(result.tasks),
        "completed_tasks": counts["completed"],
        "failed_tasks": counts["failed"],
        "skipped_tasks": counts["skipped"],
        "cancelled_tasks": counts["cancelled"],
        "task_results": [entries[i] for i in sorted(entries)],
        "critical_path": list(result.critical_path),
        "makespan_s": round(result.makespan_s, 3),
        "executor": result.executor,
    }
    if result.mode_note:
        out["mode_note"] = result.mode_note
    if result.cost_usd is not None:
        out["cost_usd"] = round(result.cost_usd, 6)
    if result.budget_usd is not None:
        out["budget_usd"] = result.budget_usd
    if result.rate_limit_pauses:
        out["rate_limit_pauses"] = result.rate_limit_pauses
    if result.resumed:
        out["resumed"] = True
    if result.cancelled_reason:
        out["cancelled_reason"] = result.cancelled_reason
    left_out = len(result.tasks) - len(entries)
    if left_out or shortened:
        out["task_results_truncated"] = True
        out["read_more"] = (
            f"{shortened} task result(s) are shortened and {left_out} left out to keep this "
            f"result small; `claude-pm workflow status {result.workflow_id}` shows every task"
        )
    if not result.completed:
        out["error"] = _workflow_error(result, counts)
    return out


def _workflow_error(result: WorkflowResult, counts: Mapping[str, int]) -> str:
    total = len(result.tasks)
    if result.status.value == "cancelled":
        head = f"workflow {result.workflow_id} was cancelled ({result.cancelled_reason})"
    else:
        missing = total - counts["completed"]
        head = f"workflow {result.workflow_id}: {missing} of {total} tasks did not complete"
    problems = [
        f"{t.task_id} {t.status.value}" + (f": {t.reason}" if t.reason else "")
        for t in result.tasks
        if t.status.value in ("failed", "skipped")
    ]
    shown = "; ".join(p[:200] for p in problems[:3])
    more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    return f"{head}" + (f": {shown}{more}" if shown else "") + "."
