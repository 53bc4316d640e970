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
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rackshop.config import ShopConfig
from rackshop.contract import StockAdapter
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
from rackshop.shopify.client import ShopifyClient, parse_user_errors
from rackshop.store import Store, utcnow
from rackshop.sync.product_map import sku_key
from rackshop.sync.runner import JobResult, ProgressSink, ShopResult, run_per_shop
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

log = logging.getLogger("rackshop.stock")

JOB = "sync-stock"
REPORT_PAGE = 1000
ORDERS_PAGE = 10
#: Orders read by id per call (each with its first 50 lines: the query's cost stays < 1,000).
IDS_PAGE = 10
#: Up to this many items, a narrowed push reads Rackbeat's report and Shopify's levels for
#: each of them; more, and the whole catalogue is read (fewer calls).
FEW_ITEMS = 20
#: Items named per Shopify search (``id:1 OR id:2 ...``).
SEARCH_TERMS = 50
#: How often stale rows are read again and planned again within one pass.
STALE_ROUNDS = 3
#: How often a write is sent again while Shopify still works on the same key.
CONCURRENT_ATTEMPTS = 3
#: A write journalled as sent but never answered (a crash) is sent again, with its key, by the
#: next pass within this window; older ones are left to the comparison with Shopify's levels.
REPLAY_WINDOW = timedelta(hours=1)

LocationCache = MutableMapping[str, dict[str, str]]
"""Shop name -> (config location key -> Shopify location gid), kept by a long-running caller."""
#: Why an item is left alone, by the code used in counters.
SKIP_REASONS = {
    "duplicate": "the SKU is on several variants of the shop (no stock is pushed to either)",
    "not_in_rackbeat": "no Rackbeat item has this number",
    "untracked": "Shopify does not track the item's inventory (set stock.track_untracked)",
    "gone": "deleted in Shopify while the pass ran",
}
#: Journal states whose orders Rackbeat has not booked (sync-orders writes them).
UNBOOKED_STATES = ("new", "waiting", "failed", "creating", "created", "held")
#: userError codes a write handles itself (the rest fail the rows they name).
HANDLED_CODES = ("CHANGE_FROM_QUANTITY_STALE", "ITEM_NOT_STOCKED_AT_LOCATION",
                 "INVALID_INVENTORY_ITEM", "IDEMPOTENCY_CONCURRENT_REQUEST",
                 "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED", "IDEMPOTENCY_KEY_PARAMETER_MISMATCH")


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
        if self.dry_run and not self.runtime.state_path.exists():
            return None
        return self.runtime.store()

    def locations(self) -> list[dict[str, Any]]:
        if self._locations is None:
            self._locations = self.runtime.rackbeat().locations()
        return self._locations

    def figures(self) -> Figures:
        """Orders on their way first, then Rackbeat's stock: the order that makes them agree."""
        if self._figures is None:
            units, unread = _count_in_flight(self.runtime, self.store(), dry_run=self.dry_run)
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


def _order_lines(client: ShopifyClient, order: Mapping[str, Any]) -> dict[str, int]:
    """SKU -> units an order takes now (``currentQuantity``), every line, paged to its end."""
    conn = order.get("lineItems") or {}
    nodes = list(conn.get("nodes") or [])
    info = conn.get("pageInfo") or {}
    if info.get("hasNextPage") and info.get("endCursor"):
        nodes += client.paginate("StockOrderLines", {"id": order["id"],
                                                     "after": info["endCursor"]},
                                 ("order", "lineItems"))
    out: dict[str, int] = {}
    for li in nodes:
        if li.get("sku") and li.get("currentQuantity"):
            out[li["sku"]] = out.get(li["sku"], 0) + int(li["currentQuantity"])
    return out


