"""An orchestrator the tests signal or kill: ``reclaim_orchestrator.py PROJECT AGENT CGROUPS``.

It runs one agent of PROJECT through the real :class:`AgentRunner` (prepare,
start, launch, finish — as ``AgentRunner.run`` does, recording a run it was
stopped in as such), recording the run in PROJECT's state database, with
cgroups or (``CGROUPS`` = 0) tracking the tree through ``/proc`` alone. The
reclaim tests kill it with SIGKILL mid-run, so none of its cleanup runs.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from claude_pm.agents.registry import AgentRegistry
from claude_pm.agents.runner import AgentRunner
from claude_pm.agents.values import AgentRequest
from claude_pm.config import load_settings
from claude_pm.process import install_signal_handlers
from claude_pm.state import Database


def main() -> None:
    project, agent, cgroups = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
    install_signal_handlers()
    settings = load_settings(project_root=project)
    runner = AgentRunner(
        settings, AgentRegistry.from_settings(settings), Database(settings.db_path)
    )
    prepared = runner.prepare(AgentRequest(agent_type=agent, task_description="wait"))
    if not cgroups:
        prepared = replace(prepared, spec=replace(prepared.spec, use_cgroups=False))
    started = runner.start(prepared)
    process = None
    try:
        process = runner.launch(prepared)
    finally:
        if process is None:
            runner.record_stopped(prepared, started)
    runner.finish(prepared, process, started)


if __name__ == "__main__":
    main()
