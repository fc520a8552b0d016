"""Governing a workflow's use of LLM backends: one rate limiter and one budget per run.

**The limiter.** A backend that reports ``error_kind`` ``rate_limited`` or
``overloaded`` in its result file says the provider wants the whole caller to
slow down, not this one task. So the limiter, shared by every task of the
run, answers with a pause for all of them: nothing new starts before the
reset time the backend reported (its latest ``reset_at``, else its
``retry_after_s`` from when it was told, else :attr:`RateLimiter.default_pause_s`
doubled for each pause in a row, up to :attr:`RateLimiter.max_pause_s`), and
the concurrency bound is halved (at least 1). The failed attempt is retried
after the pause; this does not use up the task's ``retries`` (it has its own
cap, ``rate_limit_retries``). Each attempt that completes afterwards raises
the bound by one again, up to where it started.

**The budget.** ``budget_usd`` caps what the workflow's backends may report
spending (``cost_usd`` of each attempt). When a task starts it reserves
``min(its own cap, budget - spent - reserved)`` and gets that as its run's
``budget_usd``; its own cap is the ``run_budget_usd`` setting, or, without
one, everything left for a backend that calls a model, nothing for one that
does not (``command``, ``builtin``: they spend nothing of their own, and
reserving the whole budget for them would serialize a workflow for nothing).
When the attempt ends, its reservation is replaced by what it reported. No
task starts while nothing is left to reserve; once the budget is spent, the
tasks not started are skipped (``budget spent``). What ran is kept.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from claude_pm.agents.handoff import BackendReport

#: Error kinds of a result file that mean "the provider asks everyone to slow down".
RATE_LIMIT_KINDS = frozenset({"rate_limited", "overloaded"})
#: Spending below this is nothing (float sums).
EPSILON_USD = 1e-9


class RateLimiter:
    """The run's shared answer to rate-limit and overload errors (see the module docstring).

    Times are the engine's monotonic clock; ``wall`` is ``time.time`` (a
    backend reports reset times as epoch seconds).
    """

    def __init__(
        self,
        bound: int,
        *,
        default_pause_s: float = 5.0,
        max_pause_s: float = 300.0,
    ) -> None:
        self.ceiling = bound
        self.bound = bound
        self.default_pause_s = default_pause_s
        self.max_pause_s = max_pause_s
        self.pauses = 0
        self._in_a_row = 0

    def pause_for(
        self, report: BackendReport, now: float, *, wall_now: float | None = None
    ) -> float:
        """A rate-limit error happened: the time (monotonic) before which nothing starts.

        Also halves the bound (see :attr:`bound`).
        """
        wall_now = time.time() if wall_now is None else wall_now
        wait_s: float | None = None
        for event in report.rate_limits:
            if event.reset_at is not None:
                wait_s = max(wait_s or 0.0, event.reset_at - wall_now)
            elif event.retry_after_s is not None:
                wait_s = max(wait_s or 0.0, event.at + event.retry_after_s - wall_now)
        if wait_s is None:
            wait_s = self.default_pause_s * 2**self._in_a_row
        self._in_a_row += 1
        self.pauses += 1
        self.bound = max(1, math.ceil(self.bound / 2))
        return now + min(max(0.0, wait_s), self.max_pause_s)

    def succeeded(self) -> None:
        """An attempt completed: the bound grows back by one, up to where it started."""
        self._in_a_row = 0
        self.bound = min(self.ceiling, self.bound + 1)


@dataclass(frozen=True)
class Reservation:
    """What one attempt holds of the budget: ``usd`` reserved, ``cap_usd`` its run's budget."""

    usd: float
    cap_usd: float | None


class Budget:
    """The run's dollar budget (see the module docstring); ``limit_usd`` None means none."""

    def __init__(
        self, limit_usd: float | None, *, run_cap_usd: float | None = None, spent_usd: float = 0.0
    ) -> None:
        self.limit_usd = limit_usd
        self.run_cap_usd = run_cap_usd
        self.spent_usd = spent_usd
        self.reserved_usd = 0.0
        self.reported = spent_usd > 0

    @property
    def left_usd(self) -> float | None:
        """What is neither spent nor reserved (None without a budget)."""
        if self.limit_usd is None:
            return None
        return self.limit_usd - self.spent_usd - self.reserved_usd

    @property
    def spent(self) -> bool:
        """Whether nothing is left even once the running tasks give back their reservations."""
        return self.limit_usd is not None and self.limit_usd - self.spent_usd <= EPSILON_USD

    def reserve(self, *, uses_model: bool) -> Reservation | None:
        """Reserve for one attempt; ``None`` when nothing is left to reserve now."""
        left = self.left_usd
        if left is None:
            return Reservation(0.0, self.run_cap_usd)
        if left <= EPSILON_USD:
            return None
        own = self.run_cap_usd if self.run_cap_usd is not None else (left if uses_model else 0.0)
        usd = min(own, left)
        self.reserved_usd += usd
        cap = min(self.run_cap_usd, left) if self.run_cap_usd is not None else left
        return Reservation(usd, cap)

    def settle(self, reservation: Reservation, cost_usd: float | None) -> None:
        """An attempt ended: its reservation goes, what it reported is spent."""
        self.reserved_usd = max(0.0, self.reserved_usd - reservation.usd)
        if cost_usd is not None:
            self.spent_usd += cost_usd
            self.reported = True


__all__ = ["EPSILON_USD", "RATE_LIMIT_KINDS", "Budget", "RateLimiter", "Reservation"]
