"""``coordinate_multi_agent_workflow``: run a workflow of agent tasks and report each one.

The engine (:mod:`claude_pm.workflow.engine`) checks the whole workflow before
anything runs, journals every change, and runs the tasks as the scheduler
decides. Progress: one notification per task that starts, ends, is retried or
skipped, and for a rate-limit pause (``done`` tasks of ``total``). The call's
cancel token (an MCP cancel, the server stopping) cancels the workflow: its
running trees are killed and the tasks recorded ``cancelled``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claude_pm.tools.results import workflow_result
from claude_pm.tools.services import CallOptions, ToolServices

if TYPE_CHECKING:
    from claude_pm.workflow.outcome import WorkflowEvent

#: The events that become progress notifications (ticks do not: they are for the live view).
PROGRESS_EVENTS = ("started", "ended", "retrying", "skipped", "cancelled", "paused")


def coordinate_multi_agent_workflow(
    services: ToolServices, args: dict[str, Any], call: CallOptions
) -> dict[str, Any]:
    """Run the workflow in ``args``; the result has every task's result and the totals.

    Raises:
        WorkflowInvalid: the workflow has problems (all of them listed); nothing ran.
        NotAvailable: the configured executor cannot run here.
    """
    from claude_pm.workflow.engine import WorkflowEngine

    def on_event(event: WorkflowEvent) -> None:
        if event.kind.value not in PROGRESS_EVENTS:
            return
        who = f"{event.task_id} ({event.agent_type})" if event.task_id else "workflow"
        call.progress(f"{who}: {event.message}", float(event.done), float(event.total))

    settings = services.settings
    engine = WorkflowEngine(settings, services.registry, services.database)
    try:
        result = engine.run(args, cancel=call.cancel, on_event=on_event)
    finally:
        engine.close()
    return workflow_result(
        result,
        max_report_bytes=settings.max_report_bytes,
        max_tickets_listed=settings.max_tickets_listed,
    )
