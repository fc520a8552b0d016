"""Run one process tree to its end: spawn, watch, limit, measure, and leave nothing behind.

The life of a run:

1. Pick the strongest memory enforcement present (cgroup v2, cgroup v1, opt-in
   RLIMIT_AS, else sampling) and make the run's groups (``cgroups.py``), with
   the spec's task limit where a pids controller is offered.
2. Start the child in a new session, output straight into the log files,
   inside its groups before its own code runs (``spawn.py``), and announce
   what identifies the tree (a transient ``tree_started`` event carrying a
   :class:`~claude_pm.process.reclaim.TreeIdentity`): if this process dies
   without its ``finally``, a later one can find and kill the tree
   (``reclaim.py``).
3. Until the child exits: sample the tree's RSS every
   ``sample_interval_s`` (dropping the logs' cached pages from the run's
   memory group first), emit warning/critical events once each, kill the
   tree at the hard limit or on a kernel OOM kill, and stop it on timeout or
   cancellation (TERM to every member, ``kill_grace_s``, then freeze + KILL).
4. When the child itself has exited (its exit, not the end of its output),
   whatever is left of its tree gets TERM, the grace, then KILL: a
   background grandchild never outlives the run (event ``tree_killed``).
5. Reap, read peaks, say whether the task limit refused forks
   (``pids_limit``) or the run directory's filesystem is full
   (``disk_full``), remove the groups. Every exit path, exceptions and
   signals included, goes through 4 and 5 (``lifecycle.py``).

The peak memory reported is the kernel's own counter of the run's memory
group where the kernel enforces the limit (it counts shared pages once, and
includes the page cache the tree's writes brought in); elsewhere the largest
of the samples (the sum of the members' RSS, which counts shared pages once
per process) and ``wait4``'s ``ru_maxrss``. ``peak_rss_sources`` keeps every
figure.

Before its first run, the supervisor makes this process non-dumpable, and a
spec that asks for a sandbox runs under bubblewrap where the machine has it
(``sandbox.py``); the result says which held it (``sandbox``), as
``enforcement`` says which mechanism held the memory limit.

A :class:`Supervisor` owns the shutdown state of the runs it starts; the
module-level :func:`run_process` uses a default one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from claude_pm.cancel import CancelToken
from claude_pm.errors import SpawnFailed
from claude_pm.process import lifecycle
from claude_pm.process.cgroups import CgroupSupport, RunGroups, cgroup_support
from claude_pm.process.child import MainChild
from claude_pm.process.identity import process_identity
from claude_pm.process.killing import TreeKiller
from claude_pm.process.memory import MB, SampleLog, thresholds, tree_rss_bytes
from claude_pm.process.output import LogCache, free_bytes, open_logs
from claude_pm.process.reclaim import TreeIdentity
from claude_pm.process.results import finished_result, spawn_error_result
from claude_pm.process.sandbox import protect_orchestrator, sandbox_env, sandbox_support, wrap_argv
from claude_pm.process.spawn import spawn
from claude_pm.process.tree import TOKEN_VARIABLE, TreeTracker
from claude_pm.process.types import (
    TRANSIENT_EVENTS,
    Enforcement,
    EventKind,
    MemorySample,
    ProcessEvent,
    ProcessResult,
    ProcessSpec,
    ProcessStatus,
    SandboxKind,
)

log = logging.getLogger(__name__)

_POLL_CAP_S = 0.1
#: Below this much free space on the run directory's filesystem, a run reports ``disk_full``.
DISK_FULL_BYTES = 64 * 1024


EventCallback = Callable[[ProcessEvent], None]


class Supervisor:
    """Runs process trees to their end; owns its shutdown state.

    Safe to share between threads. :meth:`shutdown` stops this supervisor's
    trees and makes it refuse new runs (they end ``CANCELLED``) without
    touching other supervisors, so a long-lived server or a workflow engine
    keeps its own. :func:`run_process` uses a process-wide default one.
    """

    def __init__(self) -> None:
        self._latch = lifecycle.ShutdownLatch()

    @property
    def shut_down(self) -> bool:
        return self._latch.is_set()

    def run(
        self,
        spec: ProcessSpec,
        *,
        cancel: CancelToken | None = None,
        on_event: EventCallback | None = None,
    ) -> ProcessResult:
        """Run ``spec`` to its end and say what became of it.

        Never raises for a process-level failure (a program that cannot start is a
        ``SPAWN_ERROR`` result). Safe to call from several threads at once. An
        exception in the calling thread (KeyboardInterrupt, SystemExit) kills the
        tree before it propagates.
        """
        return _Run(spec, cancel, on_event, self._latch).execute()

    def shutdown(self, grace_s: float = lifecycle.SHUTDOWN_GRACE_S) -> int:
        """Kill this supervisor's live trees (TERM, ``grace_s``, KILL) and refuse new runs.

        Returns how many trees were alive.
        """
        return self._latch.shutdown(grace_s)


_default: Supervisor | None = None
_default_lock = threading.Lock()


def default_supervisor() -> Supervisor:
    """The process-wide supervisor behind :func:`run_process`."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Supervisor()
        return _default


