"""The Rackbeat twin's rate limiter: a sliding window per token, on the twin's clock."""

from __future__ import annotations

import math
import threading
from collections import deque

from rackshop.sandbox.base import Clock


class SlidingWindowLimiter:
    """At most ``limit`` requests per ``window`` twin-seconds, per key (the API token).

    A refused request is not counted, as in Laravel's throttle middleware (it checks
    ``tooManyAttempts`` before ``hit``), so a client hammering through its 429s is not punished
    beyond the window.

    Args:
        clock: The twin's clock (``Clock(scale=60)`` turns 480/min into 480/s).
        limit: Requests allowed per window.
        window: Window length in twin seconds.
    """

    def __init__(self, clock: Clock, limit: int = 480, window: float = 60.0) -> None:
        if limit < 1:
            raise ValueError("the rate limit must be at least 1 request per window")
        self.clock = clock
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count a request; ``None`` if allowed, else the twin seconds until one is."""
        now = self.clock.now()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(hits[0] + self.window - now, 0.0)
            hits.append(now)
            return None

    def retry_after(self, twin_seconds: float) -> int:
        """The ``Retry-After`` header value: real seconds, rounded up, at least 1."""
        return max(1, math.ceil(twin_seconds / self.clock.scale))

    def used(self, key: str) -> int:
        """Requests counted in the current window."""
        now = self.clock.now()
        with self._lock:
            return sum(1 for t in self._hits.get(key, ()) if t > now - self.window)

    def reset(self) -> None:
        """Forget every window."""
        with self._lock:
            self._hits.clear()
