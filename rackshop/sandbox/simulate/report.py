"""What a simulation found: counts per invariant and day, and how to reproduce the first
violation of each kind. Plain data for ``cli.py`` to render and for ``--format json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rackshop.sandbox.simulate.invariants import INVARIANTS


@dataclass
class FirstViolation:
    """The first violation of one invariant: enough to reproduce and look at it."""

    invariant: str
    seed: int
    day: int
    record: str
    detail: str
    events: list[str] = field(default_factory=list)  # the events that touched the record


@dataclass
class SimReport:
    """The outcome of one ``rackshop sandbox simulate`` run."""

    seed: int
    days: int
    shops: list[str]
    faults: float
    event_digest: str = ""
    events: int = 0
    skipped_events: int = 0
    passes: int = 0
    kills: int = 0
    overlaps: int = 0
    runtime_seconds: float = 0.0
    exits: dict[str, int] = field(default_factory=dict)  # "job exit N" -> count
    violations: dict[str, list[int]] = field(default_factory=dict)  # invariant -> per day
    first: list[FirstViolation] = field(default_factory=list)
    completed_days: int = 0
    api: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per twin ("shopify", "rackbeat"): the requests it served, writes and 429 / THROTTLED."""

    def __post_init__(self) -> None:
        for name, _ in INVARIANTS:
            self.violations.setdefault(name, [])

    @property
    def total_violations(self) -> int:
        return sum(sum(days) for days in self.violations.values())

    @property
    def ok(self) -> bool:
        """Every invariant held on every simulated day."""
        return self.total_violations == 0 and self.completed_days == self.days

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """Invariants × days with violation counts, and a total column."""
        columns = ["invariant", *(f"day {d + 1}" for d in range(self.days)), "total"]
        rows = [[name, *counts, sum(counts)] for name, counts in self.violations.items()]
        return columns, rows

    def summary_rows(self) -> list[list[Any]]:
        """The run in figures: events, passes, kills, runtime, the event log's digest."""
        return [["seed", self.seed], ["days", self.days], ["shops", ", ".join(self.shops)],
                ["faults", self.faults], ["events", self.events],
                ["events skipped", self.skipped_events], ["passes", self.passes],
                ["kills", self.kills], ["overlaps", self.overlaps],
                ["violations", self.total_violations],
                ["runtime s", round(self.runtime_seconds, 1)],
                ["event log sha256", self.event_digest[:16]]]

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        out["total_violations"] = self.total_violations
        return out