def _count_in_flight(runtime: Runtime, store: Store | None, *,
                     dry_run: bool) -> tuple[dict[str, int], dict[str, str]]:
    """SKU key -> units taken by orders, in any shop, that Rackbeat does not hold yet.

    Shopify first, the journal second (see the module docstring for why that order), each
    order at Shopify's current quantities. A shop whose orders cannot be read (its token
    refused, Shopify down) is named in the second result; its journalled orders are counted
    from the journal's lines instead, and the other shops go on.
    """
    counts: dict[str, int] = {}
    unread: dict[str, str] = {}

    def add(lines: Mapping[str, Any]) -> None:
        for sku, qty in lines.items():
            key = sku_key(sku)
            counts[key] = counts.get(key, 0) + int(qty)

    shops = {s.name: s for s in runtime.config.shops if s.enabled}
    recent: dict[tuple[str, str], dict[str, int]] = {}  # orders newer than sync-orders saw
    for shop in shops.values():
        if not (shop.orders.enabled and shop.orders.since):
            continue
        try:
            recent.update(_recent_orders(runtime, store, shop))
        except RackshopError as exc:
            unread[shop.name] = exc.message
            log.warning("sync-stock: the orders of shop %s could not be read: %s", shop.name,
                        exc.message)
    # After Shopify, in one snapshot: which orders are on their way, which are journalled.
    journal, settled = _journal_in_flight(runtime, store, recent, dry_run=dry_run)
    by_shop: dict[str, list[str]] = {}
    for shop_name, oid in journal:
        if (shop_name, oid) not in recent and shop_name in shops and shop_name not in unread:
            by_shop.setdefault(shop_name, []).append(oid)
    current = dict(recent)
    for shop_name, ids in by_shop.items():
        try:
            current.update(_orders_by_id(runtime.shopify(shops[shop_name]), shop_name, ids))
        except RackshopError as exc:
            unread[shop_name] = exc.message
    for (shop_name, oid), lines in journal.items():
        if (shop_name, oid) in current:
            add(current[(shop_name, oid)])
        elif shop_name in unread or shop_name not in shops:
            add(lines)  # Shopify cannot tell: the lines as the journal holds them
        # else: Shopify no longer has the order: nothing is on its way
    for key, lines in recent.items():
        if key not in journal and key not in settled:
            add(lines)  # not journalled yet: Shopify's figure is the only one
    return counts, unread


def _recent_orders(runtime: Runtime, store: Store | None,
                   shop: ShopConfig) -> dict[tuple[str, str], dict[str, int]]:
    """Open orders of one shop updated since ``sync-orders``' cursor (less its overlap)."""
    assert shop.orders.since is not None
    cursor = store.get_cursor(shop.name, "sync-orders") if store else None
    since = shop.orders.since
    if cursor:
        since = max(since, datetime.fromisoformat(cursor.replace("Z", "+00:00"))
                    - timedelta(minutes=shop.orders.overlap_minutes))
    query = f"updated_at:>='{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    client = runtime.shopify(shop)
    out: dict[tuple[str, str], dict[str, int]] = {}
    for order in client.paginate("StockOrders", {"query": query}, ("orders",),
                                 page_size=ORDERS_PAGE):
        processed = order.get("processedAt")
        if processed and datetime.fromisoformat(processed.replace("Z", "+00:00")) < \
                shop.orders.since:
            continue  # before go-live: never transferred, never counted
        out[(shop.name, str(order["id"]))] = ({} if order.get("cancelledAt")
                                              else _order_lines(client, order))
    return out


