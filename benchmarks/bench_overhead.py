"""Overhead of one agent run end to end, against spawning ``sys.executable -c pass``.

Both go through the same supervisor with the same limits (kernel memory
enforcement where available, sampling every 100 ms), so the ratio is what the
agent layer adds: settings, registry lookup, context hand-off, the executor's
start-up, the ``command`` backend, ticket extraction and two SQLite writes.

    python benchmarks/bench_overhead.py [--runs N]

Target: ratio at most 2.0. A second row measures what the sandbox (bubblewrap,
where the machine has it) adds to the same run, against the run without it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from claude_pm import ClaudeToolHandler
from claude_pm.config import load_settings
from claude_pm.process import MemoryLimits, ProcessSpec, run_process, sandbox_support

NOOP_AGENT = """---
name: noop
description: does nothing, for measuring overhead
backend: command
backend_options:
  command: ["true"]
  stdin: none
---
No-op.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / ".claude" / "agents").mkdir(parents=True)
        (project / ".claude" / "agents" / "noop.md").write_text(NOOP_AGENT)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CLAUDE_PM_SANDBOX": "off"}
        handler = ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))
        boxed = ClaudeToolHandler(
            settings=load_settings(
                project_root=project, environ={**env, "CLAUDE_PM_SANDBOX": "auto"}
            )
        )
        params = {"agent_type": "noop", "task_description": "nothing", "memory_limit": 256}
        first = handler.handle_tool_call("execute_agent_subprocess", params)
        assert first.get("success"), first
        first_boxed = boxed.handle_tool_call("execute_agent_subprocess", params)
        assert first_boxed.get("success"), first_boxed
        baseline_dir = project / "baseline"
        spec = ProcessSpec(
            argv=[sys.executable, "-c", "pass"],
            env=env,
            cwd=project,
            run_dir=baseline_dir,
            timeout_s=300,
            memory=MemoryLimits(hard_limit_mb=256),
        )
        assert run_process(spec).ok
        agent_s: list[float] = []
        base_s: list[float] = []
        boxed_s: list[float] = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            run_process(spec)
            base_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            result = handler.handle_tool_call("execute_agent_subprocess", params)
            agent_s.append(time.perf_counter() - t0)
            assert result["success"], result
            t0 = time.perf_counter()
            result = boxed.handle_tool_call("execute_agent_subprocess", params)
            boxed_s.append(time.perf_counter() - t0)
            assert result["success"], result
        base = statistics.median(base_s)
        agent = statistics.median(agent_s)
        sandboxed = statistics.median(boxed_s)
        print("| benchmark | baseline | claude-pm | ratio | target |")
        print("| --- | --- | --- | --- | --- |")
        print(
            f"| no-op agent run end to end (median of {args.runs}, "
            f"enforcement {first['enforcement']}, no sandbox) | "
            f"`{sys.executable.split('/')[-1]} -c pass` "
            f"{base * 1000:.1f} ms | {agent * 1000:.1f} ms | {agent / base:.2f}x | <= 2.0x |"
        )
        where = first_boxed["sandbox"]
        note = "" if sandbox_support().available else f" ({sandbox_support().reason})"
        print(
            f"| the same run in the sandbox ({where}{note}) | no sandbox {agent * 1000:.1f} ms "
            f"| {sandboxed * 1000:.1f} ms (+{(sandboxed - agent) * 1000:.1f} ms) "
            f"| {sandboxed / agent:.2f}x | - |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
