"""The settings claude-pm has: their value types, parsers, defaults and meaning.

:data:`FIELDS` is the one table of settings; :mod:`claude_pm.config.settings`
builds :class:`~claude_pm.config.settings.Settings` from it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from claude_pm.errors import ContextError, InvalidInput


class MemoryEnforcement(StrEnum):
    """How a run's memory limit is held (see the README's "What supervision guarantees").

    ``auto``: a memory cgroup where the machine offers one, else sampling;
    ``rlimit``: the same, but RLIMIT_AS instead of sampling alone when there is no
    cgroup (it limits each process, not the tree, and breaks some runtimes);
    ``sampling``: never ask the kernel, sample the tree every 100 ms.
    """

    AUTO = "auto"
    RLIMIT = "rlimit"
    SAMPLING = "sampling"


class SandboxMode(StrEnum):
    """Whether agents run in a sandbox (bubblewrap on Linux).

    ``auto``: when the machine has one, else without; ``required``: a machine
    without one is an error, never a silent downgrade; ``off``: never.
    """

    OFF = "off"
    AUTO = "auto"
    REQUIRED = "required"


class ExecutorKind(StrEnum):
    """Where workflow tasks run: threads of this process, or a Ray cluster."""

    LOCAL = "local"
    RAY = "ray"


class Source(StrEnum):
    """Where a setting's value came from."""

    DEFAULT = "default"
    USER_FILE = "user file"
    PROJECT_FILE = "project file"
    ENVIRONMENT = "environment"
    FRAMEWORK_CONTEXT = "framework context"
    FLAG = "flag"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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
        f"{field_name} must be true or false, got {value!r:.80}.",
        field=field_name,
        expected="boolean",
    )


def existing_directory(value: Any, *, field_name: str) -> Path:
    """``value`` as an absolute path to an existing directory.

    Raises:
        ContextError: it does not exist or is not a directory, naming ``field_name``.
    """
    try:
        path = Path(str(value)).expanduser()
        exists, is_dir = path.exists(), path.is_dir()
    except (ValueError, OSError) as e:  # a NUL byte, a name too long...
        raise ContextError(
            f"{field_name} {str(value)!r:.120} is not a usable path ({e}).",
            field=field_name,
            path=str(value)[:200],
        ) from e
    if not exists:
        raise ContextError(
            f"{field_name} {str(path)!r} does not exist; pass an existing project directory.",
            field=field_name,
            path=str(path),
        )
    if not is_dir:
        raise ContextError(
            f"{field_name} {str(path)!r} is not a directory; pass the project's directory.",
            field=field_name,
            path=str(path),
        )
    return path.resolve()


# -- parsers: (raw value, setting name) -> typed value; raise InvalidInput ---------------


def _text(value: Any, name: str) -> str:
    text = str(value).strip()
    if not text:
        raise InvalidInput(f"{name} must not be empty.", field=name, expected="text")
    return text


def _optional_text(value: Any, name: str) -> str | None:
    text = str(value).strip()
    return text or None


def _bool(value: Any, name: str) -> bool:
    return parse_bool(value, field_name=name)


def _number(*, minimum: float, integer: bool = False) -> Callable[[Any, str], Any]:
    def parse(value: Any, name: str) -> Any:
        expected = f"{'an integer' if integer else 'a number'} of at least {minimum:g}"
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number < minimum or (integer and number != int(number)):
            raise InvalidInput(
                f"{name} must be {expected}, got {value!r:.80}.", field=name, expected=expected
            )
        return int(number) if integer else number

    return parse


def _optional_number(*, minimum: float) -> Callable[[Any, str], float | None]:
    parse = _number(minimum=minimum)

    def optional(value: Any, name: str) -> float | None:
        if value is None or str(value).strip() == "":
            return None
        result: float = parse(value, name)
        return result

    return optional


def _choice(enum: type[StrEnum]) -> Callable[[Any, str], Any]:
    def parse(value: Any, name: str) -> Any:
        try:
            return enum(str(value).strip().lower())
        except ValueError:
            choices = ", ".join(member.value for member in enum)
            raise InvalidInput(
                f"{name} must be one of {choices}, got {value!r:.80}.",
                field=name,
                expected=" | ".join(member.value for member in enum),
            ) from None

    return parse


def _log_level(value: Any, name: str) -> str:
    level = str(value).strip().upper()
    if level not in _LOG_LEVELS:
        raise InvalidInput(
            f"{name} must be one of {', '.join(_LOG_LEVELS)}, got {value!r:.80}.",
            field=name,
            expected=" | ".join(_LOG_LEVELS),
        )
    return level


def _directory_path(value: Any, name: str) -> Path:
    return Path(_text(value, name)).expanduser()


def _directories(value: Any, name: str) -> tuple[Path, ...]:
    """A list of existing directories: a JSON list, or text separated by ``os.pathsep``."""
    if isinstance(value, str):
        items = [v for v in value.split(os.pathsep) if v.strip()]
    elif isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        raise InvalidInput(
            f"{name} must be a list of directories.", field=name, expected="a list of paths"
        )
    return tuple(dict.fromkeys(existing_directory(v, field_name=name) for v in items))


@dataclass(frozen=True)
class Field:
    """One setting: where it is read from, how it is parsed, what it means."""

    name: str
    parse: Callable[[Any, str], Any]
    default: Any
    doc: str
    env: str | None = None
    #: Framework-context key; a dotted key reads a nested mapping (``user_preferences.timeout``).
    context_keys: tuple[str, ...] = ()
    #: Read only from flags, the environment and the user's own files, never a project's.
    security: bool = False


