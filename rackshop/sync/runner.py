"""Running a job over shops: the lock, the run record, the outcome.

Every job (``sync-orders``, ``sync-products``, ``sync-stock``, ``init-sync``) goes through
:func:`run_per_shop`: for each selected shop it takes the (job, shop) lock — a second concurrent
run exits at once with the lock exit code — records the run in the store (not on a dry run: a dry
run writes nothing anywhere), calls the job, and records how it ended. One shop's failure does not
stop the others; the exit code says what happened overall.

A refusal of one shop's Shopify credentials or scopes (:class:`AuthError` not from Rackbeat) is
that shop's failure row: the other shops run, and the exit code is ``SHOP_FAILED`` (11). A
refused Rackbeat token stops every shop (one account: every shop would hit it), exit ``AUTH``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rackshop.config import ShopConfig
from rackshop.errors import (
    AuthError,
    ExitCode,
    FatalError,
    LockHeldError,
    RackshopError,
    RecordError,
)
from rackshop.runtime import Runtime
from rackshop.store import JobLock

log = logging.getLogger("rackshop.job")


class ProgressSink(Protocol):
    """What the CLI's progress bars implement (``rackshop.console.RichProgress``).

    Jobs take an optional sink and report phases (``start``), units done (``advance``) and the
    end of a phase (``finish``); core code never draws anything itself.
    """

    def start(self, phase: str, total: int | None) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def finish(self) -> None: ...


class OptionalProgress:
    """A job's reports to a :class:`ProgressSink` when it was given one, else to nowhere."""

    def __init__(self, sink: ProgressSink | None) -> None:
        self.sink = sink

    def start(self, phase: str, total: int | None = None) -> None:
        if self.sink:
            self.sink.start(phase, total)

    def advance(self, n: int = 1) -> None:
        if self.sink:
            self.sink.advance(n)

    def finish(self) -> None:
        if self.sink:
            self.sink.finish()


