"""What a Claude Code session said, read from its ``stream-json`` events.

``claude -p --output-format stream-json --verbose`` writes one JSON object a
line. The events read here, as Claude Code 2.1 writes them:

- ``system``/``init``: the session id and the model (again at each follow-up turn).
- ``assistant``: a model message; a synthetic one carries ``error``
  (``rate_limit``, ``overloaded``, ``authentication_failed``...) when the API failed.
- ``system``/``api_retry``: a failed call retried after ``retry_delay_ms``
  (``error_status`` 429, 529, 500..., None when nothing answered).
- ``rate_limit_event``: a subscription limit changed (``status``, ``resetsAt``).
- ``system``/``background_tasks_changed``: the background tasks still running;
  while any is, a result is not the last one.
- ``result``: the end of a turn: its text, ``is_error``, ``terminal_reason``,
  ``api_error_status``, ``num_turns`` and ``usage`` (both since the previous
  result), ``total_cost_usd`` (the whole session).

A result is classified on ``is_error``, ``terminal_reason`` and
``api_error_status``, never on ``subtype``: an API failure arrives as
``subtype: "success"`` with ``is_error: true``. A result is not always the
last event: when a background task finishes, the CLI starts a follow-up turn
that ends in a result of its own.

:class:`StreamState` is fed the events in order; :func:`conclude` turns what
it saw, and how the process ended (:class:`Ended`), into the
:class:`~claude_pm.agents.handoff.BackendReport` and the exit code. No I/O
here. Standard library only: the executor imports it on every claude-code run.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from claude_pm.agents.handoff import BackendReport, RateLimitEvent

BACKEND_NAME = "claude-code"

#: The usage fields kept, with the Anthropic names the report uses.
USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


class ErrorKind(StrEnum):
    """Why a session failed when it was not the agent's doing (``BackendReport.error_kind``)."""

    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    AUTHENTICATION = "authentication"
    CONNECTION = "connection"
    API_ERROR = "api_error"
    IDLE_TIMEOUT = "idle_timeout"


#: Claude Code's typed API error names (in ``assistant.error``, ``api_retry.error`` and
#: ``result.api_error``).
_NAMED_KINDS: dict[str, ErrorKind] = {
    "rate_limit": ErrorKind.RATE_LIMITED,
    "overloaded": ErrorKind.OVERLOADED,
    "authentication_failed": ErrorKind.AUTHENTICATION,
    "oauth_org_not_allowed": ErrorKind.AUTHENTICATION,
    "account_on_hold": ErrorKind.AUTHENTICATION,
    "verification_required": ErrorKind.AUTHENTICATION,
    "cloud_credential_error": ErrorKind.AUTHENTICATION,
    "connection_failed": ErrorKind.CONNECTION,
    "connection_error": ErrorKind.CONNECTION,
    "server_error": ErrorKind.API_ERROR,
    "billing_error": ErrorKind.API_ERROR,
    "invalid_request": ErrorKind.API_ERROR,
    "model_not_found": ErrorKind.API_ERROR,
}


def kind_of_status(status: Any) -> ErrorKind | None:
    """The error kind of an HTTP status from the API (None for no status)."""
    if not isinstance(status, int) or isinstance(status, bool):
        return None
    if status == 429:
        return ErrorKind.RATE_LIMITED
    if status == 529:
        return ErrorKind.OVERLOADED
    if status in (401, 403):
        return ErrorKind.AUTHENTICATION
    return ErrorKind.API_ERROR if status >= 400 else None


def kind_of_name(name: Any) -> ErrorKind | None:
    """The error kind of one of Claude Code's API error names (None when unknown)."""
    return _NAMED_KINDS.get(name) if isinstance(name, str) else None


def parse_line(line: bytes) -> dict[str, Any] | None:
    """One stream line as an event; None for a blank line or one that is not a JSON object."""
    text = line.strip()
    if not text:
        return None
    try:
        event = json.loads(text)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


