"""What a tool function gets: the settings and the services, built lazily once per handler."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from claude_pm.cancel import CancelToken
from claude_pm.config import Settings

if TYPE_CHECKING:
    from claude_pm.agents.registry import AgentRegistry
    from claude_pm.state import Database

#: ``on_progress(message, progress, total)``: ``progress`` and ``total`` may be None.
ProgressCallback = Callable[[str, float | None, float | None], None]


@dataclass(frozen=True)
class CallOptions:
    """Per-call controls from the entry point: cancellation and progress reporting."""

    cancel: CancelToken | None = None
    on_progress: ProgressCallback | None = None

    def progress(self, message: str, done: float | None = None, total: float | None = None) -> None:
        if self.on_progress is not None:
            self.on_progress(message, done, total)


class ToolServices:
    """The services one handler shares across calls (registry cache, database handle).

    Each is built on first use, once, even when several threads ask at the same time.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._registry: AgentRegistry | None = None
        self._database: Database | None = None

    @property
    def registry(self) -> AgentRegistry:
        with self._lock:
            if self._registry is None:
                from claude_pm.agents.registry import AgentRegistry

                self._registry = AgentRegistry.from_settings(self.settings)
            return self._registry

    @property
    def database(self) -> Database:
        """The state database.

        Raises:
            StoreError: it cannot be opened or created.
        """
        with self._lock:
            if self._database is None:
                from claude_pm.state import Database

                self._database = Database(self.settings.db_path)
            return self._database


#: A tool implementation: validated arguments in, JSON-able result out; raises ClaudePMError.
ToolFunction = Callable[[ToolServices, dict[str, Any], CallOptions], dict[str, Any]]
