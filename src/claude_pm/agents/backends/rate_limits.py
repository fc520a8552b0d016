"""The rate-limit events of an LLM agent run, seen on the wire.

The SDKs retry 429 (rate limited), 529 and 503 (overloaded) on their own,
honouring ``retry-after``, so the loop only hears of the last failure, if any.
:meth:`RateLimitLog.hook` is an HTTP response hook given to the SDK's HTTP
client: it sees every answer, retried or not, and keeps one
:class:`~claude_pm.agents.handoff.RateLimitEvent` per 429/503/529 with how
long the server asked to wait (``retry-after-ms``, ``retry-after``) and when
its limits reset (Anthropic's ``anthropic-ratelimit-*-reset`` timestamps,
OpenAI's ``x-ratelimit-reset-*`` durations), when it said. When the SDK gives
up, :meth:`RateLimitLog.gave_up` marks the last event as the final failure.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from claude_pm.agents.handoff import RateLimitEvent

#: HTTP status -> the kind of event it is.
KINDS = {429: "rate_limited", 503: "overloaded", 529: "overloaded"}
#: Events kept at most (the first ones and the last: a long storm is summarised).
MAX_EVENTS = 50
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?"
                       r"(?:(\d+(?:\.\d+)?)ms)?\Z")  # fmt: skip


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    from claude_pm.llm.client import retry_after_s

    return retry_after_s(headers)


def _duration_s(text: str) -> float | None:
    """``"6m0s"``, ``"1.5s"``, ``"20ms"`` (OpenAI's reset durations) in seconds."""
    match = _DURATION.match(text.strip())
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds, millis = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def reset_at(headers: Mapping[str, str], now: float) -> float | None:
    """When the provider said its limits reset, in seconds since the epoch (the latest one)."""
    times = []
    for name, value in headers.items():
        key = name.lower()
        if key.startswith("anthropic-ratelimit-") and key.endswith("-reset"):
            try:
                times.append(datetime.fromisoformat(value.strip()).timestamp())
            except ValueError:
                continue
        elif key.startswith("x-ratelimit-reset-"):
            seconds = _duration_s(value)
            if seconds is not None:
                times.append(now + seconds)
    return max(times) if times else None


class RateLimitLog:
    """Thread-safe record of the 429/503/529 answers one run got.

    ``on_event(record)`` is told of each (a dict, for the transcript).
    """

    def __init__(
        self, api: str, on_event: Callable[[Mapping[str, Any]], None] | None = None
    ) -> None:
        self.api = api
        self.on_event = on_event
        self._events: list[RateLimitEvent] = []
        self._lock = threading.Lock()

    def hook(self, response: Any) -> None:
        """An HTTP client's response hook (httpx-style: ``status_code`` and ``headers``)."""
        kind = KINDS.get(int(getattr(response, "status_code", 0) or 0))
        if kind is None:
            return
        self.record(kind, int(response.status_code), dict(response.headers.items()))

    def record(self, kind: str, status_code: int, headers: Mapping[str, str]) -> None:
        now = time.time()
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        event = RateLimitEvent(
            kind=kind,
            at=round(now, 3),
            retry_after_s=_retry_after_s(lowered),
            reset_at=reset_at(lowered, now),
            message=f"HTTP {status_code} from the {self.api} (the SDK retries it while it may)",
        )
        with self._lock:
            if len(self._events) >= MAX_EVENTS:
                self._events.pop(MAX_EVENTS // 2)
            self._events.append(event)
        if self.on_event is not None:
            self.on_event(asdict(event))

    def gave_up(self, kind: str, retries: int) -> None:
        """Mark the last event of ``kind`` as the failure the SDK stopped retrying at."""
        with self._lock:
            for i in range(len(self._events) - 1, -1, -1):
                event = self._events[i]
                if event.kind == kind:
                    message = (
                        f"{(event.message or '').split(' (')[0]}: the final answer, after "
                        f"{retries} retries; the run stopped"
                    )
                    self._events[i] = replace(event, message=message)
                    return

    def events(self) -> tuple[RateLimitEvent, ...]:
        """The events, oldest first; a middle part is dropped past :data:`MAX_EVENTS`."""
        with self._lock:
            return tuple(self._events)


__all__ = ["KINDS", "MAX_EVENTS", "RateLimitLog", "reset_at"]
