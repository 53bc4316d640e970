"""Simulated time and the job timetable of ``rackshop sandbox simulate``.

The simulation never waits for the wall clock: :class:`SimClock` is moved forward by the runner,
and both twins stamp their records with it (``Sandbox(wall_clock=...)``) while the jobs get it as
their ``now``. It starts at the real time of the run (rounded down to the minute) and only moves
forward, so simulated time is never behind the real clock that the state store's own stamps use.

The event stream does not depend on the start time: events carry their offset in seconds from the
start (see :mod:`.events`), which is what makes ``--seed S --days D`` reproducible byte for byte.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

DAY = 86_400
"""Seconds in a simulated day."""

#: The README's cron timetable: job -> (period in seconds, offset into the period).
#: ``sync-products`` runs at minute 7 of each hour, as the README's crontab has it.
CRON: dict[str, tuple[int, int]] = {
    "sync-orders": (300, 0),
    "sync-stock": (900, 0),
    "sync-products": (3600, 420),
    "sync-fulfillments": (600, 0),
}

#: The order jobs run in when several are due at the same minute (as cron would start them,
#: one after the other in the simulation).
JOB_ORDER = ("sync-products", "sync-orders", "sync-fulfillments", "sync-stock")


class SimClock:
    """Simulated epoch seconds, moved forward by the runner only.

    Args:
        start: Epoch seconds at offset 0 (default: now, rounded down to the minute).
    """

    def __init__(self, start: float | None = None) -> None:
        base = time.time() if start is None else start
        self.start = float(int(base) // 60 * 60)
        self.offset = 0.0

    def __call__(self) -> float:
        """Now, in epoch seconds (the twins' ``wall_clock``)."""
        return self.start + self.offset

    def now(self) -> datetime:
        """Now as an aware UTC datetime (the jobs' ``now``)."""
        return datetime.fromtimestamp(self(), UTC)

    def advance_to(self, offset: float) -> None:
        """Move to ``offset`` seconds after the start (never backwards)."""
        self.offset = max(self.offset, float(offset))


@dataclass(frozen=True)
class Tick:
    """One scheduled pass: a job due at an offset."""

    at: int
    job: str


def timetable(start: int, end: int, cron: dict[str, tuple[int, int]] | None = None) -> list[Tick]:
    """Every scheduled pass in ``[start, end)`` seconds, in time order, then :data:`JOB_ORDER`.

    Args:
        start: First offset (inclusive).
        end: Last offset (exclusive).
        cron: job -> (period, offset); default :data:`CRON`.
    """
    cron = cron or CRON
    ticks: list[Tick] = []
    for job, (period, phase) in cron.items():
        first = start + ((phase - start) % period)
        ticks += [Tick(at, job) for at in range(first, end, period)]
    rank = {job: i for i, job in enumerate(JOB_ORDER)}
    ticks.sort(key=lambda t: (t.at, rank.get(t.job, 99)))
    return ticks
