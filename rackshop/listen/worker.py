"""The worker: takes deliveries off the durable queue and does the work, and runs the safety net.

One thread does everything, in this order of priority at each step:

1. **orders** (Shopify deliveries), at once, batched per shop: the order ids go through
   :func:`rackshop.sync.orders.sync_orders` with ``order_names`` — the very code path of
   ``rackshop sync-orders --order``, journal and all, so an order is never transferred twice
   however many deliveries name it (one the journal already settled costs no call at all);
2. a **polling pass** that is due (:mod:`.schedule`): ``sync-orders`` over every shop that
   transfers orders, ``sync-stock`` over every shop that takes stock;
3. **Rackbeat events**, debounced: once the oldest waiting event is ``debounce`` seconds old (or
   enough have piled up), every waiting one is taken in one batch: product events re-sync products
   for the shops whose master is Rackbeat (``sync-products``), order events are read for the items
   on their lines, and the stock of every item named is pushed to every shop
   (:func:`~rackshop.sync.stock.push_stock`).

One thread means a delivery and a polling pass never race for the same shop's job lock, and
the Rackbeat rate limit is spent by one client. The price: while a long pass runs (a first
``sync-stock`` over a large catalogue), deliveries wait in the queue until it ends. A job
that fails as a whole (an API down, another process holding the lock) puts its rows back with a
growing delay; after ``max_attempts`` they are given up (``failed``, with the reason) and the
polling passes are left to catch the work. Record-level failures (an order Rackbeat refuses) are
the jobs' own business: they are journalled and retried by the passes, as without the listener.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from rackshop.config import ShopConfig
from rackshop.errors import (
    ExitCode,
    LockHeldError,
    NotFoundError,
    RackshopError,
    SafetyStopError,
    describe,
)
from rackshop.listen.queue import DurableQueue, QueuedRow
from rackshop.listen.schedule import FULFILLMENTS, ORDERS, STOCK, WEBHOOKS, Schedule
from rackshop.log import event
from rackshop.runtime import Runtime
from rackshop.sync.after_transfer import CHANGE_TOPICS
from rackshop.sync.fulfillments import sync_fulfillments
from rackshop.sync.orders import NOT_FOUND_REASON, sync_orders
from rackshop.sync.products import sync_products
from rackshop.sync.runner import JobResult
from rackshop.sync.stock import push_stock, sync_stock

log = logging.getLogger("rackshop.listen")

ORDER_KINDS = ("order",)
RACKBEAT_KINDS = ("stock", "product", "rb_order")
#: Orders per sync-orders call (``id:1 OR id:2 ...`` in one search).
ORDERS_PER_CALL = 50
#: Journal states sync-orders never acts on again (it only reports changes to them, which the
#: polling pass does).
SETTLED_STATES = ("done", "skipped")
ORDER_GID = "gid://shopify/Order/"


class Worker:
    """Processes the queue and runs the polling passes (see the module doc).

    Args:
        runtime: Clients and store (used by this worker's thread only).
        queue: The durable queue.
        schedule: The polling passes; ``None`` runs none.
        clock: Wall-clock seconds, the queue's clock.
        debounce: Seconds the oldest Rackbeat event waits for others before a batch is taken.
        order_batch: Most order rows taken in one step.
        rackbeat_batch: Most Rackbeat rows taken in one step (also: this many waiting end the
            debounce at once).
        max_attempts: Attempts per row before it is given up.
        retry_base: First delay (seconds) before a row is tried again; doubles per attempt.
        retry_cap: Longest delay between attempts.
        lock_retry: Delay when another process holds a job's lock.
        keep_done: Seconds finished rows are kept (then pruned).
        now: Clock for the jobs' frozen pass start.
    """

    def __init__(self, runtime: Runtime, queue: DurableQueue, *, schedule: Schedule | None = None,
                 clock: Callable[[], float] = time.time, debounce: float = 2.0,
                 order_batch: int = 200, rackbeat_batch: int = 1000, max_attempts: int = 8,
                 retry_base: float = 5.0, retry_cap: float = 300.0, lock_retry: float = 15.0,
                 keep_done: float = 3600.0,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.runtime = runtime
        self.queue = queue
        self.schedule = schedule
        #: The last subscriptions check (see ``webhooks_admin.check_subscriptions``), if any.
        self.subscriptions: dict[str, Any] | None = None
        self.clock = clock
        self.debounce = debounce
        self.order_batch = order_batch
        self.rackbeat_batch = rackbeat_batch
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.lock_retry = lock_retry
        self.keep_done = keep_done
        self.now = now
        self.locations: dict[str, dict[str, str]] = {}
        self._wake = threading.Event()
        self._stats_lock = threading.Lock()
        self._stats: dict[str, Any] = {
            "alive": False, "doing": None, "rows_done": 0, "rows_retried": 0, "rows_failed": 0,
            "order_batches": 0, "stock_pushes": 0, "product_syncs": 0, "last_error": None,
            "last_error_at": None, "last_work_at": None,
        }
        self._next_prune = 0.0

    # -- the loop ------------------------------------------------------------------------------

    def wake(self) -> None:
        """Tell the worker there may be work (the receiver calls it after queueing)."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; the work in hand is finished (or put back) first."""
        self._set(alive=True)
        try:
            while not stop.is_set():
                try:
                    worked = self.step(stop)
                except Exception as exc:  # the worker must outlive any one bad batch
                    log.exception("listener worker: unexpected error")
                    self._error(f"{type(exc).__name__}: {exc}")
                    worked = False
                if worked or stop.is_set():
                    continue
                try:
                    idle = self._idle_seconds()
                except Exception:  # the store is busy or broken: look again in a moment
                    idle = 1.0
                self._wake.wait(idle)
                self._wake.clear()
        finally:
            self._set(alive=False, doing=None)

    def step(self, stop: threading.Event | None = None) -> bool:
        """Do one unit of work (a pass, an order batch, a Rackbeat batch); False if none was due."""
        stop = stop or threading.Event()
        if self.clock() >= self._next_prune:  # also under load, when the worker is never idle
            self._next_prune = self.clock() + 600.0
            self.queue.prune(keep_done=self.keep_done)
        rows = self.queue.claim(ORDER_KINDS, limit=self.order_batch)
        if rows:
            with self._handing_back(rows):
                self._orders(rows, stop)
            return True
        if self.schedule is not None:
            for name in self.schedule.due():
                self._poll(name)
                return True
        count, oldest, _ = self.queue.waiting(RACKBEAT_KINDS)
        if count and oldest is not None and (self.clock() - oldest >= self.debounce
                                             or count >= self.rackbeat_batch):
            rows = self.queue.claim(RACKBEAT_KINDS, limit=self.rackbeat_batch)
            if rows:
                with self._handing_back(rows):
                    self._rackbeat(rows, stop)
                return True
        return False

    @contextlib.contextmanager
    def _handing_back(self, rows: Sequence[QueuedRow]) -> Iterator[None]:
        """If handling a batch fails unexpectedly, put back the rows it left ``working``."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self.queue.release([r.id for r in rows], delay=self.retry_base,
                                   reason="unexpected error; tried again")
            raise

    def _idle_seconds(self) -> float:
        """How long to sleep when idle: until the next pass, debounce end or retry is due."""
        waits = [5.0]
        if self.schedule is not None:
            until = self.schedule.seconds_until_next()
            if until is not None:
                waits.append(until)
        now = self.clock()
        for kinds, hold in ((ORDER_KINDS, 0.0), (RACKBEAT_KINDS, self.debounce)):
            count, oldest, later = self.queue.waiting(kinds)
            if count and oldest is not None:
                waits.append(oldest + hold - now)
            if later is not None:
                waits.append(later - now)
        return max(0.01, min(waits))

    # -- polling passes ------------------------------------------------------------------------

    def _poll(self, name: str) -> None:
        assert self.schedule is not None
        self.schedule.started(name)
        self._set(doing=f"polling pass {name}")
        outcome = "ok"
        try:
            result: JobResult | None = None
            if name == ORDERS:
                shops = [s for s in self._shops() if s.orders.enabled]
                if shops:
                    result = sync_orders(self.runtime, shops, now=self.now)
            elif name == WEBHOOKS:
                from rackshop.listen.webhooks_admin import check_subscriptions

                self.subscriptions = check_subscriptions(self.runtime)
            elif name == FULFILLMENTS:
                shops = [s for s in self._shops() if s.fulfillments.enabled]
                if shops:
                    result = sync_fulfillments(self.runtime, shops, now=self.now)
            elif name == STOCK:
                self.locations.clear()  # re-read each shop's Shopify locations from now on
                shops = [s for s in self._shops() if s.stock.enabled]
                if shops:
                    result = sync_stock(self.runtime, shops, now=self.now)
            if result is not None:
                outcome = {ExitCode.OK: "ok", ExitCode.PARTIAL: "partial"}.get(
                    result.exit_code, "failed")
                for failed in (s for s in result.shops if s.outcome == "failed"):
                    # one shop's refused token: the others ran; name the one that did not
                    self._error(f"polling pass {name}: shop {failed.shop}: {failed.error}")
        except LockHeldError as exc:
            outcome = "locked"
            log.info("polling pass %s skipped: %s", name, exc.message)
        except RackshopError as exc:
            outcome = "failed"
            self._error(f"polling pass {name}: {describe(exc)}")
            log.warning("polling pass %s failed: %s", name, exc)
        except Exception as exc:
            outcome = "failed"
            self._error(f"polling pass {name}: {type(exc).__name__}: {exc}")
            log.exception("polling pass %s failed", name)
        finally:
            self.schedule.finished(name, outcome)
            self._set(doing=None, last_work_at=self.clock())
        event(log, f"polling pass {name}: {outcome}", job=name, outcome=outcome)

    # -- orders --------------------------------------------------------------------------------

    def _orders(self, rows: Sequence[QueuedRow], stop: threading.Event) -> None:
        by_shop: dict[str, list[QueuedRow]] = {}
        for row in rows:
            by_shop.setdefault(row.shop, []).append(row)
        for shop_name, group in by_shop.items():
            if stop.is_set():
                self.queue.release([r.id for r in group], delay=0.0, reason="listener stopped")
                continue
            shop = self._shop(shop_name)
            if shop is None or not shop.orders.enabled:
                self._done(group, f"shop {shop_name!r} does not transfer orders (any more)")
                continue
            for i in range(0, len(group), ORDERS_PER_CALL):
                self._order_chunk(shop, group[i:i + ORDERS_PER_CALL])

    def _order_chunk(self, shop: ShopConfig, rows: Sequence[QueuedRow]) -> None:
        # An order the journal has settled (transferred, or skipped for good) costs no call:
        # most repeat deliveries (orders/paid after orders/create, Shopify's retries) end here.
        store = self.runtime.store()
        settled = [r for r in rows if r.topic not in CHANGE_TOPICS  # a change: read it again
                   and (store.journal_get(shop.name, ORDER_GID + r.key) or {})
                   .get("state") in SETTLED_STATES]
        self._done(settled, "already settled in the order journal")
        rows = [r for r in rows if r not in settled]
        if not rows:
            return
        names = list(dict.fromkeys(r.key for r in rows))
        self._set(doing=f"orders of {shop.name}: {len(names)}")
        try:
            result = sync_orders(self.runtime, [shop], order_names=names, now=self.now)
        except LockHeldError as exc:
            self._again(rows, exc.message, delay=self.lock_retry)
            return
        except RackshopError as exc:
            self._again(rows, describe(exc))
            return
        except Exception as exc:
            log.exception("listener: sync-orders for %s failed", shop.name)
            self._again(rows, f"{type(exc).__name__}: {exc}")
            return
        finally:
            self._set(doing=None, last_work_at=self.clock())
        self._bump("order_batches")
        shop_result = result.shops[0] if result.shops else None
        missing = {record for record, why in (shop_result.failures if shop_result else [])
                   if why.startswith(NOT_FOUND_REASON)}
        if shop_result is not None and shop_result.outcome == "failed":
            self._again(rows, shop_result.error or "sync-orders failed")
            return
        self._again([r for r in rows if r.key in missing],
                    "Shopify did not find the order (yet); tried again shortly")
        self._done([r for r in rows if r.key not in missing])
        counts = shop_result.counts if shop_result else {}
        event(log, f"{shop.name}: {len(names)} order(s) from webhooks", shop=shop.name,
              orders=len(names), transferred=counts.get("transferred", 0),
              failed=counts.get("failed", 0))

    # -- Rackbeat events: products, orders, stock ----------------------------------------------

    def _rackbeat(self, rows: Sequence[QueuedRow], stop: threading.Event) -> None:
        if stop.is_set():
            self.queue.release([r.id for r in rows], delay=0.0, reason="listener stopped")
            return
        pending = {r.id: r for r in rows}
        numbers: set[str] = set()
        products = [r for r in rows if r.kind == "product"]
        if products:
            numbers |= {r.key for r in products}
            if not self._sync_products(products):
                for r in products:
                    pending.pop(r.id, None)
        rb_orders = [r for r in rows if r.kind == "rb_order"]
        for r in rb_orders:
            try:
                numbers |= self._order_items(r.key)
            except RackshopError as exc:
                self._again([r], describe(exc))
                pending.pop(r.id, None)
        if rb_orders and not self._fulfil([r for r in rb_orders if r.id in pending]):
            for r in rb_orders:
                pending.pop(r.id, None)
        numbers |= {r.key for r in rows if r.kind == "stock"}
        shops = [s for s in self._shops() if s.stock.enabled]
        if not numbers or not shops:
            self._done(pending.values())
            return
        self._set(doing=f"stock push: {len(numbers)} item(s)")
        try:
            result = push_stock(self.runtime, shops, numbers, locations_cache=self.locations,
                                now=self.now)
        except LockHeldError as exc:
            self._again(pending.values(), exc.message, delay=self.lock_retry)
            return
        except SafetyStopError as exc:
            # A person must look: give up these rows (the message says what to do).
            self.queue.fail(list(pending), exc.message)
            self._bump("rows_failed", len(pending))
            self._error(exc.message)
            log.warning("%s", exc)
            return
        except RackshopError as exc:
            self._again(pending.values(), describe(exc))
            return
        except Exception as exc:
            log.exception("listener: stock push failed")
            self._again(pending.values(), f"{type(exc).__name__}: {exc}")
            return
        finally:
            self._set(doing=None, last_work_at=self.clock())
        self._bump("stock_pushes")
        failed = [s for s in result.shops if s.outcome == "failed"]
        if failed:
            # Pushes set absolute quantities and skip what is already right: repeating the
            # whole batch for the shops that did succeed costs a few reads and no writes.
            self._again(pending.values(), "; ".join(f"{s.shop}: {s.error}" for s in failed))
            return
        self._done(pending.values())
        event(log, f"stock of {len(numbers)} item(s) pushed from Rackbeat events",
              items=len(numbers),
              changed=sum(s.counts.get("changed", 0) + s.counts.get("activated", 0)
                          for s in result.shops))

    def _fulfil(self, rows: Sequence[QueuedRow]) -> bool:
        """A Rackbeat order changed (a shipment made or marked shipped): run sync-fulfillments
        for the shops that take fulfilments and transferred one of these orders. False (rows
        handled) when it could not run."""
        store = self.runtime.store()
        wanted = {s.name: s for s in self._shops() if s.fulfillments.enabled}
        shops: dict[str, ShopConfig] = {}
        for r in rows:
            try:
                number = int(r.key)
            except ValueError:
                continue
            for (name,) in store.conn.execute(
                    "SELECT shop FROM order_journal WHERE rackbeat_number = ?", (number,)):
                if name in wanted:
                    shops[name] = wanted[name]
        if not shops:
            return True
        return self._job_for(rows, "sync-fulfillments for Rackbeat order events",
                             "fulfillment_passes",
                             lambda: sync_fulfillments(self.runtime, list(shops.values()),
                                                       now=self.now))

    def _sync_products(self, rows: Sequence[QueuedRow]) -> bool:
        """Re-sync the Rackbeat-master shops; False (rows handled) when it could not run."""
        masters = [s for s in self._shops() if s.products.master == "rackbeat"]
        if not masters:
            return True
        return self._job_for(rows, "sync-products for Rackbeat product events", "product_syncs",
                             lambda: sync_products(self.runtime, masters, now=self.now))

    def _job_for(self, rows: Sequence[QueuedRow], doing: str, counter: str,
                 job: Callable[[], JobResult]) -> bool:
        """Run a job for some queued rows; False (the rows are handed back) when it could not
        run or a shop failed as a whole."""
        self._set(doing=doing)
        try:
            result = job()
        except LockHeldError as exc:
            self._again(rows, exc.message, delay=self.lock_retry)
            return False
        except RackshopError as exc:
            self._again(rows, describe(exc))
            return False
        finally:
            self._set(doing=None)
        self._bump(counter)
        failed = [s for s in result.shops if s.outcome == "failed"]
        if failed:
            self._again(rows, "; ".join(f"{s.shop}: {s.error}" for s in failed))
            return False
        return True

    def _order_items(self, number: str) -> set[str]:
        """Item numbers on a Rackbeat order's lines (none if the order is gone)."""
        try:
            order = self.runtime.rackbeat().get_one("orders", int(number))
        except (NotFoundError, ValueError):
            return set()
        items: set[str] = set()
        for line in order.get("lines") or []:
            item = line.get("item") or {}
            value = item.get("number") if isinstance(item, dict) else None
            value = value or line.get("item_id")
            if value:
                items.add(str(value))
        return items

    # -- rows ----------------------------------------------------------------------------------

    def _done(self, rows: Iterable[QueuedRow], reason: str | None = None) -> None:
        ids = [r.id for r in rows]
        if ids:
            self.queue.complete(ids, reason)
            self._bump("rows_done", len(ids))

    def _again(self, rows: Iterable[QueuedRow], reason: str, *, delay: float | None = None
               ) -> None:
        """Try rows again later, or give them up after ``max_attempts``."""
        rows = list(rows)
        if not rows:
            return
        self._error(reason)
        give_up = [r.id for r in rows if r.attempts >= self.max_attempts]
        if give_up:
            self.queue.fail(give_up, f"given up after {self.max_attempts} attempts: {reason}")
            self._bump("rows_failed", len(give_up))
            log.warning("listener: gave up %d queued item(s) after %d attempts (%s); the "
                        "polling passes will catch them", len(give_up), self.max_attempts,
                        reason)
        by_wait: dict[float, list[int]] = {}
        for r in rows:
            if r.attempts >= self.max_attempts:
                continue
            wait = delay if delay is not None else min(
                self.retry_cap, self.retry_base * 2 ** max(0, r.attempts - 1))
            by_wait.setdefault(wait, []).append(r.id)
        for wait, ids in by_wait.items():
            self.queue.release(ids, delay=wait, reason=reason)
            self._bump("rows_retried", len(ids))

    # -- config --------------------------------------------------------------------------------

    def _shops(self) -> list[ShopConfig]:
        return [s for s in self.runtime.config.shops if s.enabled]

    def _shop(self, name: str) -> ShopConfig | None:
        return next((s for s in self._shops() if s.name == name), None)

    # -- status --------------------------------------------------------------------------------

    def _set(self, **values: Any) -> None:
        with self._stats_lock:
            self._stats.update(values)

    def _bump(self, name: str, n: int = 1) -> None:
        with self._stats_lock:
            self._stats[name] = int(self._stats.get(name) or 0) + n

    def _error(self, message: str) -> None:
        self._set(last_error=message, last_error_at=self.clock())

    def status(self) -> dict[str, Any]:
        """What ``/healthz`` shows about the worker."""
        with self._stats_lock:
            out = dict(self._stats)
        now = self.clock()
        for key in ("last_error_at", "last_work_at"):
            if out.get(key) is not None:
                out[key.replace("_at", "_seconds_ago")] = round(now - float(out.pop(key)), 1)
            else:
                out.pop(key, None)
        return out