def run_process(
    spec: ProcessSpec,
    *,
    cancel: CancelToken | None = None,
    on_event: EventCallback | None = None,
) -> ProcessResult:
    """``default_supervisor().run(spec, ...)``: see :meth:`Supervisor.run`."""
    return default_supervisor().run(spec, cancel=cancel, on_event=on_event)


class _Run:
    def __init__(
        self,
        spec: ProcessSpec,
        cancel: CancelToken | None,
        on_event: EventCallback | None,
        latch: lifecycle.ShutdownLatch,
    ) -> None:
        self.spec = spec
        self.cancel = cancel
        self.on_event = on_event
        self.latch = latch
        self.t0 = time.monotonic()
        self.events: list[ProcessEvent] = []
        self.samples = SampleLog()
        self.levels = thresholds(spec.memory)
        self.crossed: set[str] = set()
        self.groups: RunGroups | None = None
        self.tracker: TreeTracker | None = None
        self.child: MainChild | None = None
        self.killer: TreeKiller | None = None
        self.cpu_extra_s = 0.0
        self.reason: ProcessStatus | None = None
        self.enforcement = Enforcement.NONE
        self.sandbox = SandboxKind.NONE
        self.tree_done = False
        self.stdin_thread: threading.Thread | None = None
        self.log_cache: LogCache | None = None
        self.owner_thread = threading.get_ident()

    # -- events ---------------------------------------------------------------

    def emit(
        self, kind: EventKind, message: str, *, level: int = logging.INFO, **data: Any
    ) -> None:
        event = ProcessEvent(kind, time.monotonic() - self.t0, message, data)
        if kind not in TRANSIENT_EVENTS:
            self.events.append(event)
            log.log(level, "pid %s: %s", self.child.pid if self.child else None, message)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("on_event callback failed for %s", kind)

    # -- the run --------------------------------------------------------------

    def execute(self) -> ProcessResult:
        protect_orchestrator()
        try:
            stdout, stderr = open_logs(self.spec.run_dir)
        except OSError as e:
            return self._spawn_error(f"cannot write logs in {self.spec.run_dir}: {e.strerror or e}")
        self.latch.register(self)
        try:
            try:
                self._start(stdout, stderr)
            except SpawnFailed as e:
                return self._spawn_error(e.message)
            self._supervise()
            return self._result()
        except BaseException:
            if self.killer is not None and not self.killer.child.reaped:
                self.reason = self.reason or ProcessStatus.CANCELLED
                self.emit(
                    EventKind.CANCELLED,
                    "orchestrator interrupted: killing the tree",
                    level=logging.WARNING,
                )
                self.killer.kill_all()
            raise
        finally:
            self._finish()

    def _start(self, stdout: BinaryIO, stderr: BinaryIO) -> None:
        spec, memory = self.spec, self.spec.memory
        limit_bytes = int(memory.hard_limit_mb * MB) if memory.hard_limit_mb else None
        try:
            support = cgroup_support() if spec.use_cgroups else CgroupSupport(None, {})
            if support.any:
                kernel_limit = limit_bytes if memory.kernel_enforcement else None
                self.groups = RunGroups.create(
                    support, memory_limit_bytes=kernel_limit, pids_limit=spec.pids_limit
                )
            rlimit = None
            if limit_bytes is None:
                self.enforcement = Enforcement.NONE
            elif self.groups is not None and self.groups.limit_set:
                self.enforcement = (
                    Enforcement.CGROUP_V2 if self.groups.v2 else Enforcement.CGROUP_V1
                )
            elif memory.use_rlimit and memory.kernel_enforcement:
                self.enforcement, rlimit = Enforcement.RLIMIT, limit_bytes
            else:
                self.enforcement = Enforcement.SAMPLING
            token = os.urandom(16).hex()
            argv, env = self._sandboxed(list(spec.argv), {**spec.env, TOKEN_VARIABLE: token})
            procs_files = self.groups.procs_files if self.groups else []
            started = spawn(
                spec,
                env,
                stdout,
                stderr,
                procs_files=procs_files,
                rlimit_as_bytes=rlimit,
                argv=argv,
            )
        finally:
            stdout.close()
            stderr.close()
        self.child = child = MainChild(started.proc)
        if self.enforcement is Enforcement.RLIMIT and started.notes:
            self.enforcement = Enforcement.SAMPLING
        if any(note.startswith("cgroup") for note in started.notes):
            # The child is not reliably in its groups: track it through /proc.
            if self.enforcement in (Enforcement.CGROUP_V1, Enforcement.CGROUP_V2):
                self.enforcement = Enforcement.SAMPLING
            tracking_groups = None
        else:
            tracking_groups = self.groups
        self.tracker = TreeTracker(child.pid, token, tracking_groups)
        self.killer = TreeKiller(child, self.tracker, self.emit)
        tracking = (
            tracking_groups.controllers if tracking_groups else ["process_group", "proc_walk"]
        )
        pids_limit = tracking_groups.pids_limit if tracking_groups else None
        self.emit(
            EventKind.ENFORCEMENT,
            f"memory enforcement: {self.enforcement}; tree tracking: {', '.join(tracking)}"
            + (f"; task limit {pids_limit}" if pids_limit else ""),
            enforcement=str(self.enforcement),
            tracking=tracking,
            hard_limit_bytes=limit_bytes,
            pids_limit=pids_limit,
            notes=list(started.notes),
        )
        identity = TreeIdentity(
            supervisor=_my_identity(),
            root_pid=child.pid,
            root_start_ticks=self.tracker.root_start,
            pgid=child.pid,
            token=token,
            cgroup_dirs={c: str(d) for c, d in (self.groups.dirs if self.groups else {}).items()},
        )
        self.emit(EventKind.TREE_STARTED, "tree started", tree=identity.to_dict())
        if tracking_groups is not None and tracking_groups.memory_dir is not None:
            self.log_cache = LogCache(spec.run_dir)
        if spec.stdin_data is not None and child.proc.stdin is not None:
            self.stdin_thread = threading.Thread(
                target=_feed_stdin, args=(child.proc.stdin, spec.stdin_data), daemon=True
            )
            self.stdin_thread.start()

    def _sandboxed(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """The command line and environment under the sandbox the spec asks for, if any.

        Raises:
            SpawnFailed: the spec requires a sandbox and the machine has none.
        """
        wanted = self.spec.sandbox
        if wanted is None:
            return argv, env
        support = sandbox_support()
        if support.bwrap is None:
            if wanted.required:
                raise SpawnFailed(
                    f"this run requires a sandbox, but {support.reason}; install bubblewrap, or "
                    "set the sandbox setting to auto or off",
                    program="bwrap",
                )
            self.emit(EventKind.SANDBOX, f"sandbox: none ({support.reason})", sandbox="none")
            return argv, env
        if wanted.tmp_dir is not None:
            try:
                wanted.tmp_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise SpawnFailed(f"cannot create the run's temporary directory: {e}") from e
        self.sandbox = SandboxKind.BWRAP
        self.emit(
            EventKind.SANDBOX,
            f"sandbox: bwrap, writable {', '.join(map(str, wanted.writable)) or 'nothing'}, "
            f"network {'on' if wanted.network else 'off'}",
            sandbox="bwrap",
            writable=[str(p) for p in wanted.writable],
            network=wanted.network,
        )
        return wrap_argv(support.bwrap, argv, wanted, self.spec.cwd), sandbox_env(env, wanted)

    def _supervise(self) -> None:
        spec, child = self.spec, self.child
        assert child is not None
        interval = max(0.005, spec.memory.sample_interval_s)
        deadline = None if spec.timeout_s is None else self.t0 + spec.timeout_s
        next_sample = time.monotonic()
        while not child.reap(block=False):
            now = time.monotonic()
            if (self.cancel is not None and self.cancel.is_set()) or self.latch.is_set():
                self.emit(
                    EventKind.CANCELLED, "cancelled: stopping the tree", level=logging.WARNING
                )
                self._stop(ProcessStatus.CANCELLED, graceful=True)
                break
            if deadline is not None and now >= deadline:
                self.emit(
                    EventKind.TIMEOUT,
                    f"timed out after {spec.timeout_s} s",
                    level=logging.WARNING,
                    timeout_s=spec.timeout_s,
                )
                self._stop(ProcessStatus.TIMEOUT, graceful=True)
                break
            if now >= next_sample:
                self._sample()
                if self.reason is not None:
                    break
                next_sample = now + interval
            wake = next_sample if deadline is None else min(next_sample, deadline)
            child.wait_exit(min(_POLL_CAP_S, max(0.0, wake - time.monotonic())))
        child.reap(block=True)
        if self.reason is None and self.groups is not None and self.groups.oom_kills():
            self.emit(
                EventKind.MEMORY_LIMIT,
                "the kernel killed a process at the memory limit",
                level=logging.WARNING,
                source="kernel",
                oom_kills=self.groups.oom_kills(),
            )
            self.reason = ProcessStatus.MEMORY_EXCEEDED
        self._end_tree()
        self._report_limits()

    def _report_limits(self) -> None:
        """After the tree is gone: forks the task limit refused, a full run directory."""
        refused = self.groups.pids_refused() if self.groups is not None else 0
        if refused:
            self.emit(
                EventKind.PIDS_LIMIT,
                f"the task limit ({self.groups.pids_limit if self.groups else '?'}) refused "
                f"{refused} forks",
                level=logging.WARNING,
                refused=refused,
                pids_limit=self.groups.pids_limit if self.groups else None,
            )
        self._report_disk()

    def _report_disk(self) -> None:
        """A ``disk_full`` event when the run directory's filesystem has (almost) no room left."""
        free = free_bytes(self.spec.run_dir)
        if free is not None and free < DISK_FULL_BYTES:
            self.emit(
                EventKind.DISK_FULL,
                f"the filesystem of {self.spec.run_dir} is full ({free / MB:.1f} MB free): "
                "the logs may be cut short; free some space",
                level=logging.WARNING,
                path=str(self.spec.run_dir),
                free_bytes=free,
            )

    def _sample(self) -> None:
        assert self.tracker is not None
        if self.log_cache is not None:
            self.log_cache.drop()
        members = self.tracker.members()
        rss, count = tree_rss_bytes(members)
        self.samples.add(MemorySample(time.monotonic() - self.t0, rss, count))
        self.emit(EventKind.SAMPLE, "memory sample", rss_bytes=rss, process_count=count)
        for level in self.levels:
            if rss < level.limit_bytes or level.kind in self.crossed:
                continue
            self.crossed.add(level.kind)
            mb = rss / MB
            if level.kind is not EventKind.MEMORY_LIMIT:
                self.emit(
                    level.kind,
                    f"{level.kind.value.replace('_', ' ')}: tree at {mb:.1f} MB",
                    level=logging.WARNING,
                    rss_bytes=rss,
                    threshold_bytes=level.limit_bytes,
                )
                continue
            self.emit(
                EventKind.MEMORY_LIMIT,
                f"memory limit reached: tree at {mb:.1f} MB, killing it",
                level=logging.WARNING,
                source="sampling",
                rss_bytes=rss,
                threshold_bytes=level.limit_bytes,
            )
            self._stop(ProcessStatus.MEMORY_EXCEEDED, graceful=False)
            return
        if self.groups is not None and self.groups.limit_set and self.groups.oom_kills():
            self.emit(
                EventKind.MEMORY_LIMIT,
                "the kernel killed a process at the memory limit: killing the tree",
                level=logging.WARNING,
                source="kernel",
                oom_kills=self.groups.oom_kills(),
            )
            self._stop(ProcessStatus.MEMORY_EXCEEDED, graceful=False)

    # -- stopping -------------------------------------------------------------

    def _stop(self, reason: ProcessStatus, *, graceful: bool) -> None:
        """Stop the whole tree for ``reason``: TERM and the grace first when ``graceful``."""
        assert self.killer is not None
        self.reason = self.reason or reason
        grace_s = self.spec.kill_grace_s if graceful else 0.0
        if self.latch.is_set():
            grace_s = min(grace_s, lifecycle.SHUTDOWN_GRACE_S)
        self.killer.stop(grace_s)

    def emergency_kill(self, grace_s: float) -> None:
        """From another thread (signal handler, exit): stop the tree now, remove its groups."""
        if self.killer is not None:
            self.reason = self.reason or ProcessStatus.CANCELLED
            self.killer.emergency(grace_s)

    def _end_tree(self) -> None:
        """After the main child exited: no member of its tree may outlive the run."""
        if self.tree_done or self.killer is None:
            return
        self.tree_done = True
        grace_s = self.spec.kill_grace_s if self.reason is None else 0.0
        self.cpu_extra_s += self.killer.end_tree(grace_s)

    def _finish(self) -> None:
        """Last line of every path: nothing alive, everything closed, groups removed."""
        try:
            if self.killer is not None:
                if not self.killer.child.reaped:
                    self.killer.kill_all()
                    self.killer.child.reap(block=True)
                self._end_tree()
        finally:
            if self.stdin_thread is not None:
                self.stdin_thread.join(timeout=1.0)
            if self.child is not None:
                self.child.close()
            if self.log_cache is not None:
                self.log_cache.close()
            if self.groups is not None:
                stuck = self.groups.remove()
                if stuck:
                    log.warning("could not remove cgroups %s", stuck)
            self.latch.unregister(self)

    # -- results --------------------------------------------------------------

    def _spawn_error(self, error: str) -> ProcessResult:
        log.warning("cannot start %s: %s", list(self.spec.argv)[:1], error)
        self._report_disk()
        return spawn_error_result(
            self.spec,
            error=error,
            enforcement=self.enforcement,
            events=self.events,
            wall_time_s=time.monotonic() - self.t0,
            sandbox=self.sandbox,
        )

    def _result(self) -> ProcessResult:
        child = self.child
        assert child is not None
        sources = {"samples": self.samples.peak_bytes, "wait4_maxrss": child.maxrss_bytes}
        cgroup_peak = self.groups.peak_bytes() if self.groups is not None else None
        if cgroup_peak is not None:
            sources["cgroup_peak"] = cgroup_peak
        kernel_counted = self.enforcement in (Enforcement.CGROUP_V1, Enforcement.CGROUP_V2)
        peak = cgroup_peak if kernel_counted and cgroup_peak is not None else None
        return finished_result(
            self.spec,
            pid=child.pid,
            wait_status=child.wait_status,
            reason=self.reason,
            wall_time_s=(child.ended_at or time.monotonic()) - self.t0,
            cpu_time_s=child.cpu_s + self.cpu_extra_s,
            peak_sources=sources,
            peak_bytes=peak,
            enforcement=self.enforcement,
            events=self.events,
            samples=self.samples.samples,
            sandbox=self.sandbox,
        )


_identity: tuple[int, str] | None = None


def _my_identity() -> str:
    """This process's identity, computed once per process (a fork gets its own)."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:
        _identity = (pid, process_identity(pid))
    return _identity[1]


def _feed_stdin(pipe: BinaryIO, data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError):
        pass
    finally:
        with contextlib.suppress(BrokenPipeError, OSError):
            pipe.close()
