"""The child-process contract, typed, both ways: the hand-off in, the result file out.

Parent to child: the runner writes a :class:`Handoff` as ``handoff.json`` in
the run directory (the task also alone as ``task.txt``) and names it in the
environment (:data:`ENV_HANDOFF_FILE`); the executor reads it back with
:meth:`Handoff.read`, which refuses any version but :data:`HANDOFF_VERSION`.
Large values never travel in argv or the environment (the kernel refuses
single strings over 128 KiB); a small context is also inline in
:data:`ENV_INLINE_CONTEXT` (base64 JSON) for programs that prefer it.

Child to parent: what a backend knows and the supervisor cannot see (which
model ran, tokens, cost, the backend's session id, why it stopped, rate-limit
events) goes into ``result.json`` (:class:`BackendReport`, versioned the same
way, written atomically). The runner merges it into the run's result and
record; a run without one (a ``command`` program that wrote none) simply has
no such facts.

This module is imported by the executor on every agent run: standard library
only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

HANDOFF_VERSION = 2
RESULT_VERSION = 1

HANDOFF_FILENAME = "handoff.json"
TASK_FILENAME = "task.txt"
RESULT_FILENAME = "result.json"

#: Largest base64 value put in :data:`ENV_INLINE_CONTEXT`; bigger contexts are only in the file.
INLINE_CONTEXT_MAX_BYTES = 64 * 1024

# The environment of an agent process: every name claude-pm sets, in one place.
ENV_ORCHESTRATED = "CLAUDE_PM_ORCHESTRATED"
ENV_SESSION_ID = "CLAUDE_PM_SESSION_ID"
ENV_FRAMEWORK_VERSION = "CLAUDE_PM_FRAMEWORK_VERSION"
ENV_PROJECT_ROOT = "CLAUDE_PM_PROJECT_ROOT"
ENV_LOG_LEVEL = "CLAUDE_PM_LOG_LEVEL"
ENV_TICKET_AUTO_CREATE = "CLAUDE_PM_TICKET_AUTO_CREATE"
#: The hand-off file (its historical name: it holds the context).
ENV_HANDOFF_FILE = "CLAUDE_PM_CONTEXT_FILE"
ENV_TASK_FILE = "CLAUDE_PM_TASK_FILE"
ENV_INLINE_CONTEXT = "CLAUDE_PM_CONTEXT"
ENV_RUN_ID = "CLAUDE_PM_RUN_ID"
ENV_RUN_DIR = "CLAUDE_PM_RUN_DIR"
ENV_AGENT_TYPE = "CLAUDE_PM_AGENT_TYPE"
ENV_RESULT_FILE = "CLAUDE_PM_RESULT_FILE"


class HandoffError(Exception):
    """The hand-off or result file is missing, unreadable, or of another version."""


@dataclass(frozen=True)
class AgentSpec:
    """The resolved agent definition, as much of it as a backend needs (no re-parsing)."""

    name: str
    agent_type: str
    description: str = ""
    system_prompt: str = ""
    tools: tuple[str, ...] | None = None
    model: str | None = None
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    #: Claude Code's own fields (``maxTurns``, ``permissionMode``, ``disallowedTools``...).
    claude_code: Mapping[str, Any] = field(default_factory=dict)
    source_path: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentSpec:
        tools = data.get("tools")
        return cls(
            name=str(data["name"]),
            agent_type=str(data["agent_type"]),
            description=str(data.get("description") or ""),
            system_prompt=str(data.get("system_prompt") or ""),
            tools=tuple(tools) if tools is not None else None,
            model=data.get("model"),
            backend_options=dict(data.get("backend_options") or {}),
            claude_code=dict(data.get("claude_code") or {}),
            source_path=data.get("source_path"),
        )


@dataclass(frozen=True)
class Handoff:
    """Everything the child needs to run one agent: the task, the context, the agent, the limits.

    ``backend`` is the backend that runs the agent (the definition's pin, else
    the configured default). ``backend_config`` carries the settings that
    backend needs (a CLI path, a base URL, a model, the bypass opt-in...), so
    the child reads no configuration of its own. The JSON form keeps the
    keys programs have read since version 1 (``task``, ``context``,
    ``project_root``, ``agent``, ``run_id``, ``task_file``).
    """

    run_id: str
    project_root: str
    run_dir: str
    task: str
    agent: AgentSpec
    backend: str
    context: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None
    memory_limit_mb: float | None = None
    budget_usd: float | None = None
    backend_config: Mapping[str, Any] = field(default_factory=dict)
    version: int = HANDOFF_VERSION

    @property
    def handoff_path(self) -> str:
        return os.path.join(self.run_dir, HANDOFF_FILENAME)  # noqa: PTH118 - no pathlib cost

    @property
    def task_file(self) -> str:
        return os.path.join(self.run_dir, TASK_FILENAME)  # noqa: PTH118

    @property
    def result_file(self) -> str:
        return os.path.join(self.run_dir, RESULT_FILENAME)  # noqa: PTH118

    def to_json(self) -> str:
        """The hand-off as JSON text.

        Raises:
            ValueError: the context cannot be carried as JSON (says which part).
        """
        data = asdict(self)
        data["task_file"] = self.task_file
        data["result_file"] = self.result_file
        try:
            return json.dumps(data, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError) as e:
            raise ValueError(f"the context cannot be carried as JSON: {e}") from e

    @classmethod
    def from_json(cls, text: str) -> Handoff:
        """Parse a hand-off written by :meth:`to_json`.

        Raises:
            HandoffError: not JSON, not a hand-off, or another version.
        """
        try:
            data = json.loads(text)
        except ValueError as e:
            raise HandoffError(f"the hand-off is not valid JSON: {e}") from e
        if not isinstance(data, dict):
            raise HandoffError("the hand-off is not a JSON object")
        version = data.get("version")
        if version != HANDOFF_VERSION:
            raise HandoffError(
                f"the hand-off is version {version!r}, this executor reads version "
                f"{HANDOFF_VERSION}: the orchestrator and the executor are from different "
                "claude-pm installations"
            )
        try:
            return cls(
                run_id=str(data["run_id"]),
                project_root=str(data["project_root"]),
                run_dir=str(data["run_dir"]),
                task=str(data["task"]),
                agent=AgentSpec.from_dict(data["agent"]),
                backend=str(data["backend"]),
                context=dict(data.get("context") or {}),
                timeout_s=data.get("timeout_s"),
                memory_limit_mb=data.get("memory_limit_mb"),
                budget_usd=data.get("budget_usd"),
                backend_config=dict(data.get("backend_config") or {}),
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise HandoffError(f"the hand-off lacks or mangles a field: {e}") from e

    def inline_context(self) -> str | None:
        """The context as base64 JSON for :data:`ENV_INLINE_CONTEXT`; None when too large.

        Raises:
            ValueError: the context cannot be carried as JSON.
        """
        try:
            context_json = json.dumps(dict(self.context), ensure_ascii=False)
        except (TypeError, ValueError, RecursionError) as e:
            raise ValueError(f"the context cannot be carried as JSON: {e}") from e
        if len(context_json) > INLINE_CONTEXT_MAX_BYTES:
            return None
        import base64  # orchestrator side only: the child never needs it

        encoded = base64.b64encode(context_json.encode("utf-8")).decode("ascii")
        return encoded if len(encoded) <= INLINE_CONTEXT_MAX_BYTES else None

    def write(self) -> None:
        """Write ``handoff.json`` and ``task.txt`` into ``run_dir`` (made if needed).

        Raises:
            ValueError: the context cannot be carried as JSON.
            OSError: the files cannot be written.
        """
        text = self.to_json()
        os.makedirs(self.run_dir, exist_ok=True)  # noqa: PTH103 - no pathlib in the child
        with open(self.task_file, "w", encoding="utf-8") as f:  # noqa: PTH123
            f.write(self.task)
        with open(self.handoff_path, "w", encoding="utf-8") as f:  # noqa: PTH123
            f.write(text)

    @classmethod
    def read(cls, path: str) -> Handoff:
        """Read the hand-off file at ``path``.

        Raises:
            HandoffError: missing, unreadable, malformed or of another version.
        """
        try:
            with open(path, encoding="utf-8") as f:  # noqa: PTH123
                text = f.read()
        except OSError as e:
            raise HandoffError(f"cannot read the hand-off {path!r}: {e.strerror or e}") from e
        return cls.from_json(text)


@dataclass(frozen=True)
class RateLimitEvent:
    """The backend was told to slow down: by whom, how, and until when.

    ``reset_at`` is seconds since the epoch (when the provider said it
    resets), ``retry_after_s`` how long it asked to wait; either may be None.
    """

    kind: str  # "rate_limited" or "overloaded"
    at: float
    retry_after_s: float | None = None
    reset_at: float | None = None
    message: str | None = None


@dataclass(frozen=True)
class BackendReport:
    """``result.json``: what the backend knows about the run that the supervisor cannot see.

    ``usage`` uses the Anthropic field names (``input_tokens``,
    ``output_tokens``, ``cache_read_input_tokens``,
    ``cache_creation_input_tokens``) whatever the provider. ``error_kind``
    classifies a failure that is not the agent's own fault (``rate_limited``,
    ``overloaded``, ``authentication``, ``connection``...), so a workflow can
    decide to retry; None for a run that ended normally or failed on its own.
    """

    backend: str
    model: str | None = None
    usage: Mapping[str, int] = field(default_factory=dict)
    cost_usd: float | None = None
    turns: int | None = None
    session_id: str | None = None
    stop_reason: str | None = None
    error: str | None = None
    error_kind: str | None = None
    rate_limits: tuple[RateLimitEvent, ...] = ()
    version: int = RESULT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> BackendReport:
        """Parse a result file.

        Raises:
            HandoffError: not JSON, not a result, or another version.
        """
        try:
            data = json.loads(text)
        except ValueError as e:
            raise HandoffError(f"the result file is not valid JSON: {e}") from e
        if not isinstance(data, dict) or data.get("version") != RESULT_VERSION:
            version = data.get("version") if isinstance(data, dict) else None
            raise HandoffError(
                f"the result file is version {version!r}; this claude-pm reads {RESULT_VERSION}"
            )
        try:
            usage = {str(k): int(v) for k, v in (data.get("usage") or {}).items()}
            limits = tuple(RateLimitEvent(**item) for item in data.get("rate_limits") or ())
            return cls(
                backend=str(data["backend"]),
                model=data.get("model"),
                usage=usage,
                cost_usd=None if data.get("cost_usd") is None else float(data["cost_usd"]),
                turns=data.get("turns"),
                session_id=data.get("session_id"),
                stop_reason=data.get("stop_reason"),
                error=data.get("error"),
                error_kind=data.get("error_kind"),
                rate_limits=limits,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise HandoffError(f"the result file lacks or mangles a field: {e}") from e

    def write(self, path: str) -> None:
        """Write atomically (a temporary file renamed over ``path``), so a reader never
        sees half a report.

        Raises:
            OSError: it cannot be written.
        """
        temporary = f"{path}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:  # noqa: PTH123
            f.write(self.to_json())
        os.replace(temporary, path)  # noqa: PTH105

    @classmethod
    def read(cls, path: str) -> BackendReport | None:
        """The report at ``path``; None when the backend wrote none.

        Raises:
            HandoffError: a file is there but cannot be read as a report.
        """
        try:
            with open(path, encoding="utf-8") as f:  # noqa: PTH123
                text = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise HandoffError(f"cannot read the result file {path!r}: {e.strerror or e}") from e
        return cls.from_json(text)


__all__ = [
    "ENV_AGENT_TYPE",
    "ENV_FRAMEWORK_VERSION",
    "ENV_HANDOFF_FILE",
    "ENV_INLINE_CONTEXT",
    "ENV_LOG_LEVEL",
    "ENV_ORCHESTRATED",
    "ENV_PROJECT_ROOT",
    "ENV_RESULT_FILE",
    "ENV_RUN_DIR",
    "ENV_RUN_ID",
    "ENV_SESSION_ID",
    "ENV_TASK_FILE",
    "ENV_TICKET_AUTO_CREATE",
    "HANDOFF_VERSION",
    "RESULT_VERSION",
    "AgentSpec",
    "BackendReport",
    "Handoff",
    "HandoffError",
    "RateLimitEvent",
]
