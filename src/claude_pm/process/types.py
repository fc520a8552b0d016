"""Values that cross the supervisor's boundary: what to run, and what became of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from claude_pm.process.sandbox import SandboxSpec


class ProcessStatus(StrEnum):
    """How a supervised run ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    MEMORY_EXCEEDED = "memory_exceeded"
    CANCELLED = "cancelled"
    SPAWN_ERROR = "spawn_error"


class EventKind(StrEnum):
    """What a :class:`ProcessEvent` reports."""

    ENFORCEMENT = "enforcement"
    MEMORY_WARNING = "memory_warning"
    MEMORY_CRITICAL = "memory_critical"
    MEMORY_LIMIT = "memory_limit"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    TREE_KILLED = "tree_killed"
    ESCAPED_PROCESSES = "escaped_processes"
    #: Which sandbox the run got, or why it got none.
    SANDBOX = "sandbox"
    #: Forks refused by the run's task limit (``pids.max``).
    PIDS_LIMIT = "pids_limit"
    #: The filesystem of the run directory was full when the run ended: logs may be cut.
    DISK_FULL = "disk_full"
    #: A memory reading, for progress; never stored in results.
    SAMPLE = "sample"
    #: The tree started: what identifies it (``data["tree"]``, a
    #: :class:`~claude_pm.process.reclaim.TreeIdentity` as a dict), for whoever
    #: records runs so a later process can reclaim the tree if this one dies.
    #: Never stored in results.
    TREE_STARTED = "tree_started"


#: Event kinds that go to the callback only, never into a result's ``events``.
TRANSIENT_EVENTS = frozenset({EventKind.SAMPLE, EventKind.TREE_STARTED})

#: Tasks (processes and threads) a run's tree may hold at once where the kernel can
#: count them (a pids cgroup): enough for a build tool's worker pool, not for a fork bomb.
DEFAULT_PIDS_LIMIT = 1024


class SandboxKind(StrEnum):
    """Which sandbox held a run."""

    BWRAP = "bwrap"
    NONE = "none"


class Enforcement(StrEnum):
    """Which mechanism held the memory limit for a run (strongest first)."""

    CGROUP_V2 = "cgroup_v2"
    CGROUP_V1 = "cgroup_v1"
    RLIMIT = "rlimit"
    SAMPLING = "sampling"
    NONE = "none"


@dataclass(frozen=True)
class MemoryLimits:
    """Memory limits for one run, in MB (MiB).

    ``hard_limit_mb`` kills the whole tree; ``warning_mb`` and ``critical_mb``
    only emit events and default to 50% and 80% of the hard limit.
    ``use_rlimit`` opts in to RLIMIT_AS when no cgroup is available (it limits
    each process's address space, not the tree, and breaks some runtimes).
    """

    hard_limit_mb: float | None = None
    warning_mb: float | None = None
    critical_mb: float | None = None
    sample_interval_s: float = 0.1
    kernel_enforcement: bool = True
    use_rlimit: bool = False

    @property
    def effective_warning_mb(self) -> float | None:
        if self.warning_mb is not None:
            return self.warning_mb
        return None if self.hard_limit_mb is None else self.hard_limit_mb * 0.5

    @property
    def effective_critical_mb(self) -> float | None:
        if self.critical_mb is not None:
            return self.critical_mb
        return None if self.hard_limit_mb is None else self.hard_limit_mb * 0.8


@dataclass(frozen=True)
class ProcessSpec:
    """What to run and under which limits.

    ``argv`` is never passed through a shell. ``run_dir`` receives
    ``stdout.log`` and ``stderr.log``. ``stdin_data`` of ``None`` closes stdin.
    ``use_cgroups`` of ``False`` tracks the tree through ``/proc`` alone (no
    kernel groups, so no kernel memory limit): for machines where cgroups
    misbehave, and to test the fallback. ``sandbox`` asks for the tree to run
    in a sandbox (see :mod:`claude_pm.process.sandbox`); None runs it as is.
    ``pids_limit`` caps the tasks (processes and threads) of the tree where a
    pids cgroup is available (None: no cap); a fork past it fails with EAGAIN
    and a ``pids_limit`` event counts the refusals.
    """

    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    run_dir: Path
    timeout_s: float | None = None
    memory: MemoryLimits = field(default_factory=MemoryLimits)
    stdin_data: bytes | None = None
    tail_bytes: int = 64 * 1024
    kill_grace_s: float = 2.0
    use_cgroups: bool = True
    sandbox: SandboxSpec | None = None
    pids_limit: int | None = DEFAULT_PIDS_LIMIT


@dataclass(frozen=True)
class ProcessEvent:
    """Something the supervisor noticed, as a structured record.

    ``at_s`` counts from the start of the run. ``data`` holds the facts of
    each kind (thresholds, pids...); the tree's memory at the event, when
    measured, is :attr:`rss_bytes` and :attr:`process_count`.
    """

    kind: EventKind
    at_s: float
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rss_bytes(self) -> int | None:
        """Resident memory of the tree when the event was recorded, if measured."""
        value = self.data.get("rss_bytes")
        return int(value) if isinstance(value, int) else None

    @property
    def process_count(self) -> int | None:
        """Processes of the tree that held memory when the event was recorded, if counted."""
        value = self.data.get("process_count")
        return int(value) if isinstance(value, int) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "at_s": round(self.at_s, 4),
            "message": self.message,
            **self.data,
        }


@dataclass(frozen=True)
class MemorySample:
    """One reading of the whole tree's resident memory."""

    at_s: float
    rss_bytes: int
    process_count: int


@dataclass(frozen=True)
class ProcessResult:
    """What became of a supervised run. Every field is measured, none assumed."""

    status: ProcessStatus
    exit_code: int | None
    signal: int | None
    pid: int | None
    wall_time_s: float
    cpu_time_s: float
    peak_rss_bytes: int
    peak_rss_sources: Mapping[str, int]
    enforcement: Enforcement
    stdout_tail: str
    stderr_tail: str
    stdout_path: Path
    stderr_path: Path
    stdout_truncated: bool
    stderr_truncated: bool
    events: tuple[ProcessEvent, ...] = ()
    samples: tuple[MemorySample, ...] = ()
    error: str | None = None
    sandbox: SandboxKind = SandboxKind.NONE
    #: Which of ``peak_rss_sources`` ``peak_rss_bytes`` is: ``cgroup_peak`` where the
    #: kernel enforces the limit (the group's own counter: shared pages once, plus the
    #: page cache the tree's writes brought in and not yet written back), else the
    #: largest of ``samples`` (summed RSS) and ``wait4_maxrss``.
    peak_rss_source: str = "samples"

    @property
    def ok(self) -> bool:
        return self.status is ProcessStatus.COMPLETED

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_bytes / (1024 * 1024)
