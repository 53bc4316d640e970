"""What every bench measures, and the one ``--json`` shape they all print.

A bench's ``--json`` is one object: the scale it ran at (``time_scale`` and its own size keys),
the figures of its headline pass at the top level, and every pass it measured under ``passes``.
The figures of a pass (:meth:`Measured.figures`):

- ``wall_s``: real-world seconds, the measured seconds times the time scale (the twins and the
  client both run ``time_scale`` times faster); ``measured_s`` is the seconds as measured;
- ``bound_s``: the lower bound the two APIs' real rate limits impose on the calls the pass made
  (:func:`rate_bound`), and ``ratio`` = ``wall_s / bound_s`` (null when no limit binds);
- ``calls``, ``writes`` and ``throttled`` (429 / THROTTLED answers), per API, as the twins
  counted them;
- ``cpu_s``: the client's CPU seconds (the job's process when it runs as one, else the thread
  that ran it); in a time-scaled run it counts ``time_scale`` times against ``wall_s``;
  ``cpu_sys_s`` the part of it spent in the kernel (system calls: sockets, the store's files),
  for a job run as a process of its own (else null);
- ``peak_rss_mb``: the job's own peak resident memory (``VmHWM``) when it runs as a process of its
  own; for a pass run in the bench's process, that process's, twins included.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SHOPIFY_BUCKET = 2000.0
"""Points a shop's bucket holds (standard plan)."""
SHOPIFY_RESTORE = 100.0
"""Points a second restored (standard plan)."""
RACKBEAT_WINDOW_REQUESTS = 480
"""Requests Rackbeat lets through in any 60 s (a sliding window per token)."""
RACKBEAT_WINDOW_S = 60.0
"""The window's length."""

_PEAK = "peak memory: "

