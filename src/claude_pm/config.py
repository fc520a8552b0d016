"""Settings, built in one place: defaults, environment, framework context, then flags.

The core reads no environment variables: entry points call :func:`load_settings`
and pass the result down.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from claude_pm._version import __version__
from claude_pm.errors import ContextError, InvalidInput

#: Environment variables the settings read (documented in the README).
ENV_PROJECT_ROOT = "CLAUDE_PM_PROJECT_ROOT"
ENV_USER_AGENTS_DIR = "CLAUDE_PM_USER_AGENTS_DIR"
ENV_TICKET_AUTO_CREATE = "CLAUDE_PM_TICKET_AUTO_CREATE"
ENV_LOG_LEVEL = "CLAUDE_PM_LOG_LEVEL"
ENV_STATE_DIR = "CLAUDE_PM_STATE_DIR"
ENV_MEMORY_ENFORCEMENT = "CLAUDE_PM_MEMORY_ENFORCEMENT"
ENV_ALLOWED_ROOTS = "CLAUDE_PM_ALLOWED_ROOTS"

#: ``auto``: a memory cgroup where the machine offers one, else sampling;
#: ``rlimit``: the same, but RLIMIT_AS instead of sampling alone when there is no
#: cgroup (it limits each process, not the tree, and breaks some runtimes);
#: ``sampling``: never ask the kernel, sample the tree every 100 ms.
MEMORY_ENFORCEMENT_MODES = ("auto", "rlimit", "sampling")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_bool(value: Any, *, field_name: str) -> bool:
    """Read a boolean from a flag, an env string or JSON, rejecting anything ambiguous."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidInput(
        f"{field_name} must be true or false, got {value!r}.", field=field_name, expected="boolean"
    )


@dataclass(frozen=True)
class Settings:
    """Everything the services need to know about where and how to run.

    ``state_dir`` holds ``state.db`` and the run directories (``runs/<run_id>``).
    """

    project_root: Path
    state_dir: Path
    user_agents_dir: Path
    ticket_auto_create: bool = True
    log_level: str = "INFO"
    default_timeout_s: float = 300.0
    default_memory_limit_mb: float = 1024.0
    memory_enforcement: str = "auto"
    #: Directories besides the project that a tool call's ``context.project_root`` may
    #: name (resolved). Set by the operator, never by the caller of a tool.
    allowed_project_roots: tuple[Path, ...] = ()
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    framework_version: str = __version__
    extra_context: Mapping[str, Any] = field(default_factory=dict)
    #: The orchestrator's environment, from which agents get only an allowlist.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def db_path(self) -> Path:
        return self.state_dir / "state.db"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    @property
    def project_agents_dir(self) -> Path:
        return self.project_root / ".claude" / "agents"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def existing_directory(value: Any, *, field_name: str) -> Path:
    """``value`` as an absolute path to an existing directory.

    Raises:
        ContextError: it does not exist or is not a directory, naming ``field_name``.
    """
    path = Path(str(value)).expanduser()
    if not path.exists():
        raise ContextError(
            f"{field_name} {str(path)!r} does not exist; pass an existing project directory.",
            field=field_name,
            path=str(path),
        )
    if not path.is_dir():
        raise ContextError(
            f"{field_name} {str(path)!r} is not a directory; pass the project's directory.",
            field=field_name,
            path=str(path),
        )
    return path.resolve()


