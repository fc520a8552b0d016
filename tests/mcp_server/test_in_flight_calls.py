"""``InFlightCalls``: what a shutdown cancels."""

from __future__ import annotations

from claude_pm.mcp_server import InFlightCalls


def test_in_flight_calls_are_all_cancelled_on_shutdown() -> None:
    calls = InFlightCalls()
    first, second = calls.begin(), calls.begin()
    assert calls.cancel_all() == 2
    assert first.is_set() and second.is_set()
    assert calls.begin().is_set(), "a call that starts during shutdown is cancelled at once"
    calls.end(first)
    assert not calls.wait_idle(0.01)
