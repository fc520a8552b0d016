"""The Ray executor on a local Ray, against the local baseline: a thread pool of supervisors.

    python benchmarks/bench_ray.py [--width 8] [--depth 25] [--sleep-ms 100] [--concurrency 8]

The graph is ``depth`` levels of ``width`` tasks, each level depending on the
one before (200 tasks by default), every task a ``command`` agent that sleeps
``sleep-ms``. Both sides run it level by level the same way through
:class:`~claude_pm.agents.runner.AgentRunner` (prepare and start on the
driver, launch, finish on the driver: the hand-off, the SQLite records and
the ticket extraction are in both), at most ``concurrency`` attempts at once:

- baseline: a ``ThreadPoolExecutor`` whose threads run each spec under one
  :class:`~claude_pm.process.Supervisor` (what a local executor does);
- Ray: :class:`~claude_pm.workflow.executors.ray.RayExecutor` on a local Ray
  started here with ``concurrency`` logical CPUs, one per attempt, so Ray
  admits ``concurrency`` at a time like the pool.

Ray's start-up and shutdown are reported apart from the graph, and so is the
first level (Ray starts its worker processes then). The ideal is the
critical path: ``depth`` x ``sleep-ms``. No sandbox on either side: the
figure is what the executor costs. Prints Markdown; exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from importlib.util import find_spec
from pathlib import Path

from claude_pm.agents.registry import AgentRegistry
from claude_pm.agents.runner import AgentRunner
from claude_pm.agents.values import AgentRequest, PreparedRun
from claude_pm.config import load_settings
from claude_pm.process import Supervisor
from claude_pm.state import Database
from claude_pm.testing import write_python_agent
from claude_pm.workflow.executors.base import Launch

#: Launch one prepared attempt, the future resolving when its tree is gone.
Submit = Callable[..., "Future[Launch]"]


def run_graph(runner: AgentRunner, submit: Submit, width: int, depth: int) -> list[float]:
    """Run the graph level by level; returns each level's wall time in seconds."""
    levels: list[float] = []
    for level in range(depth):
        t0 = time.perf_counter()
        attempts = []
        for i in range(width):
            prepared = runner.prepare(AgentRequest("napper", f"level {level} task {i}"))
            started = runner.start(prepared)
            attempts.append((prepared, started, submit(prepared, cancel=threading.Event())))
        for prepared, started, future in attempts:
            launch = future.result()
            result = runner.finish(
                prepared, launch.process, started, tickets_found=launch.tickets_found
            )
            if not result.success:
                raise SystemExit(f"task failed: {result.summary()}\n{launch.process.stderr_tail}")
        levels.append(time.perf_counter() - t0)
    return levels


def local_submit(pool: ThreadPoolExecutor, supervisor: Supervisor) -> Submit:
    def submit(prepared: PreparedRun, *, cancel: threading.Event) -> Future[Launch]:
        def launch() -> Launch:
            return Launch(supervisor.run(prepared.spec, cancel=cancel))

        return pool.submit(launch)

    return submit


def row(name: str, levels: list[float], base_total: float, ideal_s: float, tasks: int) -> str:
    total = sum(levels)
    per_task_ms = (total - ideal_s) / tasks * 1000
    return (
        f"| {name} | {total:.2f} s | {levels[0]:.2f} s | {statistics.median(levels):.2f} s "
        f"| {per_task_ms:.0f} ms | {total / base_total:.2f}x |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--depth", type=int, default=25)
    parser.add_argument("--sleep-ms", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if find_spec("ray") is None:
        print("Skipped: Ray is not installed (pip install 'claude-pm[ray]').")
        return 0
    width, depth, concurrency = args.width, args.depth, args.concurrency
    tasks, ideal_s = width * depth, depth * args.sleep_ms / 1000
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        write_python_agent(project, "napper", f"import time\ntime.sleep({args.sleep_ms / 1000})\n")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "CLAUDE_PM_SANDBOX": "off",
        }
        settings = load_settings(project_root=project, environ=env)
        runner = AgentRunner(
            settings, AgentRegistry.from_settings(settings), Database(settings.db_path)
        )

        with ThreadPoolExecutor(max_workers=min(concurrency, width)) as pool:
            submit = local_submit(pool, Supervisor())
            run_graph(runner, submit, width, 1)  # warm the imports and the database
            local = run_graph(runner, submit, width, depth)

        from claude_pm.workflow.executors.ray import RayExecutor

        os.environ["HOME"] = tmp  # Ray keeps its auth token under ~/.ray: not the user's
        t0 = time.perf_counter()
        executor = RayExecutor(num_cpus=concurrency, task_num_cpus=1)
        start_s = time.perf_counter() - t0
        try:
            on_ray = run_graph(runner, executor.submit, width, depth)
        finally:
            t0 = time.perf_counter()
            executor.shutdown(cancel=True)
            stop_s = time.perf_counter() - t0

    base_total = sum(local)
    print(
        f"{tasks} tasks ({depth} levels of {width}, each depending on the level before), "
        f"a `command` agent sleeping {args.sleep_ms} ms, at most {concurrency} at once; "
        f"ideal (the critical path) {ideal_s:.1f} s. Overhead per task = (total - ideal) / "
        f"{tasks}."
    )
    print()
    print(
        "| executor | graph total | first level | median level | overhead per task "
        "| ratio to baseline |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    print(row("local: thread pool of supervisors (baseline)", local, base_total, ideal_s, tasks))
    print(row(f"Ray, local, {concurrency} logical CPUs", on_ray, base_total, ideal_s, tasks))
    steady = sum(on_ray[1:]) / sum(local[1:]) if depth > 1 else float("nan")
    print()
    print(
        f"Without the first level (Ray starts its workers then): {steady:.2f}x the baseline. "
        f"Ray's own start-up (`RayExecutor()`, a local Ray) {start_s:.1f} s and shutdown "
        f"{stop_s:.1f} s, not in the graph's figures."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