def _orders_by_id(client: ShopifyClient, shop: str,
                  ids: Sequence[str]) -> dict[tuple[str, str], dict[str, int]]:
    """The current lines of journalled orders (an order Shopify no longer has is left out)."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for i in range(0, len(ids), IDS_PAGE):
        data = client.query("StockOrdersByIds", {"ids": list(ids[i:i + IDS_PAGE])})
        for node in data.get("nodes") or []:
            if node and node.get("id"):
                out[(shop, str(node["id"]))] = ({} if node.get("cancelledAt")
                                                else _order_lines(client, node))
    return out


def _journal_in_flight(runtime: Runtime, store: Store | None,
                       recent: Mapping[tuple[str, str], Any], *, dry_run: bool
                       ) -> tuple[dict[tuple[str, str], dict[str, int]], set[tuple[str, str]]]:
    """Journalled orders Rackbeat does not hold yet (with their journalled lines), and which
    of the ``recent`` orders the journal had already settled, both from one snapshot."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    settled: set[tuple[str, str]] = set()
    if store is None:
        return out, settled
    marks = ",".join("?" for _ in UNBOOKED_STATES)
    with store.snapshot() as conn:
        # Only rows that may still be on their way: not the years of booked orders.
        rows = conn.execute(
            "SELECT shop, shopify_order_id, state, rackbeat_number, steps_done, detail "
            f"FROM order_journal WHERE state IN ({marks}) OR (state = 'done' AND "
            "steps_done NOT LIKE '%book%' AND detail NOT LIKE '%\"booked\": true%')",
            UNBOOKED_STATES).fetchall()
        for shop_name, oid in recent:
            if conn.execute("SELECT 1 FROM order_journal WHERE shop = ? AND "
                            "shopify_order_id = ?", (shop_name, oid)).fetchone():
                settled.add((shop_name, oid))
    for row in rows:
        detail = json.loads(row["detail"] or "{}")
        lines = {str(k): int(v) for k, v in (detail.get("lines") or {}).items()}
        booked = "book" in (row["steps_done"] or "").split(",") or detail.get("booked")
        key = (row["shop"], row["shopify_order_id"])
        if row["state"] in UNBOOKED_STATES and not booked:
            out[key] = lines
        elif row["state"] == "done" and not booked and row["rackbeat_number"]:
            # Transferred as a draft (process_to = draft): on its way until someone books
            # it in Rackbeat; one read tells, and a booked answer is remembered.
            order = runtime.rackbeat().find_one("orders", int(row["rackbeat_number"]))
            if order is not None and (order.get("is_booked") or order.get("is_shipped")):
                if not dry_run:
                    store.journal_put(row["shop"], row["shopify_order_id"],
                                      detail={"booked": True})
            elif order is not None:
                out[key] = lines
    return out, settled


# -- Shopify's side ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """One inventory item of a shop, as Shopify has it now."""

    sku: str
    inventory_item_id: str
    tracked: bool


@dataclass
class ShopView:
    """A shop's inventory items by SKU key, and their levels, as read in this pass.

    Attributes:
        unique: SKU key -> the one item with that SKU.
        duplicates: SKU key -> the items sharing it (no stock is pushed to any of them).
        levels: (location gid, item gid) -> available, for every level that is stocked.
    """

    unique: dict[str, Listed] = field(default_factory=dict)
    duplicates: dict[str, list[Listed]] = field(default_factory=dict)
    levels: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def build(cls, items: Iterable[tuple[Listed, Mapping[str, int]]]) -> ShopView:
        """The view of ``(item, location gid -> available)`` pairs (items without SKU dropped)."""
        view = cls()
        by_key: dict[str, list[Listed]] = {}
        for item, levels in items:
            for loc, qty in levels.items():
                view.levels[(loc, item.inventory_item_id)] = qty
            if sku_key(item.sku):
                by_key.setdefault(sku_key(item.sku), []).append(item)
        for key, listed in by_key.items():
            if len(listed) == 1:
                view.unique[key] = listed[0]
            else:
                view.duplicates[key] = listed
        return view