class LineSplitter:
    """Bytes in, complete lines out, whatever the chunking; a line over ``max_line_bytes``
    is dropped whole (counted in ``dropped``), so memory stays bounded."""

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self.dropped = 0
        self._pending = bytearray()
        self._skipping = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines ``chunk`` completes (without their newline)."""
        lines = []
        start = len(self._pending)
        self._pending += chunk
        while (end := self._pending.find(b"\n", start)) >= 0:
            if self._skipping:
                self._skipping = False
            else:
                lines.append(bytes(self._pending[:end]))
            del self._pending[: end + 1]
            start = 0
        if len(self._pending) > self.max_line_bytes:
            self._pending.clear()
            self._skipping = True
            self.dropped += 1
        return lines

    def end(self) -> list[bytes]:
        """The last line, when the stream ended without a newline."""
        last = [] if self._skipping or not self._pending else [bytes(self._pending)]
        self._pending.clear()
        self._skipping = False
        return last


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@dataclass
class StreamState:
    """Everything the events of one session said so far (fed in order by :meth:`feed`).

    ``requested_model`` is the model claude-pm asked for (None: the CLI's
    default); the report prefers the one the CLI says it runs.
    """

    session_id: str | None = None
    requested_model: str | None = None
    model: str | None = None
    events: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    turns: int = 0
    cost_usd: float | None = None
    rate_limits: list[RateLimitEvent] = field(default_factory=list)
    background_tasks: set[str] = field(default_factory=set)
    #: The last API trouble seen (a retry or a synthetic error message), for a session
    #: that ends without saying why.
    last_api_kind: ErrorKind | None = None

    @property
    def last_result(self) -> dict[str, Any] | None:
        return self.results[-1] if self.results else None

    @property
    def expects_more(self) -> bool:
        """Whether the CLI announced more turns after its last result (background work, a queue)."""
        if self.background_tasks:
            return True
        last = self.last_result
        queued = last.get("queued_turn_count") if last is not None else None
        return isinstance(queued, int) and queued > 0

    def feed(self, event: Mapping[str, Any], now: float | None = None) -> bool:
        """Take one event; returns True when it was a ``result``."""
        at = time.time() if now is None else now
        self.events += 1
        kind = event.get("type")
        session = event.get("session_id")
        if isinstance(session, str) and session:
            self.session_id = session
        if kind == "system":
            self._system(event, at)
        elif kind == "assistant":
            message = event.get("message")
            error = event.get("error")
            if error is not None:
                self.last_api_kind = kind_of_name(error) or ErrorKind.API_ERROR
            elif isinstance(message, Mapping) and self.model is None:
                model = message.get("model")
                if isinstance(model, str) and model and not model.startswith("<"):
                    self.model = model
        elif kind == "rate_limit_event":
            self._rate_limit_event(event, at)
        elif kind == "result":
            self._result(event, at)
            return True
        return False

    def _system(self, event: Mapping[str, Any], at: float) -> None:
        subtype = event.get("subtype")
        if subtype == "init":
            model = event.get("model")
            if isinstance(model, str) and model:
                self.model = model
        elif subtype == "api_retry":
            status = event.get("error_status")
            kind = kind_of_status(status) or kind_of_name(event.get("error"))
            if status is None and kind in (None, ErrorKind.API_ERROR):
                kind = ErrorKind.CONNECTION
            self.last_api_kind = kind
            if kind in (ErrorKind.RATE_LIMITED, ErrorKind.OVERLOADED):
                delay_ms = _number(event.get("retry_delay_ms"))
                attempt, most = event.get("attempt"), event.get("max_retries")
                where = f"HTTP {status}" if status is not None else str(event.get("error"))
                self.rate_limits.append(
                    RateLimitEvent(
                        kind=kind.value,
                        at=at,
                        retry_after_s=None if delay_ms is None else delay_ms / 1000.0,
                        message=f"{where}: Claude Code retries (attempt {attempt} of {most})",
                    )
                )
        elif subtype == "background_tasks_changed":
            tasks = event.get("tasks")
            if isinstance(tasks, list):
                self.background_tasks = {
                    str(t.get("task_id")) for t in tasks if isinstance(t, Mapping)
                }
        elif subtype == "task_started" and event.get("is_backgrounded"):
            self.background_tasks.add(str(event.get("task_id")))
        elif subtype == "task_notification":
            self.background_tasks.discard(str(event.get("task_id")))

    def _rate_limit_event(self, event: Mapping[str, Any], at: float) -> None:
        info = event.get("rate_limit_info")
        if not isinstance(info, Mapping):
            return
        status = info.get("status")
        if status not in ("rejected", "allowed_warning"):
            return  # "allowed": nothing to slow down for
        window = info.get("rateLimitType") or "usage"
        utilization = _number(info.get("utilization"))
        used = f", {utilization:.0%} used" if utilization is not None else ""
        reset_at = _number(info.get("resetsAt"))
        self.rate_limits.append(
            RateLimitEvent(
                kind=ErrorKind.RATE_LIMITED.value,
                at=at,
                retry_after_s=None if reset_at is None else max(0.0, reset_at - at),
                reset_at=reset_at,
                message=f"{window} limit {status}{used}",
            )
        )
        if status == "rejected":
            self.last_api_kind = ErrorKind.RATE_LIMITED

    def _result(self, event: Mapping[str, Any], at: float) -> None:
        self.results.append(dict(event))
        status = event.get("api_error_status")
        limited = kind_of_status(status) if event.get("is_error") is True else None
        if limited in (ErrorKind.RATE_LIMITED, ErrorKind.OVERLOADED):
            # The session ended on it (after the CLI's own retries, if any): one more event.
            said = event.get("result")
            detail = f": {said.strip()[:200]}" if isinstance(said, str) and said.strip() else ""
            self.rate_limits.append(
                RateLimitEvent(kind=limited.value, at=at, message=f"HTTP {status}, final{detail}")
            )
        usage = event.get("usage")
        if isinstance(usage, Mapping):
            for name in USAGE_FIELDS:
                value = usage.get(name)
                if isinstance(value, int) and not isinstance(value, bool):
                    self.usage[name] = self.usage.get(name, 0) + value
        turns = event.get("num_turns")
        if isinstance(turns, int) and not isinstance(turns, bool):
            self.turns += turns
        cost = _number(event.get("total_cost_usd"))
        if cost is not None:
            self.cost_usd = cost if self.cost_usd is None else max(self.cost_usd, cost)
        if self.model is None and isinstance(event.get("modelUsage"), Mapping):
            self.model = next(iter(event["modelUsage"]), None)

    # -- the outcome --------------------------------------------------------------------

    def result_failure(self) -> tuple[str, ErrorKind | None] | None:
        """Why the last result is a failure (message, kind); None when it is not one."""
        last = self.last_result
        if last is None or last.get("is_error") is not True:
            return None
        status = last.get("api_error_status")
        reason = last.get("terminal_reason")
        kind = kind_of_status(status) or kind_of_name(last.get("api_error"))
        if kind is None and reason == "api_error":
            kind = self.last_api_kind or ErrorKind.API_ERROR
        text = last.get("result")
        errors = last.get("errors")
        if not (isinstance(text, str) and text.strip()) and isinstance(errors, list) and errors:
            text = "; ".join(str(e) for e in errors)
        why = ", ".join(
            str(part)
            for part in (reason, f"HTTP {status}" if status is not None else None)
            if part is not None
        )
        detail = text.strip() if isinstance(text, str) and text.strip() else "no message"
        message = f"Claude Code ended with an error ({why or 'is_error'}): {detail}"
        return message, kind

    def report(
        self, *, error: str | None = None, error_kind: str | None = None, stop_reason: str | None
    ) -> BackendReport:
        """The report of the session as seen so far."""
        return BackendReport(
            backend=BACKEND_NAME,
            model=self.model or self.requested_model,
            usage=dict(self.usage),
            cost_usd=self.cost_usd,
            turns=self.turns if self.results else None,
            session_id=self.session_id,
            stop_reason=stop_reason,
            error=error,
            error_kind=error_kind,
            rate_limits=tuple(self.rate_limits),
        )

    def result_stop_reason(self) -> str | None:
        """Why the last turn ended: its ``terminal_reason``, else the model's ``stop_reason``."""
        last = self.last_result
        if last is None:
            return None
        reason = last.get("terminal_reason") or last.get("stop_reason")
        return str(reason) if reason is not None else None