@dataclass
class ShopResult:
    """What a job did for one shop.

    Attributes:
        shop: The shop's name.
        counts: Named counters (``transferred``, ``failed``, ...) for the summary table.
        failures: ``(record, reason)`` pairs for the report.
        outcome: ``ok``, ``partial`` or ``failed``.
        details: Anything else worth keeping in the run record (JSON-serialisable).
    """

    shop: str
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    outcome: str = "ok"
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def bump(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def fail(self, record: str, reason: str) -> None:
        self.failures.append((record, reason))
        self.bump("failed")
        if self.outcome == "ok":
            self.outcome = "partial"


@dataclass
class JobResult:
    """Every shop's result, and the exit code they add up to."""

    job: str
    dry_run: bool
    shops: list[ShopResult] = field(default_factory=list)
    exit_code: ExitCode = ExitCode.OK


def run_per_shop(
    runtime: Runtime,
    job: str,
    shops: Sequence[ShopConfig],
    body: Callable[[ShopConfig, ShopResult], None],
    *,
    dry_run: bool = False,
) -> JobResult:
    """Run ``body`` for each shop under its lock, recording each run.

    Args:
        runtime: Clients and store.
        job: The job's name (``sync-orders``...).
        shops: The selected shops.
        body: Does the work for one shop, filling in the :class:`ShopResult`. Record-level
            problems belong in ``result.fail``; a :class:`FatalError` ends this shop's run.
        dry_run: Take no lock-free shortcuts, but write no run record.

    Returns:
        The results; ``exit_code`` is OK, PARTIAL, SHOP_FAILED (a shop failed on its own
        credentials while others ran), or the first fatal error's code.

    Raises:
        LockHeldError: Another run holds the lock of the first shop (before anything was done).
    """
    result = JobResult(job, dry_run)
    fatal: RackshopError | None = None
    shop_fatal: RackshopError | None = None  # the first failure that concerns one shop only
    for shop in shops:
        shop_result = ShopResult(shop.name)
        lock = JobLock(runtime.state_path, job, shop.name)
        try:
            lock.acquire()
        except LockHeldError:
            if not result.shops:
                raise
            shop_result.outcome = "failed"
            shop_result.error = "another run holds the lock"
            result.shops.append(shop_result)
            result.exit_code = ExitCode.LOCKED
            continue
        try:
            stops_job, stops_shop = _run_shop(runtime, job, shop, shop_result, body,
                                              dry_run=dry_run)
        finally:
            lock.release()
        fatal = fatal or stops_job
        shop_fatal = shop_fatal or stops_shop
        result.shops.append(shop_result)
        if fatal is not None and fatal.exit_code in (ExitCode.AUTH, ExitCode.API_UNAVAILABLE,
                                                     ExitCode.NOT_IMPLEMENTED):
            break  # the same API problem would hit every other shop too
    _settle_exit_code(result, fatal, shop_fatal)
    return result


def _run_shop(runtime: Runtime, job: str, shop: ShopConfig, shop_result: ShopResult,
              body: Callable[[ShopConfig, ShopResult], None], *, dry_run: bool
              ) -> tuple[RackshopError | None, RackshopError | None]:
    """One shop's run, its lock held: the run record around ``body``.

    Returns:
        The error that stops the whole job (Rackbeat refused, an API down...), and the error
        that concerns this shop only (its own token or scopes); ``None`` for each that did not
        happen.
    """
    stops_job: RackshopError | None = None
    stops_shop: RackshopError | None = None
    run_id = None
    if not dry_run:
        run_id = runtime.store().start_run(job, shop.name)
    try:
        body(shop, shop_result)
    except RecordError as exc:  # a record error that escaped: the shop is partial
        shop_result.fail("(job)", exc.message)
    except AuthError as exc:
        shop_result.outcome = "failed"
        shop_result.error = exc.message
        if exc.api == "rackbeat":
            stops_job = exc
        else:  # this shop's token or scopes: the other shops go on
            stops_shop = exc
            log.error("%s: shop %s failed: %s", job, shop.name, exc.message)
    except FatalError as exc:
        shop_result.outcome = "failed"
        shop_result.error = exc.message
        stops_job = exc
    except BaseException as exc:
        shop_result.outcome = "failed"
        shop_result.error = f"{type(exc).__name__}: {exc}"
        if run_id is not None:
            runtime.store().finish_run(run_id, "failed", _summary(shop_result))
        raise
    if run_id is not None:
        runtime.store().finish_run(run_id, shop_result.outcome, _summary(shop_result))
    return stops_job, stops_shop


def _settle_exit_code(result: JobResult, fatal: RackshopError | None,
                      shop_fatal: RackshopError | None) -> None:
    """The job's exit code from its shops (raises the fatal error of a one-shop run)."""
    if fatal is None and shop_fatal is not None:
        if all(s.outcome == "failed" for s in result.shops):
            fatal = shop_fatal  # every shop refused: nothing ran, say why
        elif result.exit_code == ExitCode.OK:
            result.exit_code = ExitCode.SHOP_FAILED
    if fatal is not None:
        if len(result.shops) == 1:
            raise fatal
        result.exit_code = fatal.exit_code
    elif result.exit_code == ExitCode.OK and any(s.outcome != "ok" for s in result.shops):
        result.exit_code = ExitCode.PARTIAL


def summary_table(result: JobResult) -> tuple[list[str], list[list[Any]]]:
    """A job's result as a table with one column per shop and one row per counter.

    Counters differ between jobs and shops; listing them down the side keeps the table narrow
    however many there are.
    """
    names: list[str] = []
    for shop in result.shops:
        names += [k for k in shop.counts if k not in names and k != "failed"]
    columns = ["", *(s.shop for s in result.shops)]
    rows: list[list[Any]] = [["outcome", *(s.outcome for s in result.shops)]]
    rows += [[name.replace("_", " "), *(s.counts.get(name, 0) for s in result.shops)]
             for name in names]
    rows.append(["failed", *(s.counts.get("failed", 0) for s in result.shops)])
    errors = [s.error for s in result.shops]
    if any(errors):
        rows.append(["error", *(e or "" for e in errors)])
    return columns, rows


def _summary(result: ShopResult) -> dict[str, Any]:
    summary: dict[str, Any] = dict(result.counts)
    if result.error:
        summary["error"] = result.error
    if result.failures:
        summary["failures"] = [{"record": r, "reason": why} for r, why in result.failures[:50]]
    summary.update(result.details)
    return summary