def _levels_of(node: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for level in (node.get("inventoryLevels") or {}).get("nodes") or []:
        qty = next((q["quantity"] for q in level.get("quantities") or []
                    if q.get("name") == "available"), 0)
        out[str((level.get("location") or {}).get("id"))] = int(qty)
    return out


def _listed(node: Mapping[str, Any]) -> Listed:
    return Listed(str(node.get("sku") or ""), str(node["id"]), bool(node.get("tracked")))


def read_view(client: ShopifyClient, *, skus: Iterable[str] | None = None,
              item_ids: Iterable[str] | None = None) -> ShopView:
    """Shopify's inventory items and levels: all of them (one bulk operation), or a few.

    Args:
        client: The shop's client.
        skus: Read only the items with these SKUs (matched like SKUs, by :func:`sku_key`).
        item_ids: Read only these inventory items.
    """
    if skus is None and item_ids is None:
        return ShopView.build(_bulk_items(client))
    terms = ([f"sku:{_quoted(s)}" for s in sorted(set(skus or ()))]
             + [f"id:{str(i).rsplit('/', 1)[-1]}" for i in sorted(set(item_ids or ()))])
    wanted = {sku_key(s) for s in skus or ()}
    pairs: dict[str, tuple[Listed, Mapping[str, int]]] = {}
    for i in range(0, len(terms), SEARCH_TERMS):
        query = " OR ".join(terms[i:i + SEARCH_TERMS])
        for node in client.paginate("StockLevels", {"query": query}, ("inventoryItems",)):
            listed = _listed(node)
            if skus is not None and item_ids is None and sku_key(listed.sku) not in wanted:
                continue  # Shopify's search matched more loosely than a SKU key does
            pairs[listed.inventory_item_id] = (listed, _levels_of(node))
    return ShopView.build(pairs.values())


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _bulk_items(client: ShopifyClient) -> Iterator[tuple[Listed, dict[str, int]]]:
    """Every inventory item with its levels, from one bulk operation (levels follow items)."""
    item: Listed | None = None
    levels: dict[str, int] = {}
    for line in run_bulk_query(client, bulk_query_text("BulkInventoryLevels")):
        parent = line.get("__parentId")
        if parent is None:
            if item is not None:
                yield item, levels
            item, levels = _listed(line), {}
            continue
        if item is None or str(parent) != item.inventory_item_id:
            continue  # a level whose item line was not just read (Shopify keeps them after)
        qty = next((q["quantity"] for q in line.get("quantities") or []
                    if q.get("name") == "available"), 0)
        levels[str((line.get("location") or {}).get("id"))] = int(qty)
    if item is not None:
        yield item, levels


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
        self.writes = _Writes(self.client, self.store, shop.name, result, runtime.sleep)

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
        applied = _applied(payload)
        self._record(batch)
        self.result.bump("changed", len(applied))
        if self.progress:
            self.progress.advance(len(batch))
        event(log, f"{self.shop.name}: set {len(batch)} quantities ({len(applied)} changed)",
              shop=self.shop.name, quantities=len(batch), changed=len(applied))
        return []

    def _refused(self, batch: list[Change], errors: Sequence[UserErrorItem]) -> list[Change]:
        """A refused batch (Shopify applies none of it): sort its rows out, resend the rest."""
        stale = _indexes(errors, "CHANGE_FROM_QUANTITY_STALE")
        not_stocked = _indexes(errors, "ITEM_NOT_STOCKED_AT_LOCATION")
        gone = _indexes(errors, "INVALID_INVENTORY_ITEM")
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


# -- writes: one key per intended write --------------------------------------------------------


class _Writes:
    """Idempotent Shopify writes with a key made per intended write and journalled first.

    ``stock_batches`` holds each write: its key, the document, the variables, and whether it
    was answered. A write is journalled ``sent`` before the request leaves and marked ``done``
    (or ``refused``) with the answer; a row still ``sent`` at the next pass (a crash, an answer
    that never came) is sent again with its own key within :data:`REPLAY_WINDOW`, so Shopify
    applies it at most once.

    Shopify's idempotency answers: ``IDEMPOTENCY_CONCURRENT_REQUEST`` (the same key is still being
    worked on) waits and sends the same key again; ``IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED`` and
    ``IDEMPOTENCY_KEY_PARAMETER_MISMATCH`` send the write once more with a new key (Shopify's
    documented handling); neither is ever taken for success.
    """

    def __init__(self, client: ShopifyClient, store: Store | None, shop: str,
                 result: ShopResult, sleep: Callable[[float], None]) -> None:
        self.client = client
        self.store = store
        self.shop = shop
        self.result = result
        self.sleep = sleep

    def send(self, document: str, root: str, variables: Mapping[str, Any], *,
             skus: Sequence[str]) -> dict[str, Any] | None:
        """Send a write with a new key; the payload, or ``None`` when it could not be settled.

        Returns the payload with its userErrors (those not about idempotency) for the caller.
        """
        for fresh in range(2):
            key = "rackshop-" + uuid.uuid4().hex
            self._journal(key, document, root, variables, "sent")
            payload = self._send_key(key, document, root, variables)
            if payload is None:
                return None
            codes = {e.code for e in parse_user_errors(payload) if e.code}
            if codes & {"IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
                        "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"}:
                self._mark(key, "refused")
                log.warning("%s: Shopify refused key %s (%s); sending with a new key", self.shop,
                            key, ", ".join(sorted(codes)))
                if fresh:
                    for sku in skus:
                        self.result.fail(sku, "Shopify refused the write's idempotency key "
                                         "twice; the next pass sends it again")
                    return None
                continue
            self._mark(key, "refused" if codes else "done")
            return payload
        return None  # pragma: no cover - the loop returns

    def _send_key(self, key: str, document: str, root: str,
                  variables: Mapping[str, Any]) -> dict[str, Any] | None:
        """Send with ``key``, waiting out ``IDEMPOTENCY_CONCURRENT_REQUEST`` (same key).

        Raises:
            ShopifyUserErrors: Shopify refused the write for a reason no row-level handling
                covers (the key is marked refused).
        """
        for attempt in range(CONCURRENT_ATTEMPTS):
            try:
                payload = self.client.mutate(document, {**variables, "key": key}, root=root,
                                             idempotent=True, allow_codes=HANDLED_CODES)
            except ShopifyUserErrors:
                self._mark(key, "refused")
                raise
            codes = {e.code for e in parse_user_errors(payload)}
            if "IDEMPOTENCY_CONCURRENT_REQUEST" not in codes:
                return payload
            self.sleep(0.5 * (attempt + 1))
        self.result.bump("unanswered")
        log.warning("%s: Shopify still works on write %s; the next pass sends it again",
                    self.shop, key)
        return None  # stays "sent": replayed with its key by the next pass

    def replay_unanswered(self) -> None:
        """Send again, with their own keys, the writes a killed pass left unanswered."""
        assert self.store is not None
        rows = self.store.conn.execute(
            "SELECT idempotency_key, payload, created_at FROM stock_batches "
            "WHERE shop = ? AND state = 'sent' ORDER BY created_at", (self.shop,)).fetchall()
        cutoff = datetime.now(UTC) - REPLAY_WINDOW
        for row in rows:
            body = _loads(row["payload"])
            created = _parse_time(row["created_at"])
            if body is None or created is None or created < cutoff:
                self._mark(row["idempotency_key"], "abandoned")
                continue
            try:
                payload = self._send_key(row["idempotency_key"], body["document"],
                                         body["root"], body["variables"])
            except ShopifyUserErrors:
                continue  # refused now; the comparison with Shopify's levels follows
            if payload is None:
                continue
            codes = {e.code for e in parse_user_errors(payload)}
            self._mark(row["idempotency_key"], "refused" if codes else "done")
            self.result.bump("replayed")
            event(log, f"{self.shop}: sent again write {row['idempotency_key']} of a pass "
                  "that did not finish", shop=self.shop, outcome="refused" if codes else "done")

    def _journal(self, key: str, document: str, root: str, variables: Mapping[str, Any],
                 state: str) -> None:
        if self.store is None:
            return
        body = json.dumps({"document": document, "root": root, "variables": variables},
                          sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(body.encode()).hexdigest()
        with self.store.transaction() as c:
            c.execute(
                "INSERT INTO stock_batches (idempotency_key, shop, payload_hash, state, payload, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, self.shop, digest, state, body, utcnow(), utcnow()))

    def _mark(self, key: str, state: str) -> None:
        if self.store is None:
            return
        with self.store.transaction() as c:
            c.execute("UPDATE stock_batches SET state = ?, updated_at = ? "
                      "WHERE idempotency_key = ?", (state, utcnow(), key))


def _applied(payload: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(location, item) pairs whose available quantity Shopify's answer says it changed."""
    group = payload.get("inventoryAdjustmentGroup") or {}
    return {(str((c.get("location") or {}).get("id")), str((c.get("item") or {}).get("id")))
            for c in group.get("changes") or []
            if c.get("name") == "available" and c.get("delta")}


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


def _loads(text: str | None) -> dict[str, Any] | None:
    try:
        body = json.loads(text or "")
    except ValueError:
        return None
    if isinstance(body, dict) and {"document", "root", "variables"} <= body.keys():
        return body
    return None  # a row of an older rackshop: no replayable write


def _parse_time(text: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

