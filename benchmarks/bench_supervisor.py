"""Supervisor benchmarks: memory enforcement and output floods, each against a baseline.

    python benchmarks/bench_supervisor.py [--flood-mb 1024]

1. Memory enforcement. A child allocates (and touches) 50 MB every 100 ms
   and prints a timestamp after each allocation; the limit is 200 MB.
   (a) peak tree memory / limit with kernel enforcement (target <= 1.10),
       against the reference design: sampling every 2 s;
   (b) with sampling alone (every 100 ms), the time from the allocation
       that crossed the limit to the child's death (target <= 150 ms),
       against sampling every 2 s;
   (c) both again with the allocation done by a grandchild.
2. Output flood. An orchestrator process (a fresh Python running the
   supervisor) whose child prints 1 GB: the orchestrator's RSS growth (VmHWM
   after - VmRSS before; target under 100 MB), against
   ``subprocess.run(capture_output=True)`` on 100 MB.
3. The cost of one memory sample (tree of 8 processes), per tracking mode.
4. Per-run overhead: ``run_process`` of ``python -I -S -c pass`` (median of
   20), with and without cgroups, against ``subprocess.run`` of the same.

Prints Markdown rows; exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from claude_pm.process import Enforcement, MemoryLimits, ProcessResult, ProcessSpec, run_process
from claude_pm.process.cgroups import RunGroups, cgroup_support
from claude_pm.process.memory import tree_rss_bytes
from claude_pm.process.tree import TreeTracker

MB = 1024 * 1024
LIMIT_MB = 200
SRC = str(Path(__file__).resolve().parents[1] / "src")

ALLOCATE = """
import os, sys, time
page = os.sysconf("SC_PAGE_SIZE")
def rss(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * page
tree = [os.getpid()] + ([os.getppid()] if sys.argv[1:] == ["in-grandchild"] else [])
held = []
while True:
    print("B", time.time(), sum(rss(p) for p in tree), flush=True)
    held.append(bytearray(50 * 1024 * 1024))
    print("E", time.time(), flush=True)
    time.sleep(0.1)
"""

ALLOCATE_IN_GRANDCHILD = f"""
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", {ALLOCATE!r}, "in-grandchild"]).wait()
time.sleep(300)
"""


def run_allocation(tmp: Path, code: str, *, kernel: bool, interval_s: float) -> ProcessResult:
    spec = ProcessSpec(
        argv=[sys.executable, "-c", code],
        env=dict(os.environ),
        cwd=tmp,
        run_dir=Path(tempfile.mkdtemp(dir=tmp)),
        timeout_s=60,
        memory=MemoryLimits(
            hard_limit_mb=LIMIT_MB, kernel_enforcement=kernel, sample_interval_s=interval_s
        ),
        kill_grace_s=0.5,
    )
    return run_process(spec)


def kill_latency_ms(result: ProcessResult, started_wall: float) -> float:
    """Death (the reap) minus the moment the tree's RSS crossed the limit.

    The child prints its tree's RSS before each 50 MB allocation and the time
    around it; the crossing lies inside the allocation that took the tree
    over the limit, at the fraction of the 50 MB that was still below it
    (pages are touched at a steady rate during an allocation).
    """
    begins: list[tuple[float, int]] = []
    durations = []
    for line in result.stdout_path.read_text().splitlines():
        kind, stamp, *rest = line.split()
        if kind == "B":
            begins.append((float(stamp), int(rest[0])))
        elif begins:
            durations.append(float(stamp) - begins[-1][0])
    step = 50 * MB
    duration = sum(durations) / len(durations) if durations else 0.0
    for start, before in begins:
        if before + step >= LIMIT_MB * MB:
            crossing = start + max(0.0, (LIMIT_MB * MB - before) / step) * duration
            return (started_wall + result.wall_time_s - crossing) * 1000
    return float("nan")


def memory_rows(tmp: Path) -> list[str]:
    rows = []
    kernel_ok = cgroup_support().v2_dir is not None or "memory" in cgroup_support().v1_dirs
    for label, code in (("child", ALLOCATE), ("grandchild", ALLOCATE_IN_GRANDCHILD)):
        baseline = run_allocation(tmp, code, kernel=False, interval_s=2.0)
        base_ratio = baseline.peak_rss_bytes / (LIMIT_MB * MB)
        if kernel_ok:
            kernel = run_allocation(tmp, code, kernel=True, interval_s=0.1)
            assert kernel.enforcement in (Enforcement.CGROUP_V1, Enforcement.CGROUP_V2)
            ratio = kernel.peak_rss_bytes / (LIMIT_MB * MB)
            rows.append(
                f"| 1a peak / limit, kernel ({kernel.enforcement}), {label} allocates "
                f"| {ratio:.2f} | 2 s polling: {base_ratio:.2f} | {ratio / base_ratio:.2f} "
                f"| {kernel.status}; sources {_mb(kernel.peak_rss_sources)} |"
            )
        started = time.time()
        sampled = run_allocation(tmp, code, kernel=False, interval_s=0.1)
        latency = kill_latency_ms(sampled, started)
        started = time.time()
        slow = run_allocation(tmp, code, kernel=False, interval_s=2.0)
        slow_latency = kill_latency_ms(slow, started)
        ratio = sampled.peak_rss_bytes / (LIMIT_MB * MB)
        rows.append(
            f"| 1b limit crossed -> dead, sampling 100 ms, {label} allocates "
            f"| {latency:.0f} ms | 2 s polling: {slow_latency:.0f} ms "
            f"| {latency / slow_latency:.2f} | peak/limit {ratio:.2f}; {sampled.status} |"
        )
    return rows


FLOOD_ORCHESTRATOR = """
import os, resource, sys
from pathlib import Path
def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
from claude_pm.process import ProcessSpec, run_process
mb, tmp = int(sys.argv[1]), Path(sys.argv[2])
code = ("import sys\\nchunk = b'x' * (1024 * 1024 - 1) + b'\\\\n'\\n"
        f"for _ in range({mb}): sys.stdout.buffer.write(chunk)")
spec = ProcessSpec(argv=[sys.executable, "-c", code], env=dict(os.environ), cwd=tmp,
                   run_dir=tmp / "flood", timeout_s=120)
before = status("VmRSS")
result = run_process(spec)
assert result.ok and result.stdout_path.stat().st_size == mb * 1024 * 1024, result
print(status("VmHWM") - before, result.wall_time_s)
result.stdout_path.unlink()
"""

CAPTURE_ORCHESTRATOR = """
import subprocess, sys
from pathlib import Path
def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
mb = int(sys.argv[1])
code = ("import sys\\nchunk = b'x' * (1024 * 1024 - 1) + b'\\\\n'\\n"
        f"for _ in range({mb}): sys.stdout.buffer.write(chunk)")
before = status("VmRSS")
done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
assert len(done.stdout) == mb * 1024 * 1024
print(status("VmHWM") - before, 0)
"""


def flood_rows(tmp: Path, flood_mb: int) -> list[str]:
    env = {**os.environ, "PYTHONPATH": SRC}

    def growth(script: str, mb: int) -> tuple[int, float]:
        out = subprocess.run(
            [sys.executable, "-c", script, str(mb), str(tmp)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return int(out[0]), float(out[1])

    supervised, seconds = growth(FLOOD_ORCHESTRATOR, flood_mb)
    captured, _ = growth(CAPTURE_ORCHESTRATOR, 100)
    per_mb = supervised / flood_mb
    base_per_mb = captured / 100
    return [
        f"| 2 orchestrator RSS growth, child prints {flood_mb} MB "
        f"| {supervised / 1024:.0f} KB ({per_mb:.1f} bytes per MB printed; run {seconds:.1f} s) "
        f"| capture_output, 100 MB: {captured / MB:.1f} MB ({base_per_mb / 1024:.0f} KB per MB) "
        f"| {per_mb / base_per_mb:.6f} | target < 100 MB |"
    ]


def sample_cost_rows(tmp: Path) -> list[str]:
    tree = textwrap.dedent(
        """
        import os, time
        for _ in range(3):
            os.fork()
        time.sleep(30)
        """
    )
    rows = []
    modes = [("proc_walk", False)]
    if cgroup_support().any:
        modes.insert(0, ("cgroup", True))
    costs = {}
    for label, use_groups in modes:
        groups = RunGroups.create(cgroup_support(), memory_limit_bytes=None) if use_groups else None
        procs = groups.procs_files if groups else []
        launcher = [sys.executable, "-c", "import os,sys\nfor p in sys.argv[1:]:\n"]
        launcher[-1] += (
            " open(p,'w').write(str(os.getpid()))\nexec(compile(os.environ['T'],'t','exec'))"
        )
        proc = subprocess.Popen([*launcher, *procs], env={**os.environ, "T": tree})
        try:
            tracker = TreeTracker(proc.pid, "bench", groups)
            deadline = time.monotonic() + 10
            while len(tracker.members()) < 8 and time.monotonic() < deadline:
                time.sleep(0.01)
            n = 300
            start = time.perf_counter()
            for _ in range(n):
                tree_rss_bytes(tracker.members())
            costs[label] = (time.perf_counter() - start) / n * 1e6
        finally:
            proc.kill()
            proc.wait()
            if groups is not None:
                groups.remove()
            else:
                for pid in tracker.members():
                    os.kill(pid, 9)
    base = costs["proc_walk"]
    processes = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit())
    for label, cost in costs.items():
        rows.append(
            f"| 3 one memory sample, tree of 8, {label} ({processes} /proc entries) "
            f"| {cost:.0f} µs | proc_walk: {base:.0f} µs | {cost / base:.2f} "
            f"| {cost / 1000:.2f}% of a core at one sample per 100 ms |"
        )
    return rows


def overhead_rows(tmp: Path) -> list[str]:
    argv = [sys.executable, "-I", "-S", "-c", "pass"]

    def median_ms(action: Callable[[], object], n: int = 20) -> float:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            action()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    base = median_ms(lambda: subprocess.run(argv, check=True))
    rows = []
    for use_cgroups in (True, False) if cgroup_support().any else (False,):
        spec = ProcessSpec(
            argv=argv,
            env=dict(os.environ),
            cwd=tmp,
            run_dir=tmp / "overhead",
            memory=MemoryLimits(hard_limit_mb=256),
            use_cgroups=use_cgroups,
        )
        cost = median_ms(lambda spec=spec: run_process(spec))
        label = "cgroups + launcher" if use_cgroups else "no cgroups"
        rows.append(
            f"| 4 run_process of `python -I -S -c pass`, {label} | {cost:.1f} ms "
            f"| subprocess.run: {base:.1f} ms | {cost / base:.2f} | limit 256 MB, sampling 100 ms |"
        )
    return rows


def _mb(sources: object) -> str:
    assert isinstance(sources, dict)
    return ", ".join(f"{k}={v / MB:.0f}MB" for k, v in sources.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flood-mb", type=int, default=1024)
    args = parser.parse_args()
    logging.getLogger("claude_pm").setLevel(logging.ERROR)
    print("| measure | value | baseline | ratio | notes |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sections = (
            memory_rows(tmp),
            flood_rows(tmp, args.flood_mb),
            sample_cost_rows(tmp),
            overhead_rows(tmp),
        )
        for rows in sections:
            for row in rows:
                print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