# The job as a child process that writes its own peak memory on stderr as it exits (VmHWM starts
# afresh at exec; the parent's RUSAGE_CHILDREN ru_maxrss counts the twins' pages too).
_CHILD = f"""
import atexit, runpy, sys

def _peak():
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            kb = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("{_PEAK}%d kB" % kb, file=sys.stderr, flush=True)

atexit.register(_peak)
module = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def child_command(module: str, *args: str) -> list[str]:
    """``python -m MODULE ARGS`` in a process that reports its peak memory on stderr at exit."""
    return [sys.executable, "-c", _CHILD, module, *args]


def peak_mb_from(stderr: str) -> float | None:
    """The peak memory a :func:`child_command` (or ``init_world --memory``) reported, in MB."""
    at = stderr.rfind(_PEAK)
    if at < 0:
        return None
    return round(int(stderr[at + len(_PEAK):].split()[0]) / 1024, 1)


def own_peak_mb() -> float:
    """This process's peak resident memory in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rate_bound(shopify_cost: float, rackbeat_requests: int, shops: int = 1,
               serial_shops: bool = False) -> dict[str, float]:
    """Seconds the real limits impose on a pass, the larger of the two APIs' (``bound_s``).

    **Shopify** (a leaky bucket per shop, full at the start): the actual cost drawn beyond the
    full buckets, at the restore rate. The buckets are per shop: with ``serial_shops`` the shops
    are served one after the other (the pass's time is shared), else side by side.

    **Rackbeat** (at most 480 requests in any 60 s, per token: a sliding window, as the twin
    enforces it and Rackbeat's own SDKs assume; ``rackbeat_requests`` counts those it let
    through, not those it answered 429): the first 480 can go at once, and request *k* (from 0)
    only 60 s after request *k* − 480, so *N* requests take at least
    60 s × ⌊(*N* − 1) / 480⌋. This bound used to be the requests beyond the first 480 at a
    steady 8 a second, (*N* − 480) / 8 s: that is a bucket of 480 refilled 8 a second, which a
    window is not (it lets request 481 through 60 s after the first, not 1/8 s), so no client can
    reach it: 1,194 requests take 120 s, not 89 s. It was a lower bound too, only not the
    greatest one; ``rackbeat_steady_s`` keeps it for comparison with figures measured against it.
    """
    restore = SHOPIFY_RESTORE * (1 if serial_shops else shops)
    shopify = max(0.0, shopify_cost - SHOPIFY_BUCKET * shops) / restore
    n = max(0, rackbeat_requests)
    rackbeat = RACKBEAT_WINDOW_S * ((n - 1) // RACKBEAT_WINDOW_REQUESTS) if n else 0.0
    steady = max(0, n - RACKBEAT_WINDOW_REQUESTS) / (RACKBEAT_WINDOW_REQUESTS / RACKBEAT_WINDOW_S)
    return {"bound_s": max(shopify, rackbeat), "shopify_bound_s": shopify,
            "rackbeat_bound_s": rackbeat, "rackbeat_steady_s": steady}


@dataclass
class Measured:
    """One pass: the twins' counters since its start, its time, the client's CPU and memory."""

    scale: float
    measured_s: float = 0.0
    cpu_s: float = 0.0
    cpu_sys_s: float | None = None
    peak_rss_mb: float | None = None
    shopify: dict[str, Any] = field(default_factory=dict)
    rackbeat: dict[str, Any] = field(default_factory=dict)

    @property
    def wall_s(self) -> float:
        return self.measured_s * self.scale

    def child_done(self, stderr: str) -> None:
        """Take the peak memory the job's process reported (see :func:`child_command`)."""
        self.peak_rss_mb = peak_mb_from(stderr)

    def figures(self, shops: int = 1, serial_shops: bool = False,
                shopify_cost: float | None = None) -> dict[str, Any]:
        """The ``--json`` figures of this pass (see the module's docstring)."""
        cost = self.shopify["cost"] if shopify_cost is None else shopify_cost
        # the window counts the requests it let through; a 429 is not one of them
        admitted = self.rackbeat["requests"] - self.rackbeat["throttled"]
        bound = rate_bound(cost, admitted, shops, serial_shops)
        return {
            "wall_s": round(self.wall_s, 2), "measured_s": round(self.measured_s, 2),
            "bound_s": round(bound["bound_s"], 2),
            "ratio": round(self.wall_s / bound["bound_s"], 3) if bound["bound_s"] else None,
            "shopify_bound_s": round(bound["shopify_bound_s"], 2),
            "rackbeat_bound_s": round(bound["rackbeat_bound_s"], 2),
            "rackbeat_steady_s": round(bound["rackbeat_steady_s"], 2),
            "calls": {"shopify": self.shopify["requests"], "rackbeat": self.rackbeat["requests"]},
            "writes": {"shopify": self.shopify["writes"], "rackbeat": self.rackbeat["writes"]},
            "throttled": {"shopify": self.shopify["throttled"],
                          "rackbeat": self.rackbeat["throttled"]},
            "shopify_cost": round(cost, 1),
            "cpu_s": round(self.cpu_s, 3),
            "cpu_sys_s": None if self.cpu_sys_s is None else round(self.cpu_sys_s, 3),
            "peak_rss_mb": self.peak_rss_mb,
        }


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _children_sys() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime


@contextmanager
def measure(sandbox: Any, scale: float = 1.0, child: bool = True) -> Iterator[Measured]:
    """Measure what runs in the block against ``sandbox``'s twins.

    ``child``: the job runs as a process of its own (:func:`child_command`; its CPU is the
    children's, its memory what it reports through :meth:`Measured.child_done`); otherwise it
    runs on this thread (its CPU is the thread's, the memory this process's peak).
    """
    out = Measured(scale)
    marks = sandbox.shopify.log.mark(), sandbox.rackbeat.log.mark()
    cpu = _children_cpu() if child else time.thread_time()
    kernel = _children_sys()
    start = time.monotonic()
    try:
        yield out
    finally:
        out.measured_s = time.monotonic() - start
        out.cpu_s = (_children_cpu() if child else time.thread_time()) - cpu
        if child:
            out.cpu_sys_s = _children_sys() - kernel
        if not child:
            out.peak_rss_mb = own_peak_mb()
        out.shopify = sandbox.shopify.log.counters(marks[0])
        out.rackbeat = sandbox.rackbeat.log.counters(marks[1])


def document(scale: float, passes: dict[str, dict[str, Any]], headline: str,
             **size: Any) -> dict[str, Any]:
    """The one ``--json`` object: the scale and size, the headline pass's figures at the top
    level, every pass under ``passes``."""
    return {"time_scale": scale, **size, "headline": headline, **passes[headline],
            "passes": passes}
