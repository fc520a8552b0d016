"""Settings, built in one place from one field table.

Each setting is a :class:`Field`: its name, the framework-context key and the
environment variable it is read from, how its text is parsed and checked, its
default, and what it means (the README's configuration table says the same;
a test holds the two together). Precedence, later wins::

    defaults < user file < project file < environment < framework context < flags

The framework context a program passes (``ClaudeToolHandler({...})``) is
explicit configuration and beats the ambient environment (agents inherit
``CLAUDE_PM_PROJECT_ROOT`` from their orchestrator, for one); flags are the
entry point's own arguments. The files are the user's own
(``~/.config/claude-pm/config.toml``) and the project's (``[tool.claude-pm]``
in ``pyproject.toml``, ``.claude-pm/config.toml``): see
:mod:`claude_pm.config.files`. Settings marked ``security`` (the allowed
project roots, the sandbox, the bypass-permissions opt-in, the agents'
network) are never read from a project's file.

The core reads no environment variables: entry points call
:func:`load_settings` and pass the result down. ``Settings.sources`` says where
each value came from.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claude_pm._version import __version__
from claude_pm.config.fields import (
    FIELDS,
    FIELDS_BY_NAME,
    ExecutorKind,
    MemoryEnforcement,
    SandboxMode,
    Source,
    existing_directory,
)
from claude_pm.config.files import FileValues, read_project_files, read_user_file
from claude_pm.errors import InvalidInput

#: Framework-context keys of the reference design that configure claude-pm itself and
#: are therefore not handed to agents as context.
_FRAMEWORK_KEYS = frozenset({"framework_version", "user_preferences", "session_id"})


@dataclass(frozen=True)
class Settings:
    """Everything the services need to know about where and how to run.

    ``state_dir`` holds ``state.db`` and the run directories (``runs/<run_id>``).
    Each field is described in :data:`FIELDS`.
    """

    project_root: Path
    state_dir: Path
    user_agents_dir: Path
    ticket_auto_create: bool = True
    log_level: str = "INFO"
    default_timeout_s: float = 300.0
    default_memory_limit_mb: float = 1024.0
    memory_enforcement: MemoryEnforcement = MemoryEnforcement.AUTO
    allowed_project_roots: tuple[Path, ...] = ()
    sandbox: SandboxMode = SandboxMode.AUTO
    sandbox_network: bool = True
    allow_bypass_permissions: bool = False
    default_backend: str = "builtin"
    model: str | None = None
    claude_code_path: str | None = None
    claude_code_idle_timeout_s: float = 900.0
    openai_base_url: str | None = None
    openai_model: str | None = None
    max_report_bytes: int = 16384
    max_tickets_listed: int = 50
    max_ticket_input_bytes: int = 8 * 1024 * 1024
    run_budget_usd: float | None = None
    workflow_budget_usd: float | None = None
    executor: ExecutorKind = ExecutorKind.LOCAL
    ray_address: str | None = None
    runs_retention_days: float | None = None
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    framework_version: str = __version__
    #: Framework-context keys that are no setting: handed to agents as context.
    extra_context: Mapping[str, Any] = field(default_factory=dict)
    #: The orchestrator's environment, from which agents get only an allowlist.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Setting name -> where its value came from (:class:`Source`).
    sources: Mapping[str, Source] = field(default_factory=dict, repr=False)
    #: Setting name -> where exactly ("environment (CLAUDE_PM_BACKEND)", a file's path...).
    origins: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: What the settings files said that was ignored, and why.
    ignored: tuple[str, ...] = field(default=(), repr=False)

    @property
    def db_path(self) -> Path:
        return self.state_dir / "state.db"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    @property
    def project_agents_dir(self) -> Path:
        return self.project_root / ".claude" / "agents"


def _context_value(ctx: Mapping[str, Any], key: str) -> Any:
    """``ctx[key]``, following dots into nested mappings; None when absent or null."""
    value: Any = ctx
    for part in key.split("."):
        if not isinstance(value, Mapping) or value.get(part) is None:
            return None
        value = value[part]
    return value


Raw = dict[str, tuple[Any, Source, str]]


def _raw_values(
    ctx: Mapping[str, Any],
    env: Mapping[str, str],
    flags: Mapping[str, Any],
    files: Sequence[tuple[FileValues, Source]] = (),
) -> Raw:
    """The winning raw value of each setting that has one, its source and where exactly."""
    raw: Raw = {}
    for found, source in files:
        for name, value in found.values.items():
            raw[name] = (value, source, str(found.path))
    for spec in FIELDS:
        if spec.env is not None and env.get(spec.env, "") != "":
            raw[spec.name] = (env[spec.env], Source.ENVIRONMENT, spec.env)
        for key in reversed(spec.context_keys):  # the first key listed wins
            value = _context_value(ctx, key)
            if value is not None and value != "":
                raw[spec.name] = (value, Source.FRAMEWORK_CONTEXT, key)
                break
        if flags.get(spec.name) is not None:
            raw[spec.name] = (flags[spec.name], Source.FLAG, spec.name)
    return raw


def load_settings(
    framework_context: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    read_files: bool = True,
    **flags: Any,
) -> Settings:
    """Build settings from defaults, files, the environment, the framework context and flags.

    ``flags`` are keyword arguments named like the settings (``project_root=...``,
    ``ticket_auto_create=False``, ``default_backend="claude-code"``); ``None``
    means "not given". ``environ`` defaults to ``os.environ``; tests pass their
    own. ``read_files=False`` leaves out the user's and the project's files
    (see :mod:`claude_pm.config.files`); the project root is never read from them.

    Raises:
        ContextError: the project root (or an allowed root) does not exist or is
            not a directory.
        InvalidInput: a value cannot be read, naming the setting and what it takes,
            a flag names no setting, or a settings file is not usable.
    """
    unknown = sorted(set(flags) - set(FIELDS_BY_NAME))
    if unknown:
        raise InvalidInput(f"Unknown setting(s): {', '.join(unknown)}.", field=unknown[0])
    ctx = dict(framework_context or {})
    env = os.environ if environ is None else environ
    first = _raw_values(ctx, env, flags)
    root_raw = first.get("project_root", (None, Source.DEFAULT, ""))[0]
    root_text = FIELDS_BY_NAME["project_root"].parse(root_raw, "project_root") if root_raw else None
    root = existing_directory(root_text or Path.cwd(), field_name="project_root")
    files: list[tuple[FileValues, Source]] = []
    if read_files:
        user = read_user_file(env)
        if user is not None:
            files.append((user, Source.USER_FILE))
        files += [(found, Source.PROJECT_FILE) for found in read_project_files(root)]
    raw = _raw_values(ctx, env, flags, files) if files else first
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    origins: dict[str, str] = {}
    for spec in FIELDS:
        value, source, where = raw.get(spec.name, (spec.default, Source.DEFAULT, ""))
        sources[spec.name] = source
        origins[spec.name] = f"{source.value} ({where})" if where else source.value
        if source is not Source.DEFAULT:
            value = spec.parse(value, spec.name)
        values[spec.name] = value
    values["project_root"] = root
    values["state_dir"] = values["state_dir"] or root / ".claude-pm"
    values["user_agents_dir"] = values["user_agents_dir"] or Path.home() / ".claude" / "agents"
    known = {key.split(".")[0] for spec in FIELDS for key in spec.context_keys}
    extra = {k: v for k, v in ctx.items() if k not in known and k not in _FRAMEWORK_KEYS}
    return Settings(
        **values,
        session_id=str(ctx.get("session_id") or uuid.uuid4().hex),
        extra_context=extra,
        environ=dict(env),
        sources=sources,
        origins=origins,
        ignored=tuple(note for found, _ in files for note in found.ignored),
    )
