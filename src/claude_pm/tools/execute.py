"""``execute_agent_subprocess``: run one agent under supervision and report what happened."""

from __future__ import annotations

import time
from typing import Any

from claude_pm.tools.results import agent_result
from claude_pm.tools.services import CallOptions, ToolServices

#: Memory readings become progress notifications at most this often.
PROGRESS_INTERVAL_S = 1.0


def execute_agent_subprocess(
    services: ToolServices, args: dict[str, Any], call: CallOptions
) -> dict[str, Any]:
    """Run the agent named by ``args['agent_type']``; the result carries status and measurements."""
    from claude_pm.agents.runner import AgentRunner
    from claude_pm.agents.values import AgentRequest, RunProgress

    request = AgentRequest(
        agent_type=args["agent_type"],
        task_description=args["task_description"],
        context=args.get("context") or {},
        timeout_s=args.get("timeout"),
        memory_limit_mb=args.get("memory_limit"),
        memory_warning_mb=args.get("memory_warning"),
        memory_critical_mb=args.get("memory_critical"),
        budget_usd=args.get("budget_usd"),
    )
    runner = AgentRunner(services.settings, services.registry, services.database)
    timeout_s = runner.timeout_for(request)
    last_progress = [0.0]
    started = time.monotonic()

    def on_progress(progress: RunProgress) -> None:
        now = time.monotonic()
        if progress.kind == "sample" and now - last_progress[0] < PROGRESS_INTERVAL_S:
            return
        last_progress[0] = now
        message = progress.message
        if progress.kind == "sample":
            rss_mb = (progress.rss_bytes or 0) / (1024 * 1024)
            message = f"running, {rss_mb:.1f} MB in {progress.process_count or 0} process(es)"
        call.progress(f"{request.agent_type}: {message}", now - started, timeout_s)

    result = runner.run(request, cancel=call.cancel, on_progress=on_progress)
    settings = services.settings
    return agent_result(
        result,
        max_report_bytes=settings.max_report_bytes,
        max_tickets_listed=settings.max_tickets_listed,
    )
