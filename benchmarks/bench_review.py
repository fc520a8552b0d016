"""``claude-pm review`` of the sample project: wall time, and what goes back to the model.

    python benchmarks/bench_review.py [--repeat N]

1. **Wall time.** ``claude-pm review`` (the six core agents on the builtin
   backend, the CLI process from start to exit) on a fresh copy of
   ``examples/review-sample`` each time, against two baselines measured in the
   same run on the same copies: the same agents one after another (``review
   --max-concurrency 1``: the same engine and agents, nothing in parallel),
   and the slowest agent alone (``review --agents SLOWEST``, the agent with
   the longest time in the parallel reviews). Targets: at most 0.6x the
   sequential run, at most 1.3x the slowest agent alone. The median of
   ``--repeat`` runs each (default 3). The review's concurrency is the
   engine's default, the number of CPUs; the machine's cores bound what
   parallelism can win, so the core count and load average are printed.
2. **Bytes returned to the model.** Each agent through
   ``execute_agent_subprocess`` (the handler, in process): the size of the
   tool result as JSON against the agent's whole output (its stdout and
   stderr logs). The core agents print short reports, so their results are
   mostly the fixed fields (memory, events, paths, tickets); a last row shows
   an agent printing about 4 MB, whose result carries only the end of it
   (``max_report_bytes``, 16 KiB by default).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "review-sample"
AGENTS = ("qa", "security", "documentation", "engineer", "ops", "data-engineer")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_PM_")}
    env["CLAUDE_PM_USER_AGENTS_DIR"] = str(home / "no-user-agents")
    return env


def review(work: Path, n: int, *args: str) -> tuple[float, dict[str, Any]]:
    """One review of a fresh copy: (wall seconds of the CLI, its JSON document)."""
    project = work / f"ledger-{n}"
    shutil.copytree(SAMPLE, project)
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "claude_pm", "review", str(project), "--quiet", "--json", *args],
        capture_output=True,
        text=True,
        env=_env(work),
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"review {args} failed ({out.returncode}): {out.stderr[-2000:]}")
    document: dict[str, Any] = json.loads(out.stdout)
    shutil.rmtree(project)
    return wall, document


def wall_times(work: Path, repeat: int) -> list[str]:
    counter = iter(range(10_000))
    parallel, sequential, docs = [], [], []
    for _ in range(repeat):
        wall, doc = review(work, next(counter))
        parallel.append(wall)
        docs.append(doc)
        sequential.append(review(work, next(counter), "--max-concurrency", "1")[0])
    times: dict[str, list[float]] = {}
    for doc in docs:
        for agent in doc["agents"]:
            times.setdefault(agent["agent"], []).append(agent["wall_time_s"])
    slowest = max(times, key=lambda a: statistics.median(times[a]))
    alone = [review(work, next(counter), "--agents", slowest)[0] for _ in range(repeat)]
    p, s, a = (statistics.median(x) for x in (parallel, sequential, alone))
    cores = len(os.sched_getaffinity(0))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    tickets = docs[-1]["tickets_count"]
    lines = [
        f"{cores} cores, load average {load}; each review filed {tickets} tickets "
        f"(the planted problems); agents' median times: "
        + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in times.items())
        + ".",
        "",
        f"| measure (median of {repeat}) | baseline | claude-pm review | ratio | target |",
        "| --- | --- | --- | --- | --- |",
        f"| review wall, against the agents one after another | {s:.2f} s | {p:.2f} s | "
        f"{p / s:.2f}x | <= 0.6x |",
        f"| review wall, against the slowest agent ({slowest}) alone | {a:.2f} s | {p:.2f} s | "
        f"{p / a:.2f}x | <= 1.3x |",
    ]
    lines += [
        "",
        "A review cannot end before its slowest agent: here "
        f"{slowest} alone takes {statistics.median(times[slowest]):.2f} s of it, "
        f"{statistics.median(times[slowest]) / s:.2f}x the agents one after another, so on "
        "this sample about 0.6x is the floor whatever the cores; the rest of the review's "
        "wall is the CLI's start and what the other agents cost it on the shared cores.",
    ]
    return lines


def bytes_returned(work: Path) -> list[str]:
    from claude_pm import ClaudeToolHandler
    from claude_pm.config import load_settings

    project = work / "ledger-bytes"
    shutil.copytree(SAMPLE, project)
    environ = _env(work)
    handler = ClaudeToolHandler(settings=load_settings(project_root=project, environ=environ))
    lines = [
        "",
        "| agent | full output (stdout + stderr) | tool result (JSON) | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    total_full = total_result = 0
    for agent in AGENTS:
        result = handler.handle_tool_call(
            "execute_agent_subprocess",
            {"agent_type": agent, "task_description": "Review the project.", "timeout": 300},
        )
        size = len(json.dumps(result).encode())
        logs = result["log_paths"]
        full = sum(Path(logs[k]).stat().st_size for k in ("stdout", "stderr"))
        total_full += full
        total_result += size
        lines.append(f"| {agent} | {full:,} B | {size:,} B | {size / full:.2f}x |")
    lines.append(
        f"| all six | {total_full:,} B | {total_result:,} B | {total_result / total_full:.2f}x |"
    )
    # An agent whose output is big: the result carries the end of it (the final report),
    # capped at max_report_bytes; the rest stays in the logs.
    from claude_pm.testing import write_python_agent

    write_python_agent(
        project,
        "chatty",
        "for i in range(50_000):\n    print(f'step {i}: ' + 'x' * 70)\nprint('# Report: done')",
    )
    result = handler.handle_tool_call(
        "execute_agent_subprocess",
        {"agent_type": "chatty", "task_description": "Talk a lot.", "timeout": 300},
    )
    size = len(json.dumps(result).encode())
    logs = result["log_paths"]
    full = sum(Path(logs[k]).stat().st_size for k in ("stdout", "stderr"))
    lines.append(
        f"| a command agent printing 50,000 lines | {full:,} B | {size:,} B | {size / full:.4f}x |"
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        work = Path(tmp)
        out = wall_times(work, args.repeat) + bytes_returned(work)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
