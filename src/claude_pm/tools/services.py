"""What a tool function gets: the settings and the services, built lazily once per handler."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from claude_pm.config import Settings

if TYPE_CHECKING:
    from claude_pm.agents.registry import AgentRegistry
    from claude_pm.state import Database

#: ``on_progress(message, progress, total)``: ``progress`` and ``total`` may be None.
ProgressCallback = Callable[[str, float | None, float | None], None]


@dataclass(frozen=True)
class CallOptions:
    """Per-call controls from the entry point: cancellation and progress reporting."""

    cancel: threading.Event | None = None
    on_progress: ProgressCallback | None = None

    def progress(self, message: str, done: float | None = None, total: float | None = None) -> None:
        if self.on_progress is not None:
            self.on_progress(message, done, total)


@dataclass
class ToolServices:
    """The services one handler shares across calls (registry cache, database handle)."""

    settings: Settings
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @cached_property
    def registry(self) -> AgentRegistry:
        from claude_pm.agents.registry import AgentRegistry

        with self._lock:
            return AgentRegistry.from_settings(self.settings)

    @cached_property
    def database(self) -> Database:
        from claude_pm.state import Database

        with self._lock:
            return Database(self.settings.db_path)


#: A tool implementation: validated arguments in, JSON-able result out; raises ClaudePMError.
ToolFunction = Callable[[ToolServices, dict[str, Any], CallOptions], dict[str, Any]]
