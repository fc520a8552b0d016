"""The one entry to the four tools: validate, call the service, turn the outcome into a dict.

A tool call never raises: invalid input, an unknown tool or agent, a spawn
failure and any unexpected exception come back as ``{"error": ...}`` with a
message that says what to fix. An error never carries a caller's value at
full length nor text UTF-8 cannot carry: an unknown tool's name is quoted as a
preview, and the echoed ``agent_type`` and ``task_description`` are cut to
:data:`ECHO_MAX_CHARS` with lone surrogates escaped.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Mapping
from typing import Any

from claude_pm.cancel import CancelToken
from claude_pm.config import Settings, load_settings
from claude_pm.errors import ClaudePMError, UnknownTool
from claude_pm.tools.results import error_result
from claude_pm.tools.schemas import TOOLS_BY_NAME
from claude_pm.tools.services import CallOptions, ProgressCallback, ToolFunction, ToolServices
from claude_pm.tools.validation import clip, validate_arguments

log = logging.getLogger(__name__)

#: Longest ``agent_type`` / ``task_description`` an error result echoes (as results cuts it).
ECHO_MAX_CHARS = 200

#: Tool name -> "module:function" implementing it, imported on first use.
TOOL_IMPLEMENTATIONS: dict[str, str] = {
    "execute_agent_subprocess": "claude_pm.tools.execute:execute_agent_subprocess",
    "discover_available_agents": "claude_pm.tools.discover:discover_available_agents",
    "coordinate_multi_agent_workflow": "claude_pm.tools.workflow:coordinate_multi_agent_workflow",
    "create_tickets_from_output": "claude_pm.tools.tickets:create_tickets_from_output",
}


def _echoable(parameters: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The part of ``parameters`` an error result may echo: short, and encodable as UTF-8."""
    if not isinstance(parameters, Mapping):
        return parameters
    echo = {}
    for key in ("agent_type", "task_description"):
        value = parameters.get(key)
        if isinstance(value, str):
            echo[key] = clip(value[:ECHO_MAX_CHARS], ECHO_MAX_CHARS)
    return echo


def _failed(
    error: BaseException, tool_name: str, parameters: Mapping[str, Any] | None
) -> dict[str, Any]:
    return error_result(error, tool_name, _echoable(parameters))


def _load(target: str) -> ToolFunction:
    module_name, _, attr = target.partition(":")
    function: ToolFunction = getattr(importlib.import_module(module_name), attr)
    return function


class ClaudeToolHandler:
    """Handle Claude tool calls: ``handle_tool_call(name, params) -> dict``.

    Args:
        framework_context: the reference design's framework context
            (``project_root``, ``framework_version``, ``user_preferences``,
            ``ticket_auto_create``...). Settings are built from it, then the
            environment, on first use, so a bad project root is reported by
            the first tool call rather than raised here.
        settings: ready-made settings; when given, ``framework_context`` is ignored.
    """

    def __init__(
        self,
        framework_context: Mapping[str, Any] | None = None,
        *,
        settings: Settings | None = None,
    ) -> None:
        self.framework_context = dict(framework_context or {})
        self._settings = settings
        self._services: ToolServices | None = None
        self._lock = threading.Lock()

    @property
    def services(self) -> ToolServices:
        """The settings and services, built on first use.

        Raises:
            ClaudePMError: the framework context or environment is unusable.
        """
        with self._lock:
            if self._services is None:
                settings = self._settings or load_settings(self.framework_context)
                self._services = ToolServices(settings)
            return self._services

    def handle_tool_call(
        self,
        tool_name: str,
        parameters: Mapping[str, Any] | None,
        *,
        cancel: CancelToken | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Run one tool call and return its JSON-able result; never raises.

        ``cancel`` (set from another thread) stops a running agent and kills
        its process tree; ``on_progress(message, done, total)`` receives
        progress for long runs.
        """
        if not isinstance(tool_name, str) or tool_name not in TOOLS_BY_NAME:
            # The name is the caller's: quote it short and encodable, wherever it goes.
            shown = clip(str(tool_name))
            log.info("unknown tool %s", shown)
            return _failed(UnknownTool(shown, list(TOOLS_BY_NAME)), shown, parameters)
        try:
            args = validate_arguments(tool_name, parameters if parameters is not None else {})
            function = _load(TOOL_IMPLEMENTATIONS[tool_name])
            return function(self.services, args, CallOptions(cancel, on_progress))
        except ClaudePMError as e:
            log.info("tool %s failed: %s", tool_name, e.message)
            return _failed(e, tool_name, parameters)
        except Exception as e:
            log.exception("tool %s raised unexpectedly", tool_name)
            return _failed(e, tool_name, parameters)
