"""Turn what a run measured into a :class:`ProcessResult`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from claude_pm.process.output import STDERR_NAME, STDOUT_NAME, read_tail
from claude_pm.process.types import (
    Enforcement,
    MemorySample,
    ProcessEvent,
    ProcessResult,
    ProcessSpec,
    ProcessStatus,
    SandboxKind,
)


def spawn_error_result(
    spec: ProcessSpec,
    *,
    error: str,
    enforcement: Enforcement,
    events: Sequence[ProcessEvent],
    wall_time_s: float,
    sandbox: SandboxKind = SandboxKind.NONE,
) -> ProcessResult:
    """The result of a run whose program never started."""
    return ProcessResult(
        status=ProcessStatus.SPAWN_ERROR,
        exit_code=None,
        signal=None,
        pid=None,
        wall_time_s=wall_time_s,
        cpu_time_s=0.0,
        peak_rss_bytes=0,
        peak_rss_sources={},
        enforcement=enforcement,
        stdout_tail="",
        stderr_tail="",
        stdout_path=spec.run_dir / STDOUT_NAME,
        stderr_path=spec.run_dir / STDERR_NAME,
        stdout_truncated=False,
        stderr_truncated=False,
        events=tuple(events),
        error=error,
        sandbox=sandbox,
    )


def finished_result(
    spec: ProcessSpec,
    *,
    pid: int,
    wait_status: int | None,
    reason: ProcessStatus | None,
    wall_time_s: float,
    cpu_time_s: float,
    peak_sources: Mapping[str, int],
    enforcement: Enforcement,
    peak_bytes: int | None = None,
    events: Sequence[ProcessEvent],
    samples: Sequence[MemorySample],
    sandbox: SandboxKind = SandboxKind.NONE,
) -> ProcessResult:
    """The result of a run that started: status from our reason to stop it, else the exit.

    ``wait_status`` of ``None`` means another waiter took the exit status.
    ``peak_bytes`` is the kernel's figure where it counted the tree; without
    it the peak is the largest of ``peak_sources``.
    """
    exit_code = sig = None
    error = None
    if wait_status is None:
        error = "the exit status was collected by someone else (a stray wait in this process)"
    elif os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
    else:
        exit_code = os.WEXITSTATUS(wait_status)
    if reason is not None:
        status = reason
    elif exit_code == 0:
        status = ProcessStatus.COMPLETED
    else:
        status = ProcessStatus.FAILED
    stdout_path, stderr_path = spec.run_dir / STDOUT_NAME, spec.run_dir / STDERR_NAME
    stdout_tail, stdout_truncated = read_tail(stdout_path, spec.tail_bytes)
    stderr_tail, stderr_truncated = read_tail(stderr_path, spec.tail_bytes)
    return ProcessResult(
        status=status,
        exit_code=exit_code,
        signal=sig,
        pid=pid,
        wall_time_s=wall_time_s,
        cpu_time_s=cpu_time_s,
        peak_rss_bytes=(
            peak_bytes if peak_bytes is not None else max(peak_sources.values(), default=0)
        ),
        peak_rss_sources=dict(peak_sources),
        peak_rss_source=(
            "cgroup_peak"
            if peak_bytes is not None
            else max(peak_sources, key=lambda k: peak_sources[k], default="samples")
        ),
        enforcement=enforcement,
        stdout_tail=stdout_tail,
        stderr_tail=stderr_tail,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        stdout_truncated=stdout_truncated,
        stderr_truncated=stderr_truncated,
        events=tuple(events),
        samples=tuple(samples),
        error=error,
        sandbox=sandbox,
    )