def _env(name: str) -> str:
    return f"CLAUDE_PM_{name}"


#: Every setting, in the order the README's configuration table lists them.
FIELDS: tuple[Field, ...] = (
    Field("project_root", _text, None, "the project directory (default: the current one)",
          _env("PROJECT_ROOT"), ("project_root",)),
    Field("state_dir", _directory_path, None,
          "where state.db and the run directories live (default PROJECT/.claude-pm)",
          _env("STATE_DIR"), ("state_dir",)),
    Field("user_agents_dir", _directory_path, None,
          "the user tier of agent definitions (default ~/.claude/agents)",
          _env("USER_AGENTS_DIR"), ("user_agents_dir",)),
    Field("ticket_auto_create", _bool, True, "store the tickets found in agent output",
          _env("TICKET_AUTO_CREATE"), ("ticket_auto_create",)),
    Field("log_level", _log_level, "INFO", "log level passed to agents",
          _env("LOG_LEVEL"), ("log_level",)),
    Field("default_timeout_s", _number(minimum=1), 300.0,
          "timeout of a run whose call and agent name none, in seconds",
          _env("TIMEOUT"), ("user_preferences.timeout", "default_timeout_s")),
    Field("default_memory_limit_mb", _number(minimum=16), 1024.0,
          "memory limit of a run whose call and agent name none, in MB",
          _env("MEMORY_LIMIT"), ("user_preferences.memory_limit", "default_memory_limit_mb")),
    Field("memory_enforcement", _choice(MemoryEnforcement), MemoryEnforcement.AUTO,
          "auto, rlimit or sampling (see What supervision guarantees)",
          _env("MEMORY_ENFORCEMENT"), ("memory_enforcement",)),
    Field("allowed_project_roots", _directories, (),
          "directories besides the project that a call's context.project_root may name",
          _env("ALLOWED_ROOTS"), ("allowed_project_roots",), security=True),
    Field("sandbox", _choice(SandboxMode), SandboxMode.AUTO,
          "run agents in a sandbox: auto (when the machine has one), required, off",
          _env("SANDBOX"), ("sandbox",), security=True),
    Field("sandbox_network", _bool, True,
          "sandboxed agents may use the network (false: every sandboxed agent runs without it)",
          _env("SANDBOX_NETWORK"), ("sandbox_network",), security=True),
    Field("allow_bypass_permissions", _bool, False,
          "let a claude-code agent that asks for permissionMode bypassPermissions have it",
          _env("ALLOW_BYPASS_PERMISSIONS"), ("allow_bypass_permissions",), security=True),
    Field("default_backend", _text, "builtin",
          "backend of agents whose definition pins none (builtin, claude-code, anthropic, openai)",
          _env("BACKEND"), ("backend",)),
    Field("model", _optional_text, None,
          "default model of the PM loop and of agents on claude-code or anthropic that name none",
          _env("MODEL"), ("model",)),
    Field("claude_code_path", _optional_text, None,
          "the Claude Code CLI (default: claude on PATH, else the one in claude-agent-sdk)",
          _env("CLAUDE_PATH"), ("claude_code_path",)),
    Field("claude_code_idle_timeout_s", _number(minimum=1), 900.0,
          "end a claude-code run whose event stream is silent this long, in seconds",
          _env("CLAUDE_IDLE_TIMEOUT"), ("claude_code_idle_timeout_s",)),
    Field("openai_base_url", _optional_text, None,
          "OpenAI-compatible endpoint of the openai backend and `pm --provider openai`",
          _env("OPENAI_BASE_URL"), ("openai_base_url",)),
    Field("openai_model", _optional_text, None,
          "model of the openai backend and `pm --provider openai`",
          _env("OPENAI_MODEL"), ("openai_model",)),
    Field("max_report_bytes", _number(minimum=256, integer=True), 16384,
          "bytes of an agent's report returned to the model (the rest stays in the logs)",
          _env("MAX_REPORT_BYTES"), ("max_report_bytes",)),
    Field("max_tickets_listed", _number(minimum=1, integer=True), 50,
          "ticket ids listed in one tool result (counts cover the rest)",
          _env("MAX_TICKETS_LISTED"), ("max_tickets_listed",)),
    Field("max_ticket_input_bytes", _number(minimum=1024, integer=True), 8 * 1024 * 1024,
          "largest output_text create_tickets_from_output accepts",
          _env("MAX_TICKET_INPUT_BYTES"), ("max_ticket_input_bytes",)),
    Field("run_budget_usd", _optional_number(minimum=0), None,
          "dollar cap of one LLM agent run when the call names none",
          _env("RUN_BUDGET_USD"), ("run_budget_usd",)),
    Field("workflow_budget_usd", _optional_number(minimum=0), None,
          "dollar cap of a workflow when the call names none",
          _env("WORKFLOW_BUDGET_USD"), ("workflow_budget_usd",)),
    Field("executor", _choice(ExecutorKind), ExecutorKind.LOCAL,
          "where workflow tasks run: local or ray",
          _env("EXECUTOR"), ("executor",)),
    Field("ray_address", _optional_text, None,
          "the Ray cluster of the ray executor (default: start a local one)",
          _env("RAY_ADDRESS"), ("ray_address",)),
    Field("runs_retention_days", _optional_number(minimum=0), None,
          "`runs prune` removes run directories older than this many days",
          _env("RUNS_RETENTION_DAYS"), ("runs_retention_days",)),
)  # fmt: skip

FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
