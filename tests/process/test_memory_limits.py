"""Memory: kernel and sampled limits over the whole tree, events, and the true peak."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from process_snippets import RunSnippet, is_gone, kernel_memory_available, read_pids

from claude_pm.process import Enforcement, MemoryLimits, ProcessEvent, ProcessStatus

GROW_FOREVER = """
import time
held = []
while True:
    held.append(bytearray(20 * 1024 * 1024))
    time.sleep(0.02)
"""

GROW_IN_GRANDCHILD = f"""
import subprocess, sys, time
g = subprocess.Popen([sys.executable, '-c', {GROW_FOREVER!r}])
open(sys.argv[1], 'w').write(str(g.pid))
g.wait()
time.sleep(300)
"""


@pytest.mark.skipif(not kernel_memory_available(), reason="no writable memory cgroup")
def test_kernel_limit_kills_the_tree(run_snippet: RunSnippet) -> None:
    result = run_snippet(GROW_FOREVER, memory=MemoryLimits(hard_limit_mb=100))

    assert result.status is ProcessStatus.MEMORY_EXCEEDED
    assert result.enforcement in (Enforcement.CGROUP_V1, Enforcement.CGROUP_V2)
    assert "memory_limit" in [e.kind for e in result.events]
    assert "cgroup_peak" in result.peak_rss_sources


@pytest.mark.skipif(not kernel_memory_available(), reason="no writable memory cgroup")
def test_kernel_limit_catches_a_grandchild_and_kills_the_rest(
    run_snippet: RunSnippet, tmp_path: Path
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    result = run_snippet(
        "",
        argv=[*_python_argv(GROW_IN_GRANDCHILD), str(pid_file)],
        memory=MemoryLimits(hard_limit_mb=100),
    )

    assert result.status is ProcessStatus.MEMORY_EXCEEDED
    assert all(is_gone(pid) for pid in read_pids(pid_file))


def test_sampling_alone_kills_the_tree_at_the_limit(run_snippet: RunSnippet) -> None:
    result = run_snippet(
        GROW_FOREVER, memory=MemoryLimits(hard_limit_mb=100, kernel_enforcement=False)
    )

    assert result.status is ProcessStatus.MEMORY_EXCEEDED
    assert result.enforcement is Enforcement.SAMPLING
    limit = next(e for e in result.events if e.kind == "memory_limit")
    assert limit.data["source"] == "sampling"
    assert limit.data["rss_bytes"] >= 100 * 1024 * 1024


def test_sampling_sees_allocation_by_a_grandchild(
    run_snippet: RunSnippet, tmp_path: Path, use_cgroups: bool
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    result = run_snippet(
        "",
        argv=[*_python_argv(GROW_IN_GRANDCHILD), str(pid_file)],
        memory=MemoryLimits(hard_limit_mb=100, kernel_enforcement=False),
        use_cgroups=use_cgroups,
    )

    assert result.status is ProcessStatus.MEMORY_EXCEEDED
    assert result.samples and max(s.process_count for s in result.samples) >= 2
    assert read_pids(pid_file) and all(is_gone(pid) for pid in read_pids(pid_file))


def test_warning_and_critical_events_fire_once_each_in_order(run_snippet: RunSnippet) -> None:
    cancel = threading.Event()
    seen: list[ProcessEvent] = []

    def on_event(event: ProcessEvent) -> None:
        seen.append(event)
        if event.kind == "memory_critical":
            cancel.set()

    result = run_snippet(
        """
        import time
        held = [bytearray(30 * 1024 * 1024)]
        time.sleep(0.2)
        held.append(bytearray(30 * 1024 * 1024))
        time.sleep(300)
        """,
        memory=MemoryLimits(hard_limit_mb=1000, warning_mb=25, critical_mb=55),
        cancel=cancel,
        on_event=on_event,
    )

    kinds = [e.kind for e in result.events]
    assert result.status is ProcessStatus.CANCELLED
    assert kinds.count("memory_warning") == 1 and kinds.count("memory_critical") == 1
    assert kinds.index("memory_warning") < kinds.index("memory_critical")
    assert "memory_limit" not in kinds
    assert any(e.kind == "sample" for e in seen)
    assert all(e.kind != "sample" for e in result.events)


def test_default_thresholds_are_half_and_four_fifths_of_the_limit() -> None:
    limits = MemoryLimits(hard_limit_mb=200)

    assert (limits.effective_warning_mb, limits.effective_critical_mb) == (100, 160)


def test_peak_is_measured_for_a_process_that_exits_at_once(run_snippet: RunSnippet) -> None:
    result = run_snippet("x = bytearray(100 * 1024 * 1024)")

    assert result.status is ProcessStatus.COMPLETED
    assert result.peak_rss_bytes >= 100 * 1024 * 1024
    assert result.peak_rss_sources["wait4_maxrss"] >= 100 * 1024 * 1024
    assert result.peak_rss_bytes == max(result.peak_rss_sources.values())
    assert result.peak_rss_bytes == result.peak_rss_sources[result.peak_rss_source]


def test_rlimit_is_used_only_when_asked_and_no_cgroup(run_snippet: RunSnippet) -> None:
    result = run_snippet(
        "x = bytearray(400 * 1024 * 1024)",
        memory=MemoryLimits(hard_limit_mb=200, use_rlimit=True),
        use_cgroups=False,
    )

    assert result.enforcement is Enforcement.RLIMIT
    assert result.status is not ProcessStatus.COMPLETED
    assert "MemoryError" in result.stderr_tail


def test_no_limit_means_no_enforcement(run_snippet: RunSnippet) -> None:
    result = run_snippet("print(1)")

    assert result.enforcement is Enforcement.NONE


def _python_argv(code: str) -> list[str]:
    import sys

    return [sys.executable, "-c", code]


SHARED_PAGES = """
import os, sys, time
shared = bytearray(40 * 1024 * 1024)
for i in range(0, len(shared), 4096):
    shared[i] = 1
