"""Run a ``rackshop`` command on the twins' scaled clock, as a benchmark's child process.

    python -m bench.scaled_run --scale S sync-orders --config CFG --log-format json

With time scale ``S`` the twins count every limit in twin seconds: Rackbeat's 480 requests in a
sliding window of 60 twin seconds (``60 / S`` real seconds), Shopify's bucket refilling at
100 points per twin second (the ``restoreRate`` its ``throttleStatus`` reports). The client must
count in the same seconds, as ``bench/init_sync.py`` does through ``tests/helpers/init_world``:
every :class:`~rackshop.runtime.Runtime` made here runs on ``time.monotonic() * S`` and sleeps
``s / S``, so its Rackbeat limiter, Shopify cost bucket, pacing and backoff are the real ones
seen through the scale, and the config keeps the real ``requests_per_minute`` (480).

A client on the real clock with a "480 × S per minute" allowance instead is another limit: it
lets bursts of up to 480 × S requests through a window the twin counts as 480 (429s that only the
scaling makes, each retried after a ``Retry-After`` of at least a real second, i.e. ``S`` twin
seconds), and it reads the twin's bucket as refilling ``S`` times slower than it does.

Everything else is the command line's own (``rackshop`` as ``python -m rackshop`` runs it):
logging, the result on stdout, the exit code.
"""

from __future__ import annotations

import runpy
import sys
import time
from typing import Any


def scale_runtime(scale: float) -> None:
    """Make every :class:`~rackshop.runtime.Runtime` built from now on run on the scaled clock
    (unless its maker passes a clock or sleep of its own)."""
    from rackshop import runtime

    made = runtime.Runtime.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("clock", lambda: time.monotonic() * scale)
        kwargs.setdefault("sleep", lambda s: time.sleep(max(0.0, s) / scale))
        made(self, *args, **kwargs)

    runtime.Runtime.__init__ = init  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    scale = 1.0
    if argv[:1] == ["--scale"]:
        scale, argv = float(argv[1]), argv[2:]
    if scale != 1.0:
        scale_runtime(scale)
    sys.argv = ["rackshop", *argv]
    runpy.run_module("rackshop", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