def load_settings(
    framework_context: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    project_root: str | os.PathLike[str] | None = None,
    ticket_auto_create: bool | None = None,
) -> Settings:
    """Build settings from defaults, the environment, the framework context and explicit flags.

    Later sources win: the framework context a program passes is explicit
    configuration and beats the ambient environment (agents inherit
    ``CLAUDE_PM_PROJECT_ROOT`` from their orchestrator, for one); flags beat both.

    ``environ`` defaults to ``os.environ``; tests pass their own.

    Raises:
        ContextError: the project root does not exist or is not a directory.
        InvalidInput: a boolean or number setting cannot be read.
    """
    ctx = dict(framework_context or {})
    env = os.environ if environ is None else environ

    root_value: Any = ctx.get("project_root") or env.get(ENV_PROJECT_ROOT) or Path.cwd()
    if project_root is not None:
        root_value = project_root
    root = existing_directory(root_value, field_name="project_root")

    auto: Any = True
    if ENV_TICKET_AUTO_CREATE in env:
        auto = env[ENV_TICKET_AUTO_CREATE]
    if "ticket_auto_create" in ctx:
        auto = ctx["ticket_auto_create"]
    if ticket_auto_create is not None:
        auto = ticket_auto_create
    auto_bool = parse_bool(auto, field_name="ticket_auto_create")

    state_value = ctx.get("state_dir") or env.get(ENV_STATE_DIR)
    state_dir = Path(str(state_value)).expanduser() if state_value else root / ".claude-pm"

    user_value = ctx.get("user_agents_dir") or env.get(ENV_USER_AGENTS_DIR)
    user_dir = (
        Path(str(user_value)).expanduser() if user_value else Path.home() / ".claude" / "agents"
    )

    prefs = ctx.get("user_preferences") or {}
    timeout = prefs.get("timeout", ctx.get("default_timeout_s", 300.0))
    memory = ctx.get("default_memory_limit_mb", 1024.0)
    try:
        timeout_s = float(timeout)
        memory_mb = float(memory)
    except (TypeError, ValueError) as e:
        raise InvalidInput(
            "default timeout and memory limit must be numbers.", field="user_preferences"
        ) from e

    enforcement = str(
        ctx.get("memory_enforcement") or env.get(ENV_MEMORY_ENFORCEMENT) or "auto"
    ).lower()
    if enforcement not in MEMORY_ENFORCEMENT_MODES:
        raise InvalidInput(
            f"memory_enforcement must be one of {', '.join(MEMORY_ENFORCEMENT_MODES)}, "
            f"got {enforcement!r} (set it with {ENV_MEMORY_ENFORCEMENT}).",
            field="memory_enforcement",
            expected=" | ".join(MEMORY_ENFORCEMENT_MODES),
        )

    allowed = _allowed_roots(ctx.get("allowed_project_roots"), env.get(ENV_ALLOWED_ROOTS))

    known = {
        "allowed_project_roots",
        "memory_enforcement",
        "project_root",
        "ticket_auto_create",
        "state_dir",
        "user_agents_dir",
        "default_timeout_s",
        "default_memory_limit_mb",
        "log_level",
        "session_id",
    }
    return Settings(
        project_root=root,
        state_dir=state_dir,
        user_agents_dir=user_dir,
        ticket_auto_create=auto_bool,
        log_level=str(ctx.get("log_level") or env.get(ENV_LOG_LEVEL) or "INFO").upper(),
        default_timeout_s=timeout_s,
        default_memory_limit_mb=memory_mb,
        memory_enforcement=enforcement,
        allowed_project_roots=allowed,
        session_id=str(ctx.get("session_id") or uuid.uuid4().hex),
        extra_context={k: v for k, v in ctx.items() if k not in known},
        environ=dict(env),
    )


def _allowed_roots(from_context: Any, from_env: str | None) -> tuple[Path, ...]:
    """Extra project roots: the framework context's list wins over the environment's.

    The environment variable holds paths separated by ``os.pathsep``.

    Raises:
        ContextError: a listed root does not exist or is not a directory.
        InvalidInput: the framework context's value is not a list of paths.
    """
    if from_context is not None:
        if isinstance(from_context, (str, os.PathLike)) or not isinstance(
            from_context, (list, tuple)
        ):
            raise InvalidInput(
                "allowed_project_roots must be a list of directories.",
                field="allowed_project_roots",
                expected="a list of paths",
            )
        values = [str(v) for v in from_context]
    else:
        values = [v for v in (from_env or "").split(os.pathsep) if v.strip()]
    return tuple(
        dict.fromkeys(existing_directory(v, field_name="allowed_project_roots") for v in values)
    )
