"""A soak: thousands of short agent runs through one handler, and what the process keeps.

One ``ClaudeToolHandler`` runs a ``command`` agent (written with
``claude_pm.testing.write_python_agent``) N times in a row, as a long-lived
MCP server or PM loop would. Open file descriptors, threads and RSS of this
process are read before the first run, after a warm-up, at every quarter,
and at the end; the warm-up figures are the baseline the end is compared to
(the first runs import modules, open the database and fill caches). Every
run must succeed, and no agent process may be left behind.

    python benchmarks/bench_soak.py [--runs 2000] [--warmup 100] [--quick]

Target: fds and threads the same at the end as after warm-up, RSS within 10%.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import psutil

from claude_pm import ClaudeToolHandler
from claude_pm.config import load_settings
from claude_pm.testing import write_python_agent

CODE = "import sys; print('TODO: soak ' + sys.stdin.read().strip())"


def sample(label: str, runs: int, started: float) -> tuple[str, int, int, int, float, float]:
    me = psutil.Process()
    return (
        label,
        runs,
        me.num_fds(),
        threading.active_count(),
        me.memory_info().rss / 2**20,
        time.monotonic() - started,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="200 runs, 20 of warm-up")
    args = parser.parse_args()
    runs, warmup = (200, 20) if args.quick else (args.runs, args.warmup)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        write_python_agent(project, "soak", CODE)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp}
        handler = ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))
        started = time.monotonic()
        samples = [sample("before the first run", 0, started)]
        checkpoints = {warmup: "after warm-up"}
        checkpoints.update({warmup + (runs - warmup) * q // 4: f"{q}/4" for q in (1, 2, 3)})
        checkpoints[runs] = "end"
        failures = 0
        first_failure = ""
        for n in range(1, runs + 1):
            result = handler.handle_tool_call(
                "execute_agent_subprocess",
                {"agent_type": "soak", "task_description": f"run {n}", "memory_limit": 256},
            )
            if not result.get("success") or result.get("output") != f"TODO: soak run {n}\n":
                failures += 1
                first_failure = first_failure or str(result.get("error") or result)[:300]
            if n in checkpoints:
                samples.append(sample(checkpoints[n], n, started))
        leftovers = psutil.Process().children(recursive=True)

    warm = next(s for s in samples if s[0] == "after warm-up")
    end = samples[-1]
    print(f"{runs} runs of a `command` agent through one handler, {warmup} of them warm-up.")
    print()
    print("| point | runs | fds | threads | RSS MB | elapsed s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, n, fds, threads, rss, elapsed in samples:
        print(f"| {label} | {n} | {fds} | {threads} | {rss:.1f} | {elapsed:.0f} |")
    per_run_ms = (end[5] - warm[5]) / max(1, end[1] - warm[1]) * 1000
    print()
    print(
        f"End / after warm-up: fds {end[2] / warm[2]:.2f}, threads {end[3] / warm[3]:.2f}, "
        f"RSS {end[4] / warm[4]:.2f} ({end[4] - warm[4]:+.1f} MB over {end[1] - warm[1]} runs); "
        f"{per_run_ms:.0f} ms per run; {failures} failed runs; "
        f"{len(leftovers)} processes left behind."
    )
    if first_failure:
        print(f"\nfirst failure: {first_failure}")
    flat = end[2] == warm[2] and end[3] == warm[3] and end[4] <= warm[4] * 1.10
    return 0 if flat and not failures and not leftovers else 1


if __name__ == "__main__":
    raise SystemExit(main())
