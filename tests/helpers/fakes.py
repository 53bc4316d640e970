"""Fakes shared by the tests: a clock whose sleep advances time instead of waiting."""

from __future__ import annotations


class FakeClock:
    """Monotonic time that only moves when something sleeps (or the test advances it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds
