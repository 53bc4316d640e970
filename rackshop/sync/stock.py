"""``rackshop sync-stock``: one inventory, every shop, no overselling.

The systems are the truth (DESIGN section 4): every pass compares the target with what Shopify
holds *now* and converges it, so a hand edit, another app, a write lost long ago or a sale
Shopify made on its own is repaired by the next scheduled pass. The store only makes each write
happen once.

One pass:

1. **the orders on their way**, once for all shops, *before* Rackbeat's stock: every order
   Shopify has taken, in any shop, that Rackbeat does not hold yet. First each shop's orders
   newer than ``sync-orders`` has seen, then the order journal (waiting, failed, half-done,
   draft-only orders), each at Shopify's *current* quantities (refunded, removed or cancelled
   units are released), every line paged. An order booked while the pass runs is then counted
   in this figure (it was not booked when the journal was read) or in Rackbeat's (it was booked
   before the stock report was read), never in neither;
2. **Rackbeat's stock**, once for all shops: the locations tree, the BOM definitions and the
   stock report (``GET /reports/checking``, 1,000 items a page). BOM lines on their way are
   exploded into their components (:func:`~rackshop.sync.stock_plan.explode`);
3. **per shop**: Shopify's inventory items with their levels (one bulk operation: SKUs,
   tracking and every level in a few calls, whatever the catalogue; for a webhook's few items
   one search), the targets (:mod:`rackshop.sync.stock_plan`), the differences, the circuit
   breaker;
4. **writes**: ``inventorySetQuantities`` in batches of 250, compare-and-set
   (``changeFromQuantity`` = the level read). Each write gets its own idempotency key, made
   when it is planned and journalled in ``stock_batches`` before the request leaves; a retry and
   the rerun after a crash send that key, a later write a new one. Rows Shopify calls stale are
   read again and planned again (a few rounds at most). ``changed`` counts what Shopify's answer
   says it applied. Items not stocked at the location are activated with their quantity.

A pass where nothing differs writes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rackshop.config import ShopConfig
from rackshop.contract.recorded import StockAdapter
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
from rackshop.shopify.client import ShopifyClient, parse_user_errors
from rackshop.store import Store, utcnow
from rackshop.sync.product_values import sku_key
from rackshop.sync.runner import JobResult, ProgressSink, ShopResult, run_per_shop
from rackshop.sync.stock_inflight import UNBOOKED_STATES, count_in_flight
from rackshop.sync.stock_plan import (
    Bom,
    Change,
    ShopPlan,
    available_in,
    batches,
    breaker_trips,
    explode,
    location_closure,
    sellable,
)
from rackshop.sync.stock_view import ShopView, read_view
from rackshop.sync.stock_writes import Writes, applied, indexes

log = logging.getLogger("rackshop.stock")

JOB = "sync-stock"
REPORT_PAGE = 1000
#: Up to this many items, a narrowed push reads Rackbeat's report and Shopify's levels for
#: each of them; more, and the whole catalogue is read (fewer calls).
FEW_ITEMS = 20
#: How often stale rows are read again and planned again within one pass.
STALE_ROUNDS = 3

LocationCache = MutableMapping[str, dict[str, str]]
"""Shop name -> (config location key -> Shopify location gid), kept by a long-running caller."""
#: Why an item is left alone, by the code used in counters.
SKIP_REASONS = {
    "duplicate": "the SKU is on several variants of the shop (no stock is pushed to either)",
    "not_in_rackbeat": "no Rackbeat item has this number",
    "untracked": "Shopify does not track the item's inventory (set stock.track_untracked)",
    "gone": "deleted in Shopify while the pass ran",
}

__all__ = ["JOB", "SKIP_REASONS", "UNBOOKED_STATES", "StockReport", "push_stock", "read_view",
           "sync_stock"]


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
        full: Kept for old scripts: every pass compares with Shopify's current levels now.
        force: Push even if the circuit breaker trips.
        report: Receives the plans (for the dry-run listing).
        progress: Progress bars (the pushes of each shop).
        now: Clock for the pass start.
    """
    del full  # every pass reads Shopify's levels: nothing is left for --full to add
    report = report if report is not None else StockReport()
    shared = _Shared(runtime, dry_run=dry_run)

    def body(shop: ShopConfig, result: ShopResult) -> None:
        if not shop.stock.enabled:
            result.details["note"] = "stock disabled for this shop"
            return
        job = _ShopStock(runtime, shared, shop, result, dry_run=dry_run, force=force,
                         progress=progress)
        report.plans[shop.name] = job.run()

    return run_per_shop(runtime, JOB, shops, body, dry_run=dry_run)


def push_stock(runtime: Runtime, shops: Sequence[ShopConfig], numbers: Iterable[str], *,
               locations_cache: LocationCache | None = None,
               now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> JobResult:
    """``sync-stock`` narrowed to a few items (what a Rackbeat webhook named), for every shop.

    Everything is ``sync-stock``'s own: the lock and run record (``details.trigger =
    "webhook"``), the orders on their way, the targets, the keys, compare-and-set, activation
    and the circuit breaker (judged against the shop's tracked catalogue as the last whole pass
    counted it). Only the reads are narrowed: Rackbeat's stock of those items (and of the BOMs
    built from them, and their components), and Shopify's levels of those SKUs.

    Args:
        runtime: Clients and store.
        shops: Shops to update (those with stock disabled are passed over).
        numbers: Rackbeat item numbers (matched like SKUs: trimmed, case-folded).
        locations_cache: Keeps each shop's Shopify locations between pushes.
        now: Unused; kept for callers that pass their clock.
    """
    del now
    wanted = {sku_key(n): str(n).strip() for n in numbers if sku_key(n)}
    shared = _Shared(runtime, dry_run=False, only=wanted)

    def body(shop: ShopConfig, result: ShopResult) -> None:
        result.details["trigger"] = "webhook"
        if not shop.stock.enabled:
            result.details["note"] = "stock disabled for this shop"
            return
        if wanted:
            _ShopStock(runtime, shared, shop, result, dry_run=False, force=False,
                       locations_cache=locations_cache).run()

    return run_per_shop(runtime, JOB, shops, body)


# -- Rackbeat's side and the orders on their way -----------------------------------------------


@dataclass
class Figures:
    """What one pass knows of Rackbeat and of the orders on their way, for every shop.

    Attributes:
        stock: SKU key -> Rackbeat location -> available quantity (items with inventory).
        numbers: SKU key -> the item number as Rackbeat spells it.
        boms: BOM definitions.
        on_their_way: SKU key -> units on their way, BOMs exploded into their components.
        unread: Shop -> why its orders could not be read (its new orders are not counted).
        scope: For a narrowed push, the SKU keys it is about (the named items, the BOMs built
            from them and their components); ``None`` for the whole catalogue.
    """

    stock: dict[str, dict[int, float]]
    numbers: dict[str, str]
    boms: Bom
    on_their_way: dict[str, int]
    unread: dict[str, str]
    scope: set[str] | None


class _Shared:
    """What one pass reads once for every shop.

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
        self._figures: Figures | None = None
        self._locations: list[dict[str, Any]] | None = None

    def store(self) -> Store | None:
        return self.runtime.open_store(create=not self.dry_run)

    def locations(self) -> list[dict[str, Any]]:
        if self._locations is None:
            self._locations = self.runtime.rackbeat().locations()
        return self._locations

    def figures(self) -> Figures:
        """Orders on their way first, then Rackbeat's stock: the order that makes them agree."""
        if self._figures is None:
            units, unread = count_in_flight(self.runtime, self.store(), dry_run=self.dry_run)
            boms, numbers = self._boms()
            scope = None if self.only is None else _related(set(self.only), boms)
            stock = self._stock(scope, {**numbers, **(self.only or {})}, numbers, boms)
            self._figures = Figures(stock, numbers, boms, explode(units, boms), unread, scope)
        return self._figures

    def _boms(self) -> tuple[dict[str, list[tuple[str, float]]], dict[str, str]]:
        """Every BOM's definition (SKU key -> its lines), and SKU key -> number of all named."""
        boms: dict[str, list[tuple[str, float]]] = {}
        numbers: dict[str, str] = {}
        for lot in self.runtime.rackbeat().iter_list("lots", page_size=REPORT_PAGE):
            key = sku_key(str(lot.get("number") or ""))
            if not key:
                continue
            numbers[key] = str(lot["number"])
            parts = []
            for line in lot.get("lines") or []:
                number = _component_number(line)
                if number:
                    numbers[sku_key(number)] = number
                    parts.append((sku_key(number), float(line.get("quantity") or 0)))
            boms[key] = parts
        return boms, numbers

    def _stock(self, scope: set[str] | None, names: Mapping[str, str],
               numbers: dict[str, str], boms: Bom) -> dict[str, dict[int, float]]:
        """SKU key -> Rackbeat location -> available, for the whole catalogue or a few items.

        A narrowed read (``scope``: the named items, the BOMs built from them and every
        component of those BOMs, since a BOM's offer is its components') takes one filtered
        report call per item; more than :data:`FEW_ITEMS` of them, and the whole report is read
        instead. Fills ``numbers`` with the numbers as Rackbeat spells them.

        What the account reports is read as ``rackshop check --contract`` recorded it
        (:class:`~rackshop.contract.StockAdapter`): per-location availability as reported, or
        worked out from stock and booked order lines; the number filter, or the whole report
        filtered here.
        """
        client = self.runtime.rackbeat()
        adapter = StockAdapter.for_runtime(self.runtime, self.store(), boms)
        filters: list[dict[str, str]] = [{}]
        if scope is not None and len(scope) <= FEW_ITEMS:
            filters = [{"simple_filter[number]": names.get(k, k)} for k in sorted(scope)]
        filters = adapter.report_filters(filters)
        stock: dict[str, dict[int, float]] = {}
        for extra in filters:
            for item in client.iter_list("reports/checking",
                                         {"show_all_locations": "true", **extra},
                                         page_size=REPORT_PAGE):
                key = sku_key(str(item["number"]))
                if scope is None or key in scope:
                    stock[key] = adapter.per_location(item)
                    numbers[key] = str(item["number"])
        return adapter.finish(stock)


def _component_number(line: Mapping[str, Any]) -> str | None:
    """The item number a BOM line names (Rackbeat's lot lines; see docs/sandbox-rackbeat.md)."""
    item = line.get("item") if isinstance(line.get("item"), Mapping) else None
    number = (item or {}).get("number") or line.get("child_id") or line.get("product_id")
    return str(number) if number not in (None, "") else None


def _related(keys: set[str], boms: Bom) -> set[str]:
    """``keys`` with every BOM built from them and every component of those BOMs (nested)."""
    users: dict[str, set[str]] = {}
    for lot, parts in boms.items():
        for part, _ in parts:
            users.setdefault(part, set()).add(lot)
    out: set[str] = set()
    todo = list(keys)
    while todo:  # up through the BOMs that use an item
        k = todo.pop()
        if k not in out:
            out.add(k)
            todo += users.get(k, ())
    todo = list(out)
    while todo:  # down through their components
        k = todo.pop()
        for part, _ in boms.get(k, ()):
            if part not in out:
                out.add(part)
                todo.append(part)
    return out


# -- one shop ------------------------------------------------------------------------------------


class _ShopStock:
    """One shop's pass."""

    def __init__(self, runtime: Runtime, shared: _Shared, shop: ShopConfig, result: ShopResult,
                 *, dry_run: bool, force: bool, progress: ProgressSink | None = None,
                 locations_cache: LocationCache | None = None) -> None:
        self.progress = progress
        self.locations_cache = locations_cache
        self.runtime = runtime
        self.shared = shared
        self.shop = shop
        self.result = result
        self.dry_run = dry_run
        self.force = force
        self.client: ShopifyClient = runtime.shopify(shop)
        self.store = None if dry_run else runtime.store()
        self.writes = Writes(self.client, self.store, shop.name, result, runtime.sleep)

    def run(self) -> ShopPlan:
        if self.store is not None:
            self.writes.replay_unanswered()
        locations = self._locations()
        figures = self.shared.figures()
        scope = figures.scope
        if scope is None:
            view = read_view(self.client)
        else:
            view = read_view(self.client, skus=[figures.numbers.get(k, k) for k in sorted(scope)])
        for shop_name, why in figures.unread.items():
            self.result.details.setdefault("warnings", []).append(
                f"the orders of shop {shop_name} could not be read ({why}): its orders not "
                "yet journalled by sync-orders are not held back in this pass")
        plan = self._plan(view, locations, figures)
        tracked = self._tracked_count(view, scope)
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
        if self.dry_run:
            self.result.bump("would_change", len(plan.changes))
        else:
            self._apply(plan, view, locations, figures)
        return plan

    def _tracked_count(self, view: ShopView, scope: set[str] | None) -> int:
        """Tracked items of the shop: counted by a whole pass, remembered for narrowed ones."""
        tracked = sum(1 for row in view.unique.values() if row.tracked)
        store = self.shared.store()
        if scope is None:
            if store is not None and not self.dry_run:
                store.set_cursor(self.shop.name, JOB, str(tracked), "tracked_items")
            return tracked
        known = store.get_cursor(self.shop.name, JOB, "tracked_items") if store else None
        return max(tracked, int(known or 0))

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

    def _targets(self, figures: Figures, closure: set[int]) -> dict[str, int]:
        """SKU key -> what this shop location should show (before nothing: buffer included)."""
        available = {k: available_in(per, closure) for k, per in figures.stock.items()
                     if k not in figures.boms}
        buffer = self.shop.stock.buffer
        out: dict[str, int] = {}
        for key in figures.stock.keys() | figures.boms.keys():
            if key in figures.boms or key in available:
                out[key] = max(0, sellable(key, available, figures.on_their_way,
                                           figures.boms) - buffer)
        return out

    def _plan(self, view: ShopView, locations: Mapping[str, str], figures: Figures) -> ShopPlan:
        plan = ShopPlan()
        for key, rows in view.duplicates.items():
            plan.skip("duplicate", rows[0].sku if rows else key)
        for target in self.shop.stock.targets:
            location_id = locations[target.shopify_location]
            closure = location_closure(self.shared.locations(), target.rackbeat_locations)
            wants = self._targets(figures, closure)
            for key, row in sorted(view.unique.items()):
                if key not in wants or key not in figures.stock:
                    plan.skip("not_in_rackbeat", row.sku)
                    continue
                if not row.tracked and not self.shop.stock.track_untracked:
                    plan.skip("untracked", row.sku)
                    continue
                plan.checked += 1
                level_key = (location_id, row.inventory_item_id)
                previous = view.levels.get(level_key)
                want = wants[key]
                if previous == want and row.tracked:
                    plan.unchanged += 1
                    continue
                plan.changes.append(Change(row.sku, row.inventory_item_id, location_id, want,
                                           previous, activate=previous is None))
        return plan

    # -- apply -------------------------------------------------------------------------------

    def _apply(self, plan: ShopPlan, view: ShopView, locations: Mapping[str, str],
               figures: Figures) -> None:
        if self.shop.stock.track_untracked:
            self._track(view, {c.inventory_item_id for c in plan.changes})
        if self.progress:
            self.progress.start(f"{self.shop.name}: stock changes", len(plan.changes))
        for change in (c for c in plan.changes if c.activate):
            self._activate(change)
        pending = [c for c in plan.changes if not c.activate]
        for _ in range(STALE_ROUNDS):
            stale: list[Change] = []
            for batch in batches(pending):
                stale += self._push(batch)
            if not stale:
                break
            pending = self._replan(stale, figures)
        else:
            for c in pending:
                self.result.fail(c.sku, "its level kept changing in Shopify while rackshop "
                                 f"wrote it ({STALE_ROUNDS} tries); the next pass sets it")
        if self.progress:
            self.progress.finish()

    def _replan(self, stale: Sequence[Change], figures: Figures) -> list[Change]:
        """Read stale rows again and plan them again against the level Shopify has now."""
        view = read_view(self.client, item_ids=[c.inventory_item_id for c in stale])
        self.result.bump("stale_reread", len(stale))
        present = {r.inventory_item_id for r in view.unique.values()}
        present |= {r.inventory_item_id for rows in view.duplicates.values() for r in rows}
        out: list[Change] = []
        for c in stale:
            level = view.levels.get((c.location_id, c.inventory_item_id))
            if c.inventory_item_id not in present:
                self.result.bump("skipped_gone")
                continue
            if level is None:
                self._activate(dataclasses.replace(c, previous=None, activate=True))
                continue
            # Shopify moved the level itself since the read. A fall is a sale (or a hold)
            # this pass's count of orders on their way does not know yet: it stays taken.
            # A rise (a return, a hand edit) does not make Rackbeat hold more: ignored.
            sold = max(0, (c.previous or 0) - level)
            want = max(0, c.quantity - sold)
            if level == want:
                continue  # Shopify already shows the target
            out.append(dataclasses.replace(c, previous=level, quantity=want))
        return out

    def _track(self, view: ShopView, items: set[str]) -> None:
        for row in view.unique.values():
            if row.inventory_item_id in items and not row.tracked:
                self.client.mutate("InventoryItemTrack", {"id": row.inventory_item_id},
                                   root="inventoryItemUpdate", idempotent=True)
                self.result.bump("tracked")

    def _push(self, batch: list[Change]) -> list[Change]:
        """Send one batch; returns the rows Shopify called stale (to read and plan again)."""
        variables = {
            "input": {
                "name": "available",
                "reason": "correction",
                "referenceDocumentUri": "gid://rackshop/StockSync/" + uuid.uuid4().hex[:12],
                "quantities": [{"inventoryItemId": c.inventory_item_id,
                                "locationId": c.location_id, "quantity": c.quantity,
                                "changeFromQuantity": c.previous} for c in batch],
            },
        }
        try:
            payload = self.writes.send("InventorySetQuantities", "inventorySetQuantities",
                                       variables, skus=[c.sku for c in batch])
        except ShopifyUserErrors as exc:
            for c in batch:
                self.result.fail(c.sku, f"Shopify refused the quantity: {exc.message}")
            return []
        if payload is None:
            return []
        errors = parse_user_errors(payload)
        if errors:
            return self._refused(batch, errors)
        done = applied(payload)
        self._record(batch)
        self.result.bump("changed", len(done))
        if self.progress:
            self.progress.advance(len(batch))
        event(log, f"{self.shop.name}: set {len(batch)} quantities ({len(done)} changed)",
              shop=self.shop.name, quantities=len(batch), changed=len(done))
        return []

    def _refused(self, batch: list[Change], errors: Sequence[UserErrorItem]) -> list[Change]:
        """A refused batch (Shopify applies none of it): sort its rows out, resend the rest."""
        stale = indexes(errors, "CHANGE_FROM_QUANTITY_STALE")
        not_stocked = indexes(errors, "ITEM_NOT_STOCKED_AT_LOCATION")
        gone = indexes(errors, "INVALID_INVENTORY_ITEM")
        named = stale | not_stocked | gone
        if not named:  # only idempotency codes, which the writer has settled
            return []
        for i in sorted(gone):
            self.result.bump("skipped_gone")
            self.result.details.setdefault("gone", []).append(batch[i].sku)
        for i in sorted(not_stocked):
            self._activate(dataclasses.replace(batch[i], previous=None, activate=True))
        rest = [c for i, c in enumerate(batch) if i not in named]
        again = self._push(rest) if rest else []
        return [batch[i] for i in sorted(stale)] + again

    def _activate(self, change: Change) -> None:
        variables = {"item": change.inventory_item_id, "location": change.location_id,
                     "available": change.quantity}
        try:
            payload = self.writes.send("InventoryActivate", "inventoryActivate", variables,
                                       skus=[change.sku])
        except RackshopError as exc:
            self.result.fail(change.sku, f"could not stock it at {change.location_id}: {exc}")
            return
        if payload is None:
            return
        errors = parse_user_errors(payload)
        if errors:
            self.result.fail(change.sku, f"could not stock it at {change.location_id}: "
                             + "; ".join(str(e) for e in errors))
            return
        self._record([change])
        self.result.bump("activated")
        if self.progress:
            self.progress.advance()

    def _record(self, batch: Sequence[Change]) -> None:
        """What was pushed (memory for people and status, never read to decide a write)."""
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