class Ending(StrEnum):
    """Why claude-pm ended a session itself."""

    LINGERED = "lingered"  # still running after its final result
    IDLE = "idle"  # no event for the idle timeout
    STOPPED = "stopped"  # the supervisor stopped the run


@dataclass(frozen=True)
class Ended:
    """How a session's process ended: who stopped it, its exit status, where it was."""

    stop_signal: int | None = None
    ending: Ending | None = None
    idle_timeout_s: float = 0.0
    #: ``Popen.returncode``: negative for a signal, None when it never started.
    returncode: int | None = None
    turn_open: bool = False
    stderr_line: str = ""


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


#: The report, the executor's exit code, and the signal it dies of (None: it exits).
Outcome = tuple[BackendReport, int, int | None]


def conclude(state: StreamState, ended: Ended) -> Outcome:
    """The outcome of a session from what it said and how its process ended.

    In order: a stop by the supervisor (die of its signal); the idle watchdog
    (exit 1, ``idle_timeout``); an error result (exit 1, classified); a last
    result that ended normally (exit 0, even when the CLI had to be stopped
    after it); otherwise the CLI's own exit code or signal.
    """
    if ended.stop_signal is not None:
        name = signal_name(ended.stop_signal)
        error = f"claude-pm stopped the session ({name}: the run's timeout, limit or a cancel)"
        return state.report(error=error, stop_reason="stopped"), 1, ended.stop_signal
    if ended.ending is Ending.IDLE:
        error = (
            f"Claude Code wrote no event for {ended.idle_timeout_s:g} s and was stopped (the "
            "idle timeout: backend_options.idle_timeout or CLAUDE_PM_CLAUDE_IDLE_TIMEOUT)"
        )
        kind = ErrorKind.IDLE_TIMEOUT.value
        return state.report(error=error, error_kind=kind, stop_reason="idle_timeout"), 1, None
    failure = state.result_failure()
    stop_reason = state.result_stop_reason()
    if failure is not None:
        message, found = failure
        kind_name = found.value if found else None
        return state.report(error=message, error_kind=kind_name, stop_reason=stop_reason), 1, None
    code = ended.returncode
    if state.results and (code == 0 or not ended.turn_open or ended.ending is not None):
        return state.report(stop_reason=stop_reason), 0, None
    where = "during a follow-up turn" if state.results else "before its result"
    api_kind = state.last_api_kind.value if state.last_api_kind else None
    if code is not None and code < 0:
        error = f"Claude Code was killed by {signal_name(-code)} {where}"
        return state.report(error=error, error_kind=api_kind, stop_reason=None), 1, -code
    if code:
        said = f": {ended.stderr_line}" if ended.stderr_line else ""
        error = f"Claude Code exited with code {code} {where}{said}"
        return state.report(error=error, error_kind=api_kind, stop_reason=None), code, None
    error = f"Claude Code exited {where} without a result"
    return state.report(error=error, error_kind=api_kind, stop_reason=None), 1, None


__all__ = [
    "BACKEND_NAME",
    "USAGE_FIELDS",
    "Ended",
    "Ending",
    "ErrorKind",
    "LineSplitter",
    "Outcome",
    "StreamState",
    "conclude",
    "kind_of_name",
    "kind_of_status",
    "parse_line",
    "signal_name",
]
