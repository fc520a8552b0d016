"""One agent execution, orchestrator side.

Look the agent up, check and filter its context, write the hand-off, supervise
``python -m claude_pm.agents.executor`` under the run's limits, extract tickets
from what it printed, and record the run in SQLite.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.agents.backends import unavailable_reason
from claude_pm.agents.definition import AgentDefinition
from claude_pm.agents.runs import RunRecord, RunStatus, RunStore, new_run_id
from claude_pm.config import Settings
from claude_pm.context import (
    build_environment,
    check_file_paths,
    filter_context,
    resolve_project_root,
    write_handoff,
)
from claude_pm.errors import BackendUnavailable, ClaudePMError, InvalidInput, StoreError
from claude_pm.process import (
    MemoryLimits,
    ProcessEvent,
    ProcessResult,
    ProcessSpec,
    ProcessStatus,
    run_process,
)
from claude_pm.state import Database

if TYPE_CHECKING:
    from claude_pm.agents.registry import AgentRegistry
    from claude_pm.tickets.model import Ticket
    from claude_pm.tickets.store import SavedTicket

log = logging.getLogger(__name__)

#: Supervisor events passed on to a progress callback (samples are throttled).
EventCallback = Callable[[ProcessEvent], None]


@dataclass(frozen=True)
class AgentRequest:
    """What the caller asks for. Limits left as None come from the definition, then settings."""

    agent_type: str
    task_description: str
    context: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None
    memory_limit_mb: float | None = None
    memory_warning_mb: float | None = None
    memory_critical_mb: float | None = None


@dataclass(frozen=True)
class AgentResult:
    """The outcome of one agent run; ``process`` holds every measured fact."""

    run_id: str
    definition: AgentDefinition
    task_description: str
    process: ProcessResult
    run_dir: Path
    timeout_s: float
    memory: MemoryLimits
    tickets_found: tuple[Ticket, ...] = ()
    tickets_saved: tuple[SavedTicket, ...] = ()
    ticket_error: str | None = None
    record_error: str | None = None

    @property
    def success(self) -> bool:
        return self.process.status is ProcessStatus.COMPLETED

    @property
    def status(self) -> ProcessStatus:
        return self.process.status

    def summary(self) -> str:
        """One sentence on how the run ended, for errors and the CLI."""
        p = self.process
        name = self.definition.agent_type
        if p.status is ProcessStatus.COMPLETED:
            return f"agent {name} completed in {p.wall_time_s:.2f}s"
        if p.status is ProcessStatus.TIMEOUT:
            return f"agent {name} timed out after {self.timeout_s:g}s and was killed"
        if p.status is ProcessStatus.MEMORY_EXCEEDED:
            return (
                f"agent {name} exceeded its memory limit of {self.memory.hard_limit_mb:g} MB "
                f"(peak {p.peak_rss_mb:.1f} MB, enforced by {p.enforcement}) and was killed"
            )
        if p.status is ProcessStatus.CANCELLED:
            return f"agent {name} was cancelled and its process tree killed"
        if p.status is ProcessStatus.SPAWN_ERROR:
            return f"agent {name} could not be started: {p.error}"
        how = f"signal {p.signal}" if p.signal is not None else f"exit code {p.exit_code}"
        return f"agent {name} failed with {how}"


_STOPPED = "the orchestrator stopped during the run"


def _end_record(
    run_id: str,
    definition: AgentDefinition,
    request: AgentRequest,
    started: float,
    process: ProcessResult | None,
    error: str | None,
) -> RunRecord:
    """The stored outcome of a run; without a process result the run was cut short."""
    if process is None:
        return RunRecord(
            run_id=run_id,
            agent_type=definition.agent_type,
            task=request.task_description,
            status=RunStatus.CANCELLED,
            started_at=started,
            error=error,
        )
    return RunRecord(
        run_id=run_id,
        agent_type=definition.agent_type,
        task=request.task_description,
        status=RunStatus.ended_as(process.status),
        started_at=started,
        finished_at=time.time(),
        wall_time_s=process.wall_time_s,
        cpu_time_s=process.cpu_time_s,
        peak_rss_bytes=process.peak_rss_bytes,
        enforcement=process.enforcement.value,
        exit_code=process.exit_code,
        signal=process.signal,
        stdout_path=str(process.stdout_path),
        stderr_path=str(process.stderr_path),
        error=error,
    )


class AgentRunner:
    """Runs agents for one project; thread-safe (workflows call it from several threads)."""

    def __init__(self, settings: Settings, registry: AgentRegistry, database: Database) -> None:
        self.settings = settings
        self.registry = registry
        self.database = database
        self.runs = RunStore(database)

    def prepare(self, request: AgentRequest) -> tuple[AgentDefinition, Path, dict[str, Any]]:
        """Resolve the agent and check the context, before anything is spawned.

        Raises:
            AgentNotFound: unknown agent type (the message lists the valid ones).
            BackendUnavailable: the agent's backend cannot run in this version.
            ContextError: project_root or file_paths are unusable.
        """
        definition = self.registry.get(request.agent_type)
        reason = unavailable_reason(definition.backend)
        if reason is None:
            from importlib import import_module

            from claude_pm.agents.backends import BACKENDS

            backend = import_module(BACKENDS[str(definition.backend)])
            problems = backend.check_options(definition.backend_options)
            if problems:
                reason = "; ".join(problems)
        if reason is not None:
            where = f" (defined in {definition.source_path})" if definition.source_path else ""
            raise BackendUnavailable(
                f"Agent {definition.agent_type!r}{where} cannot run: {reason}.",
                agent_type=definition.agent_type,
                backend=definition.backend,
            )
        context = dict(request.context)
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
        return definition, root, visible

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
            kernel_enforcement=mode != "sampling",
            use_rlimit=mode == "rlimit",
        )
        return float(timeout_s), memory

    def run(
        self,
        request: AgentRequest,
        *,
        cancel: threading.Event | None = None,
        on_event: EventCallback | None = None,
        auto_create_tickets: bool | None = None,
    ) -> AgentResult:
        """Run one agent to the end and return what happened.

        A run that fails, times out or exceeds memory is a result, not an
        exception; only problems found before spawning raise.

        Raises:
            ClaudePMError: from :meth:`prepare`, or an invalid limit.
        """
        definition, root, visible = self.prepare(request)
        timeout_s, memory = self._limits(request, definition)
        run_id = new_run_id()
        run_dir = self.settings.runs_dir / run_id
        handoff = write_handoff(
            run_dir,
            run_id=run_id,
            agent=definition.to_handoff(),
            task=request.task_description,
            context=visible,
            project_root=root,
        )
        markers = {
            "CLAUDE_PM_ORCHESTRATED": "true",
            "CLAUDE_PM_SESSION_ID": self.settings.session_id,
            "CLAUDE_PM_FRAMEWORK_VERSION": self.settings.framework_version,
            "CLAUDE_PM_PROJECT_ROOT": str(root),
            "CLAUDE_PM_LOG_LEVEL": self.settings.log_level,
            "CLAUDE_PM_TICKET_AUTO_CREATE": str(self.settings.ticket_auto_create).lower(),
            "CLAUDE_PM_CONTEXT_FILE": str(handoff.handoff_path),
            "CLAUDE_PM_TASK_FILE": str(handoff.task_path),
            "CLAUDE_PM_RUN_ID": run_id,
            "CLAUDE_PM_RUN_DIR": str(run_dir),
            "CLAUDE_PM_AGENT_TYPE": definition.agent_type,
        }
        if handoff.inline_context is not None:
            markers["CLAUDE_PM_CONTEXT"] = handoff.inline_context
        env = build_environment(self.settings.environ, definition.env, markers)
        spec = ProcessSpec(
            argv=[
                sys.executable,
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
        )
        started = time.time()
        self.runs.record_start(
            RunRecord(
                run_id=run_id,
                session_id=self.settings.session_id,
                agent_type=definition.agent_type,
                task=request.task_description,
                status=RunStatus.RUNNING,
                started_at=started,
                run_dir=str(run_dir),
            )
        )
        log.info("run %s: agent %s started", run_id, definition.agent_type)
        process: ProcessResult | None = None
        try:
            process = run_process(spec, cancel=cancel, on_event=on_event)
        finally:
            if process is None:
                self.runs.record_end(
                    _end_record(run_id, definition, request, started, None, _STOPPED)
                )
        result = AgentResult(
            run_id=run_id,
            definition=definition,
            task_description=request.task_description,
            process=process,
            run_dir=run_dir,
            timeout_s=timeout_s,
            memory=memory,
        )
        result = self._tickets(result, auto_create_tickets)
        error = None if result.success else result.summary()
        try:
            self.runs.record_end(_end_record(run_id, definition, request, started, process, error))
        except StoreError as e:
            # The agent's work is done and its tickets saved: report, don't discard it.
            log.warning("run %s: outcome not recorded: %s", run_id, e)
            result = replace(result, record_error=e.message)
        log.info("run %s: %s", run_id, result.summary())
        return result

    def _tickets(self, result: AgentResult, auto_create: bool | None) -> AgentResult:
        """Extract tickets from the full stdout log and store them when auto-creation is on."""
        if result.process.status is ProcessStatus.SPAWN_ERROR:
            return result
        from claude_pm.tickets.extractor import extract_path
        from claude_pm.tickets.store import TicketStore

        create = self.settings.ticket_auto_create if auto_create is None else auto_create
        found: list[Ticket] = []
        saved: list[SavedTicket] = []
        try:
            found = extract_path(result.process.stdout_path, result.definition.agent_type)
            if found and create:
                saved = TicketStore(self.database).save(found, source_run=result.run_id)
        except (ClaudePMError, OSError) as e:
            # The run itself happened; losing its result over a ticket failure would be worse.
            log.warning("run %s: tickets not stored: %s", result.run_id, e)
            return replace(result, tickets_found=tuple(found), ticket_error=str(e))
        return replace(result, tickets_found=tuple(found), tickets_saved=tuple(saved))
