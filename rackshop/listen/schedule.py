"""The polling safety net: while listening, the batch passes still run on a timetable.

Webhooks are at-least-once, unordered and sometimes lost, so they only make rackshop fast; the
polling passes (``sync-orders``, ``sync-stock``) remain the truth. :class:`Schedule` says which
pass is due; the worker runs it between deliveries (one thread does all the work, so a pass and
a delivery never race for the same shop's lock).

Pure bookkeeping on an injected clock: no thread, no sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rackshop.config import ListenConfig

ORDERS = "sync-orders"
STOCK = "sync-stock"
FULFILLMENTS = "sync-fulfillments"
#: The subscriptions check (:func:`rackshop.listen.webhooks_admin.check_subscriptions`).
WEBHOOKS = "webhooks"
WEBHOOKS_SECONDS = 3600.0


@dataclass
class _Entry:
    interval: float
    next_at: float
    runs: int = 0
    failures: int = 0
    last_started: float | None = None
    last_finished: float | None = None
    last_outcome: str | None = None


class Schedule:
    """When each polling pass is due.

    Args:
        intervals: Pass name -> seconds between passes.
        clock: Seconds (monotonic or wall; only differences matter).
        run_at_start: Make every pass due at once (catches what was missed while the listener
            was down); otherwise the first run is one interval after start.
        retry_seconds: After a pass that failed, try again this soon (or at its interval, if
            that is sooner).
    """

    def __init__(self, intervals: Mapping[str, float], *, clock: Callable[[], float] = time.time,
                 run_at_start: bool = True, retry_seconds: float = 60.0) -> None:
        self.clock = clock
        self.retry_seconds = retry_seconds
        now = clock()
        self._entries = {name: _Entry(float(every), now if run_at_start else now + every)
                         for name, every in intervals.items()}

    @classmethod
    def from_config(cls, listen: ListenConfig, *, clock: Callable[[], float] = time.time,
                    run_at_start: bool = True, fulfillments: bool = False) -> Schedule:
        """Orders every ``listen.orders_poll_minutes``; stock every ``stock_poll_minutes``;
        fulfilments (when a shop takes them) at the orders' interval; the webhook
        subscriptions checked hourly (when ``listen.public_url`` is set)."""
        intervals = {ORDERS: listen.orders_poll_minutes * 60.0,
                     STOCK: listen.stock_poll_minutes * 60.0}
        if fulfillments:
            intervals[FULFILLMENTS] = listen.orders_poll_minutes * 60.0
        if listen.public_url:
            intervals[WEBHOOKS] = WEBHOOKS_SECONDS
        return cls(intervals, clock=clock, run_at_start=run_at_start)

    def due(self) -> list[str]:
        """Passes due now, the longest overdue first."""
        now = self.clock()
        due = [(e.next_at, name) for name, e in self._entries.items() if e.next_at <= now]
        return [name for _, name in sorted(due)]

    def started(self, name: str) -> None:
        """Note that a pass started (it is not due again until it finishes)."""
        entry = self._entries[name]
        entry.last_started = self.clock()
        entry.next_at = float("inf")

    def finished(self, name: str, outcome: str) -> None:
        """Note how a pass ended (``ok``, ``partial``, ``failed``, ``locked``...) and plan the next.

        The next run is one interval after this one *started*, so a slow pass does not push the
        timetable back; a failed or locked pass is retried after ``retry_seconds`` at most.
        """
        entry = self._entries[name]
        now = self.clock()
        started = entry.last_started if entry.last_started is not None else now
        entry.runs += 1
        entry.last_finished = now
        entry.last_outcome = outcome
        next_at = max(now, started + entry.interval)
        if outcome in ("failed", "locked"):
            entry.failures += 1
            next_at = min(next_at, now + self.retry_seconds)
        entry.next_at = next_at

    def seconds_until_next(self) -> float | None:
        """Seconds until the next pass is due (0 if one is due), ``None`` with no passes."""
        if not self._entries:
            return None
        soonest = min(e.next_at for e in self._entries.values())
        if soonest == float("inf"):
            return None
        return max(0.0, soonest - self.clock())

    def status(self) -> dict[str, Any]:
        """Per pass: interval, runs, failures, last outcome, seconds since it ran and until next."""
        now = self.clock()
        out: dict[str, Any] = {}
        for name, e in self._entries.items():
            out[name] = {
                "every_seconds": e.interval,
                "runs": e.runs,
                "failures": e.failures,
                "last_outcome": e.last_outcome,
                "seconds_since_last": round(now - e.last_finished, 1)
                if e.last_finished is not None else None,
                "running": e.next_at == float("inf"),
                "next_in_seconds": round(max(0.0, e.next_at - now), 1)
                if e.next_at != float("inf") else None,
            }
        return out