children = []
for _ in range(6):
    pid = os.fork()
    if pid == 0:
        while not os.path.exists(sys.argv[1]):
            time.sleep(0.01)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not kernel_memory_available(), reason="no writable memory cgroup")
def test_the_kernels_figure_is_the_peak_where_it_enforces(
    run_snippet: RunSnippet, tmp_path: Path
) -> None:
    """Seven processes share 40 MB: the RSS sum counts it seven times, the kernel once."""
    release = tmp_path / "release"

    def on_event(event: ProcessEvent) -> None:
        if event.kind == "sample" and (event.process_count or 0) >= 7:
            release.touch()

    result = run_snippet(
        "",
        argv=[*_python_argv(SHARED_PAGES), str(release)],
        memory=MemoryLimits(hard_limit_mb=1000),
        on_event=on_event,
    )

    sources = result.peak_rss_sources
    assert result.status is ProcessStatus.COMPLETED
    assert result.enforcement in (Enforcement.CGROUP_V1, Enforcement.CGROUP_V2)
    assert result.peak_rss_bytes == sources["cgroup_peak"]
    assert result.peak_rss_source == "cgroup_peak"
    assert sources["samples"] >= 7 * 40 * 1024 * 1024
    assert sources["cgroup_peak"] < sources["samples"] / 2


LOGS_THEN_WAIT = """
import os, sys, time
chunk = b"x" * (1024 * 1024 - 1) + b"\\n"
for _ in range(96):
    sys.stdout.buffer.write(chunk)
sys.stdout.flush()
os.fsync(1)  # the pages are clean now: only a drop can free them
open(sys.argv[1], "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
"""


@pytest.mark.skipif(not kernel_memory_available(), reason="no writable memory cgroup")
def test_the_logs_page_cache_is_dropped_from_the_runs_memory_group(
    run_snippet: RunSnippet, tmp_path: Path
) -> None:
    """96 MB written to the log stays cached (and charged to the run) unless it is dropped."""
    written, release = tmp_path / "written", tmp_path / "release"
    group: dict[str, Path] = {}
    usage_after: list[int] = []

    def on_event(event: ProcessEvent) -> None:
        if event.kind == "tree_started":
            dirs = event.data["tree"]["cgroup_dirs"]
            directory = Path(dirs.get("unified") or dirs["memory"])
            group["usage"] = directory / (
                "memory.current" if "unified" in dirs else "memory.usage_in_bytes"
            )
        elif event.kind == "sample" and written.exists() and "usage" in group:
            usage_after.append(int(group["usage"].read_text()))
            if usage_after[-1] < 48 * 1024 * 1024:
                release.touch()

    result = run_snippet(
        "",
        argv=[*_python_argv(LOGS_THEN_WAIT), str(written), str(release)],
        memory=MemoryLimits(hard_limit_mb=512),
        on_event=on_event,
        timeout_s=30,
    )

    assert result.status is ProcessStatus.COMPLETED, "the cached log pages were never dropped"
    assert result.stdout_path.stat().st_size == 96 * 1024 * 1024
    assert usage_after and usage_after[-1] < 48 * 1024 * 1024
