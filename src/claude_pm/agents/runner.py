"""One agent execution, orchestrator side.

The life of a run, in four steps a workflow executor can also take apart:

1. :meth:`AgentRunner.prepare`: look the agent up, pick its backend (the
   definition's pin, else the request's, else the configured default) and
   refuse one that cannot run here, check the project root (a boundary: only
   the configured project, a directory inside it, or an allowed root) and the
   context, settle the limits, and build a :class:`PreparedRun` — the hand-off
   and the process spec — without writing or spawning anything.
2. :meth:`AgentRunner.start`: write the hand-off into the run's directory and
   record the run as ``running`` (a failed write leaves no half-written run
   directory behind).
3. :meth:`AgentRunner.launch`: supervise ``python -m claude_pm.agents.executor``
   through the injected :class:`Launcher` (a :class:`~claude_pm.process.Supervisor`
   by default) under the run's limits.
4. :meth:`AgentRunner.finish`: read what the backend reported (``result.json``),
   extract tickets from the full output and store them, and record the end.

:meth:`AgentRunner.run` does all four.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from claude_pm.agents import handoff as contract
from claude_pm.agents.backends import BACKENDS
from claude_pm.agents.definition import AgentDefinition
from claude_pm.agents.handoff import BackendReport, Handoff, HandoffError
from claude_pm.agents.runs import RunRecord, RunStatus, RunStore, new_run_id
from claude_pm.agents.values import (
    AgentRequest,
    AgentResult,
    PreparedRun,
    ProgressCallback,
    RunProgress,
)
from claude_pm.cancel import CancelToken
from claude_pm.config import MemoryEnforcement, SandboxMode, Settings
from claude_pm.context import (
    build_environment,
    check_file_paths,
    filter_context,
    resolve_project_root,
)
from claude_pm.errors import (
    BackendUnavailable,
    ClaudePMError,
    ContextError,
    InvalidInput,
    StoreError,
)
from claude_pm.process import (
    EventKind,
    MemoryLimits,
    ProcessEvent,
    ProcessResult,
    ProcessSpec,
    ProcessStatus,
    SandboxSpec,
    default_supervisor,
)
from claude_pm.state import Database

if TYPE_CHECKING:
    from claude_pm.agents.registry import AgentRegistry
    from claude_pm.tickets.model import Ticket

log = logging.getLogger(__name__)

_STOPPED = "the orchestrator stopped during the run"

#: A context key the orchestrator fills for agents that list it: the open tickets.
TICKET_SNAPSHOT_KEY = "ticket_snapshot"
#: Tickets in a snapshot at most (the oldest open ones first).
TICKET_SNAPSHOT_LIMIT = 2000


class Launcher(Protocol):
    """Runs a process spec to its end (a :class:`~claude_pm.process.Supervisor` is one)."""

    def run(
        self,
        spec: ProcessSpec,
        *,
        cancel: CancelToken | None = None,
        on_event: Callable[[ProcessEvent], None] | None = None,
    ) -> ProcessResult: ...


def progress_of(event: ProcessEvent) -> RunProgress:
    """A supervisor event as the progress callers see (no process internals)."""
    return RunProgress(
        kind=event.kind.value,
        message=event.message,
        elapsed_s=event.at_s,
        rss_bytes=event.rss_bytes,
        process_count=event.process_count,
    )


class AgentRunner:
    """Runs agents for one project; thread-safe (workflows call it from several threads)."""

    def __init__(
        self,
        settings: Settings,
        registry: AgentRegistry,
        database: Database,
        *,
        launcher: Launcher | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.database = database
        self.runs = RunStore(database, retention_days=settings.runs_retention_days)
        self.launcher: Launcher = launcher if launcher is not None else default_supervisor()
        #: Run id -> the most memory its tree was seen holding, for a run stopped
        #: before it had a result (:meth:`record_stopped`); each run's own thread writes it.
        self._peaks: dict[str, int] = {}

    # -- 1. prepare ----------------------------------------------------------------------

    def backend_for(self, definition: AgentDefinition, request: AgentRequest) -> str:
        """The backend that runs ``definition``: its pin, else the request's, else the default."""
        return definition.backend_for(request.backend or self.settings.default_backend)

    def resolve(self, request: AgentRequest) -> tuple[AgentDefinition, str]:
        """The agent's definition and the backend that will run it.

        Raises:
            AgentNotFound: unknown agent type (the message lists the valid ones).
            BackendUnavailable: that backend cannot run in this version.
        """
        definition = self.registry.get(request.agent_type)
        backend = self.backend_for(definition, request)
        reason = definition.unavailable_reason(request.backend or self.settings.default_backend)
        if reason is not None:
            where = f" (defined in {definition.source_path})" if definition.source_path else ""
            raise BackendUnavailable(
                f"Agent {definition.agent_type!r}{where} cannot run: {reason}.",
                agent_type=definition.agent_type,
                backend=backend,
            )
        return definition, backend

    def prepare(self, request: AgentRequest, *, workdir: Path | None = None) -> PreparedRun:
        """Check everything and build the run, before anything is written or spawned.

        ``workdir`` is for the workflow engine only: a directory it made itself
        (a task's git worktree) to run the agent in instead of the project; a
        caller's ``context.project_root`` can never name one.

        Raises:
            AgentNotFound, BackendUnavailable: see :meth:`resolve`.
            ContextError: project_root or file_paths are unusable.
            InvalidInput: a limit is out of range.
        """
        definition, backend = self.resolve(request)
        context = dict(request.context)
        if workdir is not None:
            root = workdir.resolve()
        else:
            boundaries = (self.settings.project_root, *self.settings.allowed_project_roots)
            root = resolve_project_root(
                context.get("project_root", self.settings.project_root), boundaries
            )
        context["project_root"] = str(root)
        if "file_paths" in context:
            context["file_paths"] = check_file_paths(context["file_paths"], root)
        visible = filter_context(
            {**self.settings.extra_context, **context}, definition.visible_context_keys()
        )
        if TICKET_SNAPSHOT_KEY in definition.visible_context_keys():
            visible.setdefault(TICKET_SNAPSHOT_KEY, self._ticket_snapshot())
        timeout_s, memory = self._limits(request, definition)
        run_id = new_run_id()
        run_dir = self.settings.runs_dir / run_id
        budget = request.budget_usd if request.budget_usd is not None else None
        handoff = Handoff(
            run_id=run_id,
            project_root=str(root),
            run_dir=str(run_dir),
            task=request.task_description,
            agent=definition.agent_spec(),
            backend=backend,
            context=visible,
            timeout_s=timeout_s,
            memory_limit_mb=memory.hard_limit_mb,
            budget_usd=budget if budget is not None else self.settings.run_budget_usd,
            backend_config=self._backend_config(),
        )
        try:
            inline = handoff.inline_context()
        except ValueError as e:
            raise ContextError(f"context must be JSON-serialisable: {e}.", field="context") from e
        env = build_environment(
            self.settings.environ,
            (*definition.env, *BACKENDS[backend].env),
            self._markers(handoff, inline),
        )
        spec = ProcessSpec(
            # -P: the project is the working directory, and a file of it named like a
            # module (json.py, anthropic.py) must not shadow what the executor imports.
            argv=[
                sys.executable,
                "-P",
                "-m",
                "claude_pm.agents.executor",
                "--agent-type",
                definition.agent_type,
            ],
            env=env,
            cwd=root,
            run_dir=run_dir,
            timeout_s=timeout_s,
            memory=memory,
            sandbox=self._sandbox(backend, root, run_dir),
        )
        return PreparedRun(run_id, definition, request, backend, handoff, spec)

    def _sandbox(self, backend: str, root: Path, run_dir: Path) -> SandboxSpec | None:
        """What the run may write and reach in a sandbox, per the sandbox setting.

        The agent writes its project (or its worktree) and its run directory; a
        backend's own state under the user's home is writable when it declares it.
        """
        mode = self.settings.sandbox
        if mode is SandboxMode.OFF:
            return None
        home = self.settings.environ.get("HOME")
        extra = [Path(home) / name for name in BACKENDS[backend].home_writable] if home else []
        for path in extra:
            # A bind needs its source to exist: a backend's state directory is made here
            # (a file such as ~/.claude.json is left to the backend, outside the sandbox).
            if not path.suffix and not path.exists():
                try:
                    path.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    log.info("cannot create %s for the sandbox: %s", path, e)
        return SandboxSpec(
            writable=(root, run_dir, *extra),
            tmp_dir=run_dir / "tmp",
            network=self.settings.sandbox_network,
            required=mode is SandboxMode.REQUIRED,
        )

    def _ticket_snapshot(self) -> list[dict[str, Any]]:
        """The open tickets, for an agent that may see them (the child never opens the store)."""
        from claude_pm.tickets.store import TicketStore

        store = TicketStore(self.database)
        tickets = store.find(status="open", limit=TICKET_SNAPSHOT_LIMIT)
        tickets += store.find(status="in_progress", limit=TICKET_SNAPSHOT_LIMIT)
        return [t.to_dict() for t in tickets[:TICKET_SNAPSHOT_LIMIT]]

    def timeout_for(
        self, request: AgentRequest, definition: AgentDefinition | None = None
    ) -> float:
        """The run's timeout: the request's, else the agent's own, else the settings' default.

        Raises:
            AgentNotFound: when ``definition`` is not given and the type is unknown.
        """
        definition = definition or self.registry.get(request.agent_type)
        return float(request.timeout_s or definition.timeout_s or self.settings.default_timeout_s)

    def _limits(
        self, request: AgentRequest, definition: AgentDefinition
    ) -> tuple[float, MemoryLimits]:
        timeout_s = self.timeout_for(request, definition)
        hard = (
            request.memory_limit_mb
            or definition.memory_limit_mb
            or self.settings.default_memory_limit_mb
        )
        for name, value in (
            ("memory_warning", request.memory_warning_mb),
            ("memory_critical", request.memory_critical_mb),
        ):
            if value is not None and value > hard:
                raise InvalidInput(
                    f"{name} ({value:g} MB) must not exceed memory_limit ({hard:g} MB).",
                    field=name,
                    expected=f"at most {hard:g}",
                )
        mode = self.settings.memory_enforcement
        memory = MemoryLimits(
            hard_limit_mb=hard,
            warning_mb=request.memory_warning_mb,
            critical_mb=request.memory_critical_mb,
            kernel_enforcement=mode is not MemoryEnforcement.SAMPLING,
            use_rlimit=mode is MemoryEnforcement.RLIMIT,
        )
        return timeout_s, memory

    def _backend_config(self) -> dict[str, Any]:
        """The settings a backend may need in the child, which reads no configuration."""
        s = self.settings
        return {
            "model": s.model,
            "claude_code_path": s.claude_code_path,
            "claude_code_idle_timeout_s": s.claude_code_idle_timeout_s,
            "openai_base_url": s.openai_base_url,
            "openai_model": s.openai_model,
            "allow_bypass_permissions": s.allow_bypass_permissions,
            "sandbox_network": s.sandbox_network,
        }

    def _markers(self, handoff: Handoff, inline: str | None) -> dict[str, str]:
        s = self.settings
        markers = {
            contract.ENV_ORCHESTRATED: "true",
            contract.ENV_SESSION_ID: s.session_id,
            contract.ENV_FRAMEWORK_VERSION: s.framework_version,
            contract.ENV_PROJECT_ROOT: handoff.project_root,
            contract.ENV_LOG_LEVEL: s.log_level,
            contract.ENV_TICKET_AUTO_CREATE: str(s.ticket_auto_create).lower(),
            contract.ENV_HANDOFF_FILE: handoff.handoff_path,
            contract.ENV_TASK_FILE: handoff.task_file,
            contract.ENV_RESULT_FILE: handoff.result_file,
            contract.ENV_RUN_ID: handoff.run_id,
            contract.ENV_RUN_DIR: handoff.run_dir,
            contract.ENV_AGENT_TYPE: handoff.agent.agent_type,
        }
        if inline is not None:
            markers[contract.ENV_INLINE_CONTEXT] = inline
        return markers

    # -- 2. start ------------------------------------------------------------------------

    def start(self, prepared: PreparedRun) -> float:
        """Write the hand-off and record the run as started; returns the start time.

        Raises:
            ContextError: the hand-off cannot be written (the run directory is
                removed again, and the message names the path and the free space).
            StoreError: the start cannot be recorded (nothing is left behind).
        """
        try:
            prepared.handoff.write()
        except ValueError as e:
            _remove(prepared.run_dir)
            raise ContextError(f"context must be JSON-serialisable: {e}.", field="context") from e
        except OSError as e:
            _remove(prepared.run_dir)
            raise ContextError(
                f"Cannot write the run directory {str(prepared.run_dir)!r}: "
                f"{e.strerror or e}{_free_space(prepared.run_dir)}. Free some space or set "
                "CLAUDE_PM_STATE_DIR to a writable place.",
                field="state_dir",
                path=str(prepared.run_dir),
            ) from e
        started = time.time()
        try:
            self.runs.record_start(
                RunRecord(
                    run_id=prepared.run_id,
                    session_id=self.settings.session_id,
                    agent_type=prepared.definition.agent_type,
                    task=prepared.request.task_description,
                    status=RunStatus.RUNNING,
                    started_at=started,
                    run_dir=str(prepared.run_dir),
                    backend=prepared.backend,
                )
            )
        except StoreError:
            _remove(prepared.run_dir)
            raise
        log.info("run %s: agent %s started", prepared.run_id, prepared.definition.agent_type)
        return started

    # -- 3. launch -----------------------------------------------------------------------

    def launch(
        self,
        prepared: PreparedRun,
        *,
        cancel: CancelToken | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> ProcessResult:
        """Supervise the executor to its end (never raises for a process-level failure).

        The tree's identity is recorded as soon as it exists, so a later process can
        reclaim the tree should this one die (:meth:`RunStore.reclaim`).
        """

        def forward(event: ProcessEvent) -> None:
            rss = event.rss_bytes
            if rss is not None and rss > self._peaks.get(prepared.run_id, 0):
                self._peaks[prepared.run_id] = rss
            if event.kind is EventKind.TREE_STARTED:
                self.runs.record_tree_started(prepared.run_id, event)
            elif on_progress is not None:
                on_progress(progress_of(event))

        return self.launcher.run(prepared.spec, cancel=cancel, on_event=forward)

    # -- 4. finish -----------------------------------------------------------------------

    def finish(
        self,
        prepared: PreparedRun,
        process: ProcessResult,
        started: float,
        *,
        auto_create_tickets: bool | None = None,
        tickets_found: Iterable[Ticket] | None = None,
    ) -> AgentResult:
        """Merge the backend's report, file the tickets, record the end.

        ``tickets_found`` is for an executor that extracted them where the logs
        are (a Ray worker), one per finding; by default they are extracted
        here from ``stdout.log``, streamed.
        """
        report, report_error = _read_report(prepared)
        report_error = _disk_full(prepared, process, report) or report_error
        result = AgentResult(
            run_id=prepared.run_id,
            definition=prepared.definition,
            task_description=prepared.request.task_description,
            process=process,
            run_dir=prepared.run_dir,
            timeout_s=prepared.timeout_s,
            memory=prepared.memory,
            backend=prepared.backend,
            report=report,
            report_error=report_error,
        )
        self._peaks.pop(prepared.run_id, None)
        result = self._tickets(result, prepared, auto_create_tickets, tickets_found)
        error = None if result.success else result.summary()
        try:
            self.runs.record_end(_end_record(prepared, started, process, report, error))
        except StoreError as e:
            # The agent's work is done and its tickets saved: report, don't discard it.
            log.warning("run %s: outcome not recorded: %s", prepared.run_id, e)
            result = replace(result, record_error=e.message)
        log.info("run %s: %s", prepared.run_id, result.summary())
        return result

    def record_stopped(self, prepared: PreparedRun, started: float) -> None:
        """Record a run the orchestrator stopped before it had a result (``cancelled``).

        It keeps its wall time (to now) and the most memory its tree was seen holding.
        """
        peak = self._peaks.pop(prepared.run_id, None)
        record = _end_record(prepared, started, None, None, _STOPPED)
        now = time.time()
        self.runs.record_end(
            replace(record, finished_at=now, wall_time_s=now - started, peak_rss_bytes=peak)
        )

    def _tickets(
        self,
        result: AgentResult,
        prepared: PreparedRun,
        auto_create: bool | None,
        found_elsewhere: Iterable[Ticket] | None,
    ) -> AgentResult:
        """Extract tickets from the full stdout log and store them when auto-creation is on.

        Streamed in batches: memory does not grow with the number of findings
        (consecutive copies of a line are counted, not listed). The result
        keeps counts, the first ``max_tickets_listed`` ids and tickets, and
        the run id under which ``claude-pm tickets list --run`` shows them all.
        """
        if result.process.status is ProcessStatus.SPAWN_ERROR:
            return result
        from claude_pm.tickets.extractor import iter_counted_path
        from claude_pm.tickets.store import TicketStore
        from claude_pm.tickets.summary import TicketTally, summarize

        create = self.settings.ticket_auto_create if auto_create is None else auto_create
        tally = TicketTally(self.settings.max_tickets_listed, run=result.run_id)
        try:
            findings = (
                ((ticket, 1) for ticket in found_elsewhere)
                if found_elsewhere is not None
                else iter_counted_path(
                    result.process.stdout_path,
                    result.definition.agent_type,
                    project_root=prepared.handoff.project_root,
                )
            )
            if create:
                TicketStore(self.database).save_counted(
                    findings, source_run=result.run_id, tally=tally
                )
            else:
                summarize(findings, tally.keep, tally=tally)
        except (ClaudePMError, OSError) as e:
            # The run itself happened; losing its result over a ticket failure would be worse.
            log.warning("run %s: tickets not stored: %s", result.run_id, e)
            return replace(result, tickets=tally.summary(), ticket_error=str(e))
        return replace(result, tickets=tally.summary())

    # -- all four ------------------------------------------------------------------------

    def run(
        self,
        request: AgentRequest,
        *,
        cancel: CancelToken | None = None,
        on_progress: ProgressCallback | None = None,
        auto_create_tickets: bool | None = None,
    ) -> AgentResult:
        """Run one agent to the end and return what happened.

        A run that fails, times out or exceeds memory is a result, not an
        exception; only problems found before spawning raise.

        Raises:
            ClaudePMError: from :meth:`prepare` or :meth:`start`.
        """
        prepared = self.prepare(request)
        started = self.start(prepared)
        process: ProcessResult | None = None
        try:
            process = self.launch(prepared, cancel=cancel, on_progress=on_progress)
        finally:
            if process is None:
                self.record_stopped(prepared, started)
        return self.finish(prepared, process, started, auto_create_tickets=auto_create_tickets)


def _read_report(prepared: PreparedRun) -> tuple[BackendReport | None, str | None]:
    try:
        return BackendReport.read(prepared.handoff.result_file), None
    except HandoffError as e:
        log.warning("run %s: %s", prepared.run_id, e)
        return None, str(e)


def _end_record(
    prepared: PreparedRun,
    started: float,
    process: ProcessResult | None,
    report: BackendReport | None,
    error: str | None,
) -> RunRecord:
    """The stored outcome of a run; without a process result the run was cut short."""
    base: Mapping[str, Any] = {
        "run_id": prepared.run_id,
        "agent_type": prepared.definition.agent_type,
        "task": prepared.request.task_description,
        "started_at": started,
        "error": error,
        "backend": report.backend if report is not None else prepared.backend,
    }
    if process is None:
        return RunRecord(**base, status=RunStatus.CANCELLED)
    facts: dict[str, Any] = {}
    if report is not None:
        facts = {
            "model": report.model,
            "cost_usd": report.cost_usd,
            "usage": dict(report.usage),
            "backend_session_id": report.session_id,
            "stop_reason": report.stop_reason,
        }
    return RunRecord(
        **base,
        **facts,
        status=RunStatus.ended_as(process.status),
        finished_at=time.time(),
        wall_time_s=process.wall_time_s,
        cpu_time_s=process.cpu_time_s,
        peak_rss_bytes=process.peak_rss_bytes,
        enforcement=process.enforcement.value,
        exit_code=process.exit_code,
        signal=process.signal,
        stdout_path=str(process.stdout_path),
        stderr_path=str(process.stderr_path),
    )


def _disk_full(
    prepared: PreparedRun, process: ProcessResult, report: BackendReport | None
) -> str | None:
    """What to say about a run whose directory's filesystem filled up; None if it did not.

    A run that left nothing there (no output, no report) has its directory removed.
    """
    full = next((e for e in process.events if e.kind is EventKind.DISK_FULL), None)
    if full is None:
        return None
    sizes = []
    for path in (process.stdout_path, process.stderr_path):
        try:
            sizes.append(path.stat().st_size)
        except OSError:
            sizes.append(0)
    if report is not None or any(sizes):
        return full.message
    _remove(prepared.run_dir)
    log.warning(
        "run %s: removed %s: the disk is full and it held no output",
        prepared.run_id,
        prepared.run_dir,
    )
    return f"{full.message}; the run left no output, so its directory was removed"


def _remove(run_dir: Path) -> None:
    shutil.rmtree(run_dir, ignore_errors=True)


def _free_space(path: Path) -> str:
    for candidate in (path, *path.parents):
        try:
            free = shutil.disk_usage(candidate).free
        except OSError:
            continue
        return f" ({free / (1024 * 1024):.1f} MB free on that filesystem)"
    return ""


__all__ = ["AgentRequest", "AgentResult", "AgentRunner", "Launcher", "PreparedRun", "progress_of"]
