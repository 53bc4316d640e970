"""Push the stock of a few items to every shop: ``sync-stock`` narrowed to the SKUs a webhook named.

When Rackbeat says that some items' stock moved, the listener need not read the whole stock report
and plan the whole catalogue: it reads those items' availability and plans just them. Everything
else is ``sync-stock``'s own code (:mod:`rackshop.sync.stock`), reused as it is:

* the same lock and run record (job ``sync-stock``), so a push and a full pass never interleave
  for a shop, and the push shows in ``rackshop status`` (``details.trigger = "webhook"``);
* the same target (available in the configured locations, minus the orders on their way from
  every shop, minus the buffer), the same comparison with what was last pushed, the same batches
  with idempotency keys, the same activation of items not stocked at a location, and the same
  records in ``stock_pushed`` / ``stock_batches``;
* the same circuit breaker, judged against the shop's whole tracked catalogue (a push of a few
  items that happen to go to zero is normal; one that would zero most of the shop is not).

What differs: Rackbeat's stock report is read filtered to the items (one call per item; above
:data:`FEW_ITEMS` items the whole report is read, as ``sync-stock`` does); the shop's SKU index is
read from the store and refreshed from Shopify only when one of the items is not in it (a product
new in Shopify); Shopify's locations may come from a cache the caller keeps (the listener clears
it at each scheduled ``sync-stock`` pass). The ``sync-stock`` cursor is moved only when the index
was refreshed, so the next full pass never misses a Shopify change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rackshop.config import ShopConfig
from rackshop.errors import SafetyStopError
from rackshop.runtime import Runtime
from rackshop.sync.product_map import sku_key
from rackshop.sync.products_store import ShopIndex
from rackshop.sync.runner import JobResult, ShopResult, run_per_shop
from rackshop.sync.stock import (
    JOB,
    REPORT_PAGE,
    SKIP_REASONS,
    _iso,
    _Shared,
    _ShopStock,
)
from rackshop.sync.stock_plan import ShopPlan, breaker_trips

#: Up to this many items, each is read from Rackbeat's stock report on its own (one call each);
#: more, and the whole report is read (one call per 1,000 items), whichever is fewer calls.
FEW_ITEMS = 20

LocationCache = MutableMapping[str, dict[str, str]]
"""Shop name -> (config location key -> Shopify location gid), kept by the caller."""


def push_stock(runtime: Runtime, shops: Sequence[ShopConfig], numbers: Iterable[str], *,
               locations_cache: LocationCache | None = None,
               now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> JobResult:
    """Push the current stock of the items ``numbers`` to every shop in ``shops``.

    Args:
        runtime: Clients and store.
        shops: Shops to update (those with stock disabled are passed over).
        numbers: Rackbeat item numbers (as a webhook gives them; matched like SKUs, trimmed and
            case-folded).
        locations_cache: Keeps each shop's Shopify locations between pushes (one call saved per
            shop and push); ``None`` reads them every time.
        now: Clock for the run record and, when the index is refreshed, the cursor.

    Returns:
        Per shop counters, as ``sync-stock`` reports them (``checked``, ``changed``,
        ``activated``, ``skipped_*``, ``failed``).

    Raises:
        SafetyStopError: The push would zero more than ``stock.zero_guard`` of a shop's
            tracked items (single shop; with several, the shop's result says so).
    """
    wanted = {sku_key(n): str(n).strip() for n in numbers if sku_key(n)}
    shared = _ItemsShared(runtime, wanted)

    def body(shop: ShopConfig, result: ShopResult) -> None:
        result.details["trigger"] = "webhook"
        if not shop.stock.enabled:
            result.details["note"] = "stock disabled for this shop"
            return
        if not wanted:
            return
        job = _ItemsStock(runtime, shared, shop, result, set(wanted), locations_cache, now())
        job.push()

    return run_per_shop(runtime, JOB, shops, body)


class _ItemsShared(_Shared):
    """``sync-stock``'s once-per-pass reads, with Rackbeat's stock read for the items only."""

    def __init__(self, runtime: Runtime, wanted: Mapping[str, str]) -> None:
        super().__init__(runtime, dry_run=False)
        self.wanted = dict(wanted)

    def stock(self) -> dict[str, dict[int, float]]:
        if self._stock is None and len(self.wanted) > FEW_ITEMS:
            return super().stock()
        if self._stock is None:
            stock: dict[str, dict[int, float]] = {}
            client = self.runtime.rackbeat()
            for number in sorted(self.wanted.values()):
                for item in client.iter_list(
                        "reports/checking",
                        {"show_all_locations": "true", "simple_filter[number]": number},
                        page_size=REPORT_PAGE):
                    stock[sku_key(str(item["number"]))] = _per_location(item)
            self._stock = stock
        return self._stock


def _per_location(item: Mapping[str, Any]) -> dict[int, float]:
    """Location number -> available quantity of one stock-report row (as ``sync-stock`` reads)."""
    per: dict[int, float] = {}
    for loc in item.get("locations") or []:
        avail = loc.get("available_quantity")
        if avail is None:
            avail = float(loc.get("stock_quantity") or 0)
        per[int(loc["number"])] = float(avail)
    return per


class _ItemsStock(_ShopStock):
    """One shop's push of a few items."""

    def __init__(self, runtime: Runtime, shared: _ItemsShared, shop: ShopConfig,
                 result: ShopResult, keys: set[str], cache: LocationCache | None,
                 started: datetime) -> None:
        super().__init__(runtime, shared, shop, result, dry_run=False, full=False, force=False,
                         started=started)
        self.keys = keys
        self.cache = cache

    def push(self) -> ShopPlan:
        index = self.shared.products.index(self.shop.name)
        refreshed = False
        if self.keys - index.all_keys():
            # An item the shop's index does not know: perhaps a product new in Shopify.
            index = self._index()
            refreshed = True
        locations = self._locations()
        subset = ShopIndex(index.shop,
                           unique={k: r for k, r in index.unique.items() if k in self.keys},
                           duplicates={k: r for k, r in index.duplicates.items()
                                       if k in self.keys})
        plan = self._plan(subset, locations)
        tracked = sum(1 for row in index.unique.values() if row.tracked)
        self.result.bump("checked", plan.checked)
        for code, skus in plan.skipped.items():
            self.result.bump(f"skipped_{code}", len(skus))
        if plan.skipped:
            self.result.details["skipped"] = {SKIP_REASONS[c]: sorted(s)[:50]
                                              for c, s in plan.skipped.items()}
        if breaker_trips(plan, tracked * max(1, len(self.shop.stock.targets)),
                         self.shop.stock.zero_guard):
            raise SafetyStopError(
                f"shop {self.shop.name}: a webhook-triggered push would set {plan.zeroing()} "
                f"of {tracked} tracked items to zero (more than stock.zero_guard = "
                f"{self.shop.stock.zero_guard:.0%}); nothing was pushed",
                hint="check Rackbeat's stock of those items; `rackshop sync-stock --force` "
                "pushes them if the zeros are right")
        self._apply(plan)
        if refreshed and self.store is not None:
            self.store.set_cursor(self.shop.name, JOB, _iso(self.started), "shopify_updated_at")
        return plan

    def _locations(self) -> dict[str, str]:
        if self.cache is None:
            return self._shopify_locations()
        if self.shop.name not in self.cache:
            self.cache[self.shop.name] = self._shopify_locations()
        return self.cache[self.shop.name]
