"""``rackshop sync-stock``: one inventory, every shop, no overselling.

One pass:

1. **read Rackbeat once** for all shops: the locations tree and the stock report
   (``GET /reports/checking?show_all_locations=true``, 1,000 items a page), never one call per
   item;
2. **count the orders on their way**, once for all shops: orders Shopify has taken, in any shop,
   that Rackbeat has not booked — from the order journal of ``sync-orders`` (waiting, failed,
   unfinished, draft-only orders) and from each shop's orders newer than ``sync-orders`` has seen;
3. **per shop**: bring the SKU index up to date (variants changed since the last pass; the whole
   catalogue by bulk operation the first time), compute each target
   (:mod:`rackshop.sync.stock_plan`), compare with what was last pushed (``--full``: with Shopify's
   current levels, read in bulk) and stop if the circuit breaker trips;
4. **push** the changes with ``inventorySetQuantities`` in batches of 250, each with an
   idempotency key stable for that transition, journalled in ``stock_batches`` before it is sent
   and recorded in ``stock_pushed`` in the same transaction as its success. Items not stocked at
   the location are activated (with their quantity) first.

A pass with no changes makes a handful of reads and no writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rackshop.config import ShopConfig
from rackshop.errors import (
    ConfigError,
    ConfigProblem,
    RackshopError,
    SafetyStopError,
    ShopifyUserErrors,
    UserErrorItem,
)
from rackshop.log import event
from rackshop.runtime import Runtime
from rackshop.shopify.bulk import bulk_query_text, run_bulk_query
from rackshop.shopify.client import ShopifyClient
from rackshop.store import Store, utcnow
from rackshop.sync.product_map import sku_key
from rackshop.sync.products import read_shopify_products
from rackshop.sync.products_store import ProductsStore, ShopIndex
from rackshop.sync.runner import JobResult, ProgressSink, ShopResult, run_per_shop
from rackshop.sync.stock_plan import (
    Change,
    ShopPlan,
    available_in,
    batch_key,
    batches,
    breaker_trips,
    location_closure,
    target_quantity,
)

log = logging.getLogger("rackshop.stock")

JOB = "sync-stock"
REPORT_PAGE = 1000
ORDERS_PAGE = 10
#: Up to this many items, a narrowed push reads each from the stock report on its own (one
#: call each); more, and the whole report is read (one call per 1,000 items).
FEW_ITEMS = 20

LocationCache = MutableMapping[str, dict[str, str]]
"""Shop name -> (config location key -> Shopify location gid), kept by a long-running caller."""
#: Why an item is left alone, by the code used in counters.
SKIP_REASONS = {
    "duplicate": "the SKU is on several variants of the shop (no stock is pushed to either)",
    "not_in_rackbeat": "no Rackbeat item has this number",
    "untracked": "Shopify does not track the item's inventory (set stock.track_untracked)",
}
#: Journal states whose orders Rackbeat has not booked (sync-orders writes them).
UNBOOKED_STATES = ("new", "waiting", "failed", "creating", "created", "held")


@dataclass
class StockReport:
    """Per shop plans, kept for the dry-run listing."""

    plans: dict[str, ShopPlan] = field(default_factory=dict)

    def rows(self) -> list[list[Any]]:
        """Dry-run rows: shop, SKU, location, from, to."""
        out: list[list[Any]] = []
        for shop, plan in self.plans.items():
            for c in plan.changes:
                out.append([shop, c.sku, c.location_id.rsplit("/", 1)[-1],
                            "-" if c.previous is None else c.previous, c.quantity,
                            "activate" if c.activate else ""])
        return out


def sync_stock(runtime: Runtime, shops: Sequence[ShopConfig], *, dry_run: bool = False,
               full: bool = False, force: bool = False, report: StockReport | None = None,
               progress: ProgressSink | None = None,
               now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> JobResult:
    """Run one sync-stock pass over ``shops``.

    Args:
        runtime: Clients and store.
        shops: Shops to update (those with stock disabled are skipped).
        dry_run: Plan only; write nothing anywhere.
        full: Compare with Shopify's current levels, not only with what was last pushed
            (repairs changes made by hand in Shopify).
        force: Push even if the circuit breaker trips.
        report: Receives the plans (for the dry-run listing).
        progress: Progress bars (the pushes of each shop).
        now: Clock for the pass start.
    """
    report = report if report is not None else StockReport()
    shared = _Shared(runtime, dry_run=dry_run)

    def body(shop: ShopConfig, result: ShopResult) -> None:
        if not shop.stock.enabled:
            result.details["note"] = "stock disabled for this shop"
            return
        job = _ShopStock(runtime, shared, shop, result, dry_run=dry_run, full=full, force=force,
                         started=now(), progress=progress)
        report.plans[shop.name] = job.run()

    return run_per_shop(runtime, JOB, shops, body, dry_run=dry_run)


def push_stock(runtime: Runtime, shops: Sequence[ShopConfig], numbers: Iterable[str], *,
               locations_cache: LocationCache | None = None,
               now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> JobResult:
    """``sync-stock`` narrowed to a few items (what a Rackbeat webhook named), for every shop.

    Everything is ``sync-stock``'s own: the lock and run record (``details.trigger =
    "webhook"``), the targets, the orders on their way, the batches and their keys, activation,
    the records, and the circuit breaker (judged against the shop's whole tracked catalogue).
    Only the reads are narrowed: Rackbeat's stock of those items, and the shop's SKU index from
    the store (refreshed from Shopify only for an item it does not know).

    Args:
        runtime: Clients and store.
        shops: Shops to update (those with stock disabled are passed over).
        numbers: Rackbeat item numbers (matched like SKUs: trimmed, case-folded).
        locations_cache: Keeps each shop's Shopify locations between pushes.
        now: Clock for the run record and, when the index is refreshed, the cursor.
    """
    wanted = {sku_key(n): str(n).strip() for n in numbers if sku_key(n)}
    shared = _Shared(runtime, dry_run=False, only=wanted)

    def body(shop: ShopConfig, result: ShopResult) -> None:
        result.details["trigger"] = "webhook"
        if not shop.stock.enabled:
            result.details["note"] = "stock disabled for this shop"
            return
        if wanted:
            _ShopStock(runtime, shared, shop, result, dry_run=False, full=False, force=False,
                       started=now(), keys=set(wanted), locations_cache=locations_cache).run()

    return run_per_shop(runtime, JOB, shops, body)


class _Shared:
    """What one pass reads once for every shop: Rackbeat's stock and the orders on their way.

    Args:
        runtime: Clients and store.
        dry_run: Write nothing.
        only: SKU key -> Rackbeat number of the items a narrowed push is about (webhooks), or
            ``None`` for the whole catalogue.
    """

    def __init__(self, runtime: Runtime, *, dry_run: bool,
                 only: Mapping[str, str] | None = None) -> None:
        self.runtime = runtime
        self.dry_run = dry_run
        self.only = dict(only) if only is not None else None
        self._stock: dict[str, dict[int, float]] | None = None
        self._locations: list[dict[str, Any]] | None = None
        self._in_flight: dict[str, int] | None = None
        self.products = ProductsStore(runtime, dry_run=dry_run)

    def store(self) -> Store | None:
        if self.dry_run and not self.runtime.state_path.exists():
            return None
        return self.runtime.store()

    def locations(self) -> list[dict[str, Any]]:
        if self._locations is None:
            self._locations = self.runtime.rackbeat().locations()
        return self._locations

    def stock(self) -> dict[str, dict[int, float]]:
        """SKU key -> Rackbeat location -> available quantity.

        The stock report is read once (a page per 1,000 items); for a few items (a webhook's)
        it is read filtered to each of them instead, whichever takes fewer calls.
        """
        if self._stock is None:
            client = self.runtime.rackbeat()
            filters: list[dict[str, str]] = [{}]
            if self.only is not None and len(self.only) <= FEW_ITEMS:
                filters = [{"simple_filter[number]": n} for n in sorted(self.only.values())]
            stock: dict[str, dict[int, float]] = {}
            for extra in filters:
                for item in client.iter_list("reports/checking",
                                             {"show_all_locations": "true", **extra},
                                             page_size=REPORT_PAGE):
                    stock[sku_key(str(item["number"]))] = _per_location(item)
            self._stock = stock
        return self._stock

    def in_flight(self) -> dict[str, int]:
        """SKU key -> units taken by orders, in any shop, that Rackbeat has not booked."""
        if self._in_flight is None:
            self._in_flight = _count_in_flight(self.runtime, self.store(), dry_run=self.dry_run)
        return self._in_flight


def _per_location(item: Mapping[str, Any]) -> dict[int, float]:
    """Location number -> available quantity of one stock-report row."""
    per: dict[int, float] = {}
    for loc in item.get("locations") or []:
        avail = loc.get("available_quantity")
        if avail is None:
            avail = float(loc.get("stock_quantity") or 0)
        per[int(loc["number"])] = float(avail)
    return per


def _count_in_flight(runtime: Runtime, store: Store | None, *, dry_run: bool) -> dict[str, int]:
    counts: dict[str, int] = {}
    known: set[tuple[str, str]] = set()

    def add(lines: Mapping[str, Any]) -> None:
        for sku, qty in lines.items():
            key = sku_key(sku)
            counts[key] = counts.get(key, 0) + int(qty)

    if store is not None:
        # Only rows that may still be on their way: not the years of booked orders.
        marks = ",".join("?" for _ in UNBOOKED_STATES)
        rows = store.conn.execute(
            "SELECT shop, shopify_order_id, state, rackbeat_number, steps_done, detail "
            f"FROM order_journal WHERE state IN ({marks}) OR (state = 'done' AND "
            "steps_done NOT LIKE '%book%' AND detail NOT LIKE '%\"booked\": true%')",
            UNBOOKED_STATES).fetchall()
        for row in rows:
            known.add((row["shop"], row["shopify_order_id"]))
            detail = json.loads(row["detail"] or "{}")
            lines = detail.get("lines") or {}
            booked = "book" in (row["steps_done"] or "").split(",") or detail.get("booked")
            if row["state"] in UNBOOKED_STATES and not booked:
                add(lines)
            elif row["state"] == "done" and not booked and row["rackbeat_number"]:
                # Transferred as a draft (process_to = draft): in flight until someone books
                # it in Rackbeat; one read tells, and a booked answer is remembered.
                order = runtime.rackbeat().find_one("orders", int(row["rackbeat_number"]))
                if order is not None and (order.get("is_booked") or order.get("is_shipped")):
                    if not dry_run:
                        store.journal_put(row["shop"], row["shopify_order_id"],
                                          detail={"booked": True})
                elif order is not None:
                    add(lines)
    # Orders newer than sync-orders has seen, in every shop that transfers orders.
    for shop in runtime.config.shops:
        if not (shop.enabled and shop.orders.enabled and shop.orders.since):
            continue
        cursor = store.get_cursor(shop.name, "sync-orders") if store else None
        since = shop.orders.since
        if cursor:
            since = max(since, datetime.fromisoformat(cursor.replace("Z", "+00:00"))
                        - timedelta(minutes=shop.orders.overlap_minutes))
        query = f"updated_at:>='{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        for order in runtime.shopify(shop).paginate("StockOrders", {"query": query},
                                                    ("orders",), page_size=ORDERS_PAGE):
            if (shop.name, str(order["id"])) in known or order.get("cancelledAt"):
                continue
            if store is not None and store.journal_get(shop.name, str(order["id"])):
                continue  # journalled: counted above if it is still on its way
            processed = order.get("processedAt")
            if processed and datetime.fromisoformat(processed.replace("Z", "+00:00")) < \
                    shop.orders.since:
                continue
            add({li["sku"]: li["currentQuantity"] for li in
                 (order.get("lineItems") or {}).get("nodes") or []
                 if li.get("sku") and li.get("currentQuantity")})
    return counts


class _ShopStock:
    """One shop's pass."""

    def __init__(self, runtime: Runtime, shared: _Shared, shop: ShopConfig, result: ShopResult,
                 *, dry_run: bool, full: bool, force: bool, started: datetime,
                 progress: ProgressSink | None = None, keys: set[str] | None = None,
                 locations_cache: LocationCache | None = None) -> None:
        self.progress = progress
        self.keys = keys
        self.locations_cache = locations_cache
        self.runtime = runtime
        self.shared = shared
        self.shop = shop
        self.result = result
        self.dry_run = dry_run
        self.full = full
        self.force = force
        self.started = started
        self.client: ShopifyClient = runtime.shopify(shop)
        self.store = None if dry_run else runtime.store()

    # -- read --------------------------------------------------------------------------------

    def run(self) -> ShopPlan:
        refreshed = self.keys is None
        if self.keys is None:
            index = self._index()
            scope = index
        else:
            # A narrowed push: the index from the store, refreshed only for an item it does
            # not know (a product new in Shopify).
            index = self.shared.products.index(self.shop.name)
            if self.keys - index.all_keys():
                index = self._index()
                refreshed = True
            scope = ShopIndex(index.shop,
                              unique={k: r for k, r in index.unique.items() if k in self.keys},
                              duplicates={k: r for k, r in index.duplicates.items()
                                          if k in self.keys})
        plan = self._plan(scope, self._locations())
        # the breaker judges against the shop's whole tracked catalogue, even for a few items
        tracked = sum(1 for row in index.unique.values() if row.tracked)
        self.result.bump("checked", plan.checked)
        for code, skus in plan.skipped.items():
            self.result.bump(f"skipped_{code}", len(skus))
        if plan.skipped:
            self.result.details["skipped"] = {SKIP_REASONS[c]: sorted(s)[:50]
                                              for c, s in plan.skipped.items()}
        if breaker_trips(plan, tracked * max(1, len(self.shop.stock.targets)),
                         self.shop.stock.zero_guard) and not self.force:
            raise SafetyStopError(
                f"shop {self.shop.name}: this pass would set {plan.zeroing()} of "
                f"{tracked} tracked items to zero (more than stock.zero_guard = "
                f"{self.shop.stock.zero_guard:.0%}); nothing was pushed",
                hint="check that the Rackbeat locations in the config hold stock and that "
                "Rackbeat answered normally (an outage can look like empty stock); if the "
                "zeros are right, run again with --force",
            )
        if not self.dry_run:
            self._apply(plan)
            if self.store is not None and refreshed:
                self.store.set_cursor(self.shop.name, JOB, _iso(self.started),
                                      "shopify_updated_at")
        else:
            self.result.bump("would_change", len(plan.changes))
        return plan

    def _index(self) -> ShopIndex:
        store = self.shared.store()
        cursor = store.get_cursor(self.shop.name, JOB, "shopify_updated_at") if store else None
        since = None
        if cursor:
            # a little overlap covers clock skew between this machine and Shopify
            since = datetime.fromisoformat(cursor.replace("Z", "+00:00")) - timedelta(minutes=2)
        products = read_shopify_products(self.client, since, allow_bulk=True)
        return self.shared.products.refresh(self.shop.name, products, full=since is None)

    def _locations(self) -> dict[str, str]:
        if self.locations_cache is None:
            return self._shopify_locations()
        if self.shop.name not in self.locations_cache:
            self.locations_cache[self.shop.name] = self._shopify_locations()
        return self.locations_cache[self.shop.name]

    def _shopify_locations(self) -> dict[str, str]:
        """Config key (name or gid) -> location gid, for this shop's targets."""
        nodes = list(self.client.paginate("Locations", {}, ("locations",)))
        by_key: dict[str, str] = {}
        for loc in nodes:
            by_key[str(loc["id"])] = str(loc["id"])
            by_key[str(loc["name"])] = str(loc["id"])
        out: dict[str, str] = {}
        for target in self.shop.stock.targets:
            if target.shopify_location not in by_key:
                known = ", ".join(sorted(str(n["name"]) for n in nodes)) or "none"
                index = next(i for i, s in enumerate(self.runtime.config.shops)
                             if s.name == self.shop.name)
                raise ConfigError([ConfigProblem(
                    f"shops[{index}].stock",
                    f"the shop has no Shopify location {target.shopify_location!r} (known: "
                    f"{known}); use a location name or gid exactly as `rackshop check` lists "
                    "them")])
            out[target.shopify_location] = by_key[target.shopify_location]
        return out

    # -- plan --------------------------------------------------------------------------------

    def _plan(self, index: ShopIndex, locations: Mapping[str, str]) -> ShopPlan:
        stock = self.shared.stock()
        in_flight = self.shared.in_flight()
        rb_locations = self.shared.locations()
        plan = ShopPlan()
        for key, rows in index.duplicates.items():
            plan.skip("duplicate", rows[0].sku if rows else key)
        current = self._current_levels(locations.values()) if self.full else {}
        pushed = self._pushed()
        for target in self.shop.stock.targets:
            location_id = locations[target.shopify_location]
            closure = location_closure(rb_locations, target.rackbeat_locations)
            for key, row in sorted(index.unique.items()):
                if not row.inventory_item_id:
                    continue
                if key not in stock:
                    plan.skip("not_in_rackbeat", row.sku)
                    continue
                if not row.tracked and not self.shop.stock.track_untracked:
                    plan.skip("untracked", row.sku)
                    continue
                plan.checked += 1
                want = target_quantity(available_in(stock[key], closure),
                                       in_flight.get(key, 0), self.shop.stock.buffer)
                level_key = (location_id, row.inventory_item_id)
                if self.full:
                    previous = current.get(level_key)
                    stocked = level_key in current
                else:
                    previous = pushed.get(level_key)
                    stocked = True  # unknown: a refusal tells, and the item is activated then
                if previous == want and stocked and (row.tracked or not
                                                     self.shop.stock.track_untracked):
                    plan.unchanged += 1
                    continue
                plan.changes.append(Change(row.sku, row.inventory_item_id, location_id, want,
                                           previous, activate=not stocked))
        return plan

    def _pushed(self) -> dict[tuple[str, str], int]:
        store = self.shared.store()
        if store is None:
            return {}
        return {(r["location_id"], r["inventory_item_id"]): int(r["quantity"])
                for r in store.conn.execute(
                    "SELECT location_id, inventory_item_id, quantity FROM stock_pushed "
                    "WHERE shop = ?", (self.shop.name,))}

    def _current_levels(self, location_ids: Iterable[str]) -> dict[tuple[str, str], int]:
        """Shopify's available quantity per (location, item), read by one bulk operation."""
        wanted = set(location_ids)
        levels: dict[tuple[str, str], int] = {}
        for line in run_bulk_query(self.client, bulk_query_text("BulkInventoryLevels")):
            parent = line.get("__parentId")
            if parent is None:
                continue
            loc = str((line.get("location") or {}).get("id"))
            if loc not in wanted:
                continue
            qty = next((q["quantity"] for q in line.get("quantities") or []
                        if q.get("name") == "available"), 0)
            levels[(loc, str(parent))] = int(qty)
        return levels

    # -- apply -------------------------------------------------------------------------------

    def _apply(self, plan: ShopPlan) -> None:
        if self.shop.stock.track_untracked:
            self._track({c.inventory_item_id for c in plan.changes})
        if self.progress:
            self.progress.start(f"{self.shop.name}: stock changes", len(plan.changes))
        for change in (c for c in plan.changes if c.activate):
            self._activate(change)
            if self.progress:
                self.progress.advance()
        for batch in batches([c for c in plan.changes if not c.activate]):
            self._push(batch)
            if self.progress:
                self.progress.advance(len(batch))
        if self.progress:
            self.progress.finish()

    def _track(self, items: set[str]) -> None:
        index = self.shared.products.index(self.shop.name)
        for row in index.unique.values():
            if row.inventory_item_id in items and not row.tracked:
                self.client.mutate("InventoryItemTrack", {"id": row.inventory_item_id},
                                   root="inventoryItemUpdate", idempotent=True)
                self.result.bump("tracked")

    def _push(self, batch: list[Change]) -> None:
        """Send one batch; on "not stocked", activate those items and send the rest again."""
        key = batch_key(self.shop.name, batch)
        payload = {
            "input": {
                "name": "available",
                "reason": "correction",
                "referenceDocumentUri": f"gid://rackshop/StockSync/{key[-12:]}",
                "quantities": [{"inventoryItemId": c.inventory_item_id,
                                "locationId": c.location_id, "quantity": c.quantity,
                                "changeFromQuantity": None} for c in batch],
            },
            "key": key,
        }
        self._journal_batch(key, batch, "sent")
        try:
            self.client.mutate("InventorySetQuantities", payload, root="inventorySetQuantities",
                               idempotent=True)
        except ShopifyUserErrors as exc:
            self._journal_batch(key, batch, "refused")
            not_stocked = _indexes(exc.errors, "ITEM_NOT_STOCKED_AT_LOCATION")
            unknown = _indexes(exc.errors, "INVALID_INVENTORY_ITEM")
            if not not_stocked and not unknown:
                for c in batch:
                    self.result.fail(c.sku, exc.message)
                return
            for i in sorted(unknown):
                self.result.fail(batch[i].sku, "Shopify no longer knows this inventory item; "
                                 "it is re-read on the next pass")
            for i in sorted(not_stocked):
                self._activate(batch[i])
            rest = [c for i, c in enumerate(batch) if i not in not_stocked | unknown]
            if rest:
                self._push(rest)
            return
        self._record(key, batch)
        self.result.bump("changed", len(batch))
        event(log, f"{self.shop.name}: set {len(batch)} quantities", shop=self.shop.name,
              batch=key, quantities=len(batch))

    def _activate(self, change: Change) -> None:
        key = batch_key(self.shop.name, [change]).replace("stock", "activate")
        try:
            self.client.mutate("InventoryActivate", {
                "item": change.inventory_item_id, "location": change.location_id,
                "available": change.quantity, "key": key}, root="inventoryActivate",
                idempotent=True)
        except (ShopifyUserErrors, RackshopError) as exc:
            self.result.fail(change.sku, f"could not stock it at {change.location_id}: {exc}")
            return
        self._record(key, [change])
        self.result.bump("activated")

    def _journal_batch(self, key: str, batch: Sequence[Change], state: str) -> None:
        if self.store is None:
            return
        body = json.dumps([[c.inventory_item_id, c.location_id, c.quantity] for c in batch])
        digest = hashlib.sha256(body.encode()).hexdigest()
        with self.store.transaction() as c:
            c.execute(
                "INSERT INTO stock_batches (idempotency_key, shop, payload_hash, state, payload, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                "(idempotency_key) DO UPDATE SET state = excluded.state, "
                "updated_at = excluded.updated_at",
                (key, self.shop.name, digest, state, body, utcnow(), utcnow()))

    def _record(self, key: str, batch: Sequence[Change]) -> None:
        """What was pushed, and the batch done, in one transaction."""
        if self.store is None:
            return
        now = utcnow()
        with self.store.transaction() as c:
            c.executemany(
                "INSERT INTO stock_pushed (shop, location_id, inventory_item_id, sku, quantity, "
                "pushed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (shop, location_id, "
                "inventory_item_id) DO UPDATE SET quantity = excluded.quantity, "
                "sku = excluded.sku, pushed_at = excluded.pushed_at",
                [(self.shop.name, ch.location_id, ch.inventory_item_id, ch.sku, ch.quantity, now)
                 for ch in batch])
            c.execute("UPDATE stock_batches SET state = 'done', updated_at = ? "
                      "WHERE idempotency_key = ?", (now, key))


def _indexes(errors: Sequence[UserErrorItem], code: str) -> set[int]:
    """Positions in the batch that userErrors with ``code`` point at (field input.quantities.N)."""
    out: set[int] = set()
    for e in errors:
        if e.code != code or not e.field:
            continue
        for part in e.field:
            if part.isdigit():
                out.add(int(part))
                break
    return out


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
