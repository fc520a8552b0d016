"""The tool calls a server is serving, so that a shutdown can cancel them all.

Every ``tools/call`` takes a cancel event from :class:`InFlightCalls` when it
starts and gives it back when it returns. A client's cancellation sets one
event (the supervisor then kills that call's agents); a signal sets them all,
refuses new calls, and waits up to :data:`SHUTDOWN_GRACE_S` for the calls to
return.
"""

from __future__ import annotations

import threading

#: How long a shutdown or a cancelled call waits for agents to be killed and calls to return.
SHUTDOWN_GRACE_S = 15.0


class InFlightCalls:
    """The cancel events of the tool calls being served, so shutdown can cancel them all."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._events: set[threading.Event] = set()
        self._shutting_down = False

    def begin(self) -> threading.Event:
        """A cancel event for a new call (already set when the server is shutting down)."""
        event = threading.Event()
        with self._lock:
            if self._shutting_down:
                event.set()
            self._events.add(event)
        return event

    def end(self, event: threading.Event) -> None:
        with self._lock:
            self._events.discard(event)
            self._lock.notify_all()

    def cancel_all(self) -> int:
        """Cancel every call in flight and refuse new ones; how many were cancelled."""
        with self._lock:
            self._shutting_down = True
            for event in self._events:
                event.set()
            return len(self._events)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no call is in flight; False when ``timeout_s`` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._events, timeout=timeout_s)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)
