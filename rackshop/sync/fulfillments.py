"""``rackshop sync-fulfillments``: shipments in Rackbeat become Shopify fulfilments, once each.

Read -> plan -> apply -> report, per shop:

* **read**: Rackbeat's shipments marked shipped since the cursor (less an overlap), plus those the
  journal wants to see again (unsettled or failed); only shipments of orders ``sync-orders``
  transferred for this shop (the order journal names them). For each, the Shopify order's
  fulfilment orders and fulfilments (:file:`FulfillmentState.graphql`);
* **plan** (pure, :mod:`rackshop.sync.fulfillments_plan`): the shipment's units matched by SKU
  against what Shopify still has to fulfil, per location; an order fulfilled by hand is
  recognised; a mismatch fails that shipment with its reason;
* **apply**, exactly once: ``fulfillmentCreate`` takes no idempotency key, so the intent
  (shipment, location, units, time) is journalled ``creating`` before the request leaves. An
  answer that never came (a lost answer, a crash) is settled by reading the order's fulfilments
  before anything is sent again: a fulfilment made since the attempt with the same units and
  tracking numbers is the one (``find_made``); none, and the units are planned again against
  what Shopify still has to fulfil;
* **report**: fulfilled, already fulfilled in Shopify, failed with reasons.

The cursor is saved only when every shipment it covers is journalled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rackshop.config import ShopConfig
from rackshop.errors import ConfigError, ConfigProblem, OutcomeUnknownError, ShopifyUserErrors
from rackshop.log import event
from rackshop.runtime import Runtime
from rackshop.shopify.client import ShopifyClient
from rackshop.store import Store, utcnow
from rackshop.sync.fulfillments_plan import (
    Allocation,
    Tracking,
    TrackingFields,
    allocate,
    find_made,
    on_order,
    shipment_units,
    tracking_of,
)
from rackshop.sync.moments import iso_z, parse_moment, still_landing
from rackshop.sync.product_values import sku_key
from rackshop.sync.products_store import ProductsStore
from rackshop.sync.runner import JobResult, ProgressSink, ShopResult, run_per_shop

log = logging.getLogger("rackshop.fulfillments")

JOB = "sync-fulfillments"
#: Shipments are read again this far before the cursor (clock skew, slow writes).
OVERLAP = timedelta(minutes=30)
#: How far before an intent's attempt time to look for the fulfilment it may have made.
SEARCH_MARGIN = timedelta(minutes=10)
SHIPMENTS_PAGE = 250


@dataclass
class FulfillmentOutcome:
    """What happened to one shipment in this pass (for dry-run listings)."""

    shipment: int
    order: str
    status: str  # fulfilled | already | failed | planned | waiting
    reason: str = ""
    units: dict[str, int] = field(default_factory=dict)


@dataclass
class FulfillmentsReport:
    """Per shop outcomes, kept for the CLI's dry-run listing."""

    outcomes: dict[str, list[FulfillmentOutcome]] = field(default_factory=dict)

    def rows(self) -> list[list[Any]]:
        """Dry-run rows: shop, shipment, order, what, units."""
        return [[shop, o.shipment, o.order, o.status + (f": {o.reason}" if o.reason else ""),
                 ", ".join(f"{k} × {q}" for k, q in sorted(o.units.items()))]
                for shop, outs in self.outcomes.items() for o in outs]


def sync_fulfillments(runtime: Runtime, shops: Sequence[ShopConfig], *, dry_run: bool = False,
                      report: FulfillmentsReport | None = None,
                      progress: ProgressSink | None = None,
                      now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> JobResult:
    """Run one sync-fulfillments pass over ``shops``.

    Args:
        runtime: Clients and store.
        shops: Shops to process (those with fulfilments disabled are skipped).
        dry_run: Plan only; write nothing anywhere.
        report: Receives per-shipment outcomes (for the dry-run listing).
        progress: Progress bars (one phase per shop).
        now: Clock for the frozen pass start.
    """
    report = report if report is not None else FulfillmentsReport()

    def body(shop: ShopConfig, result: ShopResult) -> None:
        if not shop.fulfillments.enabled:
            result.details["note"] = "fulfilments disabled for this shop"
            return
        job = _ShopFulfillments(runtime, shop, result, dry_run=dry_run, started=now(),
                                progress=progress)
        report.outcomes[shop.name] = job.run()

    return run_per_shop(runtime, JOB, shops, body, dry_run=dry_run)


class _ShopFulfillments:
    """One shop's pass."""

    def __init__(self, runtime: Runtime, shop: ShopConfig, result: ShopResult, *,
                 dry_run: bool, started: datetime,
                 progress: ProgressSink | None = None) -> None:
        self.runtime = runtime
        self.shop = shop
        self.cfg = shop.fulfillments
        self.result = result
        self.dry_run = dry_run
        self.started = started
        self.lost_wait = runtime.config.rackbeat.lost_answer_wait_seconds
        self._link_keys: dict[str, str] | None = None
        self.progress = progress
        self.shopify: ShopifyClient = runtime.shopify(shop)
        self.store: Store | None = runtime.open_store(create=not dry_run)
        self.fields = TrackingFields(self.cfg.tracking_number_field, self.cfg.tracking_url_field,
                                     self.cfg.tracking_company_field, self.cfg.tracking_company,
                                     self.cfg.tracking_url_template)
        self.outcomes: list[FulfillmentOutcome] = []
        self._locations: dict[int, str] | None = None

    # -- read --------------------------------------------------------------------------------

    def run(self) -> list[FulfillmentOutcome]:
        shipments = list(self._shipments())
        if self.progress:
            self.progress.start(f"{self.shop.name}: shipments", len(shipments))
        for shipment, order in shipments:
            try:
                self._one(shipment, order)
            except (ShopifyUserErrors, OutcomeUnknownError) as exc:
                self._fail(shipment, order, exc.message)
            if self.progress:
                self.progress.advance()
        if self.progress:
            self.progress.finish()
        if not self.dry_run and self.store is not None:
            self.store.set_cursor(self.shop.name, JOB, iso_z(self.started), "rackbeat_updated_at")
        return self.outcomes

    def _shipments(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(shipment, order journal row) of this shop's transferred orders, each once."""
        if self.store is None:
            return
        rb = self.runtime.rackbeat()
        seen: set[int] = set()
        cursor = self.store.get_cursor(self.shop.name, JOB, "rackbeat_updated_at")
        params: dict[str, str] = {}
        # the first pass starts at the go-live date: older shipments are of older orders
        since = parse_moment(cursor) - OVERLAP if cursor else self.shop.orders.since
        if since is not None:
            params["updated_at_from"] = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        found = list(rb.iter_list("order-shipments", params, page_size=SHIPMENTS_PAGE))
        # the journal's unsettled and failed shipments, whatever their time
        again = [r["shipment_id"] for r in self.store.conn.execute(
            "SELECT shipment_id FROM fulfillment_journal WHERE shop = ? AND state IN "
            "('creating', 'failed')", (self.shop.name,))]
        have = {int(s["id"]) for s in found}
        for sid in again:
            if int(sid) not in have:
                one = rb.find_one("order-shipments", int(sid))
                if one is not None:
                    found.append(one)
        for shipment in sorted(found, key=lambda s: int(s["id"])):
            sid = int(shipment["id"])
            if sid in seen or not shipment.get("is_shipped"):
                continue
            seen.add(sid)
            number = _order_number(shipment)
            row = self.store.conn.execute(
                "SELECT shopify_order_id, order_name FROM order_journal WHERE shop = ? AND "
                "rackbeat_number = ?", (self.shop.name, number)).fetchone()
            if row is None:
                continue  # not an order rackshop transferred for this shop
            yield shipment, dict(row)

    # -- one shipment -----------------------------------------------------------------------

    def _one(self, shipment: Mapping[str, Any], order_row: Mapping[str, Any]) -> None:
        sid = int(shipment["id"])
        name = str(order_row.get("order_name") or order_row["shopify_order_id"])
        journal = self._journal(sid)
        if journal is not None and journal["state"] in ("done", "already"):
            return
        units = shipment_units(shipment)
        tracking = tracking_of(shipment, self.fields)
        detail: dict[str, Any] = json.loads(journal["detail"]) if journal else {}
        made: list[dict[str, Any]] = list(detail.get("made") or [])
        order = self._order(str(order_row["shopify_order_id"]))
        if order is None:
            self._fail(shipment, order_row, "Shopify no longer has this order")
            return
        if detail.get("pending") and not self._settle_pending(
                sid, name, shipment, order_row, order, tracking, detail, made):
            return
        units, unmatched = self._on_order(order, units)
        if unmatched and not units:
            # Never "done" with nothing made: the shipment's goods are not found on the order
            # (an item renamed in Rackbeat that sync-products has not linked yet, a SKU changed)
            self._fail(shipment, order_row, f"none of the shipment's items ("
                       f"{_numbers(shipment, unmatched)}) is on the Shopify order by SKU or "
                       "by product link; sync-products links a renamed item, then this is tried "
                       "again (or fulfil it in Shopify by hand)")
            return
        # Items the order does not have are not fulfilled; said, never dropped in silence
        skipped = (f"fulfilled without {_numbers(shipment, unmatched)}: not on the Shopify "
                   "order by SKU or by product link" if unmatched else None)
        left = dict(units)
        for m in made:
            for key, qty in m["units"].items():
                left[key] = left.get(key, 0) - int(qty)
        left = {k: q for k, q in left.items() if q > 0}
        if not left:
            self._done(sid, shipment, order_row, name, made, units, skipped)
            return
        if order.get("cancelledAt"):
            self._fail(shipment, order_row, "the order is cancelled in Shopify; fulfil nothing "
                       "(or reopen it in Shopify)")
            return
        location = self._location_for(shipment)
        allocation: Allocation = allocate(order, left, location)
        if allocation.already:
            self._record_outcome(sid, name, "already", units=left)
            self.result.bump("already_fulfilled")
            self._save(sid, shipment, order_row, "already", "fulfilled in Shopify already "
                       "(by hand or another app)", {**detail, "made": made})
            return
        if allocation.problem:
            self._fail(shipment, order_row, allocation.problem)
            return
        if self.dry_run:
            self._record_outcome(sid, name, "planned", units=left)
            self.result.bump("would_fulfil")
            return
        for group in allocation.groups:
            attempt = utcnow()
            intent = {"units": group.units, "location": group.location, "at": attempt}
            detail = {**detail, "made": made, "pending": intent}
            self._save(sid, shipment, order_row, "creating", None, detail)
            fid = self._create(group.input(tracking, self.cfg.notify_customer))
            if fid is None:  # the answer was lost: settled by reading, here or next pass
                order = self._order(str(order_row["shopify_order_id"])) or order
                fid = find_made(order, group.units, tracking,
                                parse_moment(attempt) - SEARCH_MARGIN, self._claimed())
                if fid is None:
                    self.result.bump("unsettled")
                    self._record_outcome(sid, name, "waiting",
                                         "Shopify's answer was lost; settled next pass")
                    return
                self.result.bump("settled")
            made.append({"id": fid, "units": group.units, "location": group.location})
            detail = {**detail, "made": made, "pending": None}
            self._save(sid, shipment, order_row, "creating", None, detail)
            event(log, f"{self.shop.name}: shipment {sid} of {name} fulfilled in Shopify",
                  shop=self.shop.name, shipment=sid, order=name, fulfillment=fid,
                  tracking=list(tracking.numbers))
        self._done(sid, shipment, order_row, name, made, units, skipped)

    def _on_order(self, order: Mapping[str, Any], units: Mapping[str, int]
                  ) -> tuple[dict[str, int], list[str]]:
        """The shipment's units by the order's SKU keys, and its items found on the order
        neither by SKU nor by a product link (Rackbeat's own lines, shipping and rounding,
        left out). An item renamed in Rackbeat since the order was transferred is found by
        the link sync-products keeps (its number then, the variant's SKU)."""
        links = self._links()
        mapped: dict[str, int] = {}
        for key, qty in units.items():
            target = key if on_order(order, {key: 1}) else links.get(key, key)
            mapped[target] = mapped.get(target, 0) + qty
        found = on_order(order, mapped)
        own = {sku_key(str(i)) for i in (self.shop.orders.shipping_item,
                                          self.shop.orders.rounding_item) if i}
        return found, [k for k in mapped if k not in found and k not in own]

    def _links(self) -> dict[str, str]:
        """SKU key of a linked Rackbeat item's number -> SKU key of its Shopify variant."""
        if self._link_keys is None:
            index = ProductsStore(self.runtime, dry_run=self.dry_run).index(self.shop.name)
            self._link_keys = {sku_key(link.number): sku_key(link.sku)
                               for link in index.links.values() if link.number and link.sku}
        return self._link_keys

    def _settle_pending(self, sid: int, name: str, shipment: Mapping[str, Any],
                        order_row: Mapping[str, Any], order: Mapping[str, Any],
                        tracking: Tracking, detail: dict[str, Any],
                        made: list[dict[str, Any]]) -> bool:
        """A fulfilment whose answer never came: find it before anything is sent again
        (appended to ``made``). False while Shopify may still apply it: sent again, both
        would fulfil (and notify the customer twice)."""
        pending = detail["pending"]
        found = find_made(order, pending["units"], tracking,
                          parse_moment(pending["at"]) - SEARCH_MARGIN, self._claimed())
        if found is not None:
            made.append({"id": found, "units": pending["units"],
                         "location": pending["location"]})
            self.result.bump("settled")
        elif (why := still_landing(f"the fulfilment of shipment {sid}", "Shopify",
                                   pending.get("at"), self.started, self.lost_wait)):
            self.result.bump("unsettled")
            self._record_outcome(sid, name, "waiting", why)
            return False
        detail["pending"] = None
        self._save(sid, shipment, order_row, "creating", None, {**detail, "made": made})
        return True

    def _create(self, fulfillment: Mapping[str, Any]) -> str | None:
        """``fulfillmentCreate``; the fulfilment's id, or ``None`` when the answer was lost."""
        try:
            payload = self.shopify.mutate("FulfillmentCreate", {"fulfillment": fulfillment},
                                          root="fulfillmentCreate")
        except OutcomeUnknownError:
            return None
        return str((payload.get("fulfillment") or {})["id"])

    def _order(self, gid: str) -> dict[str, Any] | None:
        """The order's fulfilment state, every fulfilment order line read to its end."""
        data = self.shopify.query("FulfillmentState", {"id": gid})
        order = data.get("order")
        if not isinstance(order, dict):
            return None
        for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or []:
            lines = fo.get("lineItems") or {}
            info = lines.get("pageInfo") or {}
            if info.get("hasNextPage") and info.get("endCursor"):
                lines["nodes"] = list(lines.get("nodes") or []) + list(self.shopify.paginate(
                    "FulfillmentOrderLines", {"id": fo["id"], "after": info["endCursor"]},
                    ("fulfillmentOrder", "lineItems")))
        return dict(order)

    def _claimed(self) -> list[str]:
        """Fulfilments already journalled for some shipment of this shop."""
        if self.store is None:
            return []
        out: list[str] = []
        for (detail,) in self.store.conn.execute(
                "SELECT detail FROM fulfillment_journal WHERE shop = ?", (self.shop.name,)):
            out += [str(m["id"]) for m in json.loads(detail).get("made") or []]
        return out

    def _location_for(self, shipment: Mapping[str, Any]) -> str | None:
        """The Shopify location the map names for the shipment's Rackbeat location, if any
        (lines from several mapped locations: the first of them, in a stable order)."""
        if not self.cfg.location_map:
            return None
        locations = self._shopify_locations()
        mapped = sorted({locations[int(ln["location_id"])] for ln in shipment.get("lines") or []
                         if ln.get("location_id") is not None
                         and int(ln["location_id"]) in locations})
        return mapped[0] if mapped else None

    def _shopify_locations(self) -> dict[int, str]:
        """Rackbeat location number -> Shopify location gid, from the config's map."""
        if self._locations is None:
            nodes = list(self.shopify.paginate("Locations", {}, ("locations",)))
            by_key = {str(n["id"]): str(n["id"]) for n in nodes}
            by_key.update({str(n["name"]): str(n["id"]) for n in nodes})
            out: dict[int, str] = {}
            for number, where in self.cfg.location_map.items():
                if where not in by_key:
                    index = next(i for i, s in enumerate(self.runtime.config.shops)
                                 if s.name == self.shop.name)
                    known = ", ".join(sorted(str(n["name"]) for n in nodes)) or "none"
                    raise ConfigError([ConfigProblem(
                        f'shops[{index}].fulfillments.location_map["{number}"]',
                        f"the shop has no Shopify location {where!r} (known: {known})")])
                out[int(number)] = by_key[where]
            self._locations = out
        return self._locations

    # -- journal -----------------------------------------------------------------------------

    def _journal(self, sid: int) -> dict[str, Any] | None:
        if self.store is None:
            return None
        row = self.store.conn.execute(
            "SELECT * FROM fulfillment_journal WHERE shop = ? AND shipment_id = ?",
            (self.shop.name, sid)).fetchone()
        return dict(row) if row else None

    def _save(self, sid: int, shipment: Mapping[str, Any], order_row: Mapping[str, Any],
              state: str, reason: str | None, detail: Mapping[str, Any]) -> None:
        if self.dry_run or self.store is None:
            return
        with self.store.transaction() as c:
            c.execute(
                "INSERT INTO fulfillment_journal (shop, shipment_id, rackbeat_order, "
                "shopify_order_id, order_name, state, reason, detail, updated_at) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (shop, shipment_id) DO UPDATE SET "
                "state = excluded.state, reason = excluded.reason, detail = excluded.detail, "
                "updated_at = excluded.updated_at",
                (self.shop.name, sid, _order_number(shipment), order_row["shopify_order_id"],
                 order_row.get("order_name"), state, reason, json.dumps(detail), utcnow()))

    def _done(self, sid: int, shipment: Mapping[str, Any], order_row: Mapping[str, Any],
              name: str, made: list[dict[str, Any]], units: Mapping[str, int],
              skipped: str | None = None) -> None:
        self._save(sid, shipment, order_row, "done", skipped, {"made": made, "pending": None})
        if self.store is not None and not self.dry_run:
            self.store.clear_failure(JOB, self.shop.name, str(sid))
        self._record_outcome(sid, name, "fulfilled", skipped or "", units=dict(units))
        self.result.bump("fulfilled")
        if skipped:
            self.result.bump("items_not_on_order")
            event(log, f"{self.shop.name}: shipment {sid} of {name} {skipped}", logging.WARNING,
                  shop=self.shop.name, shipment=sid, order=name)

    def _fail(self, shipment: Mapping[str, Any], order_row: Mapping[str, Any],
              reason: str) -> None:
        sid = int(shipment["id"])
        name = str(order_row.get("order_name") or order_row["shopify_order_id"])
        self.result.fail(f"shipment {sid} ({name})", reason)
        self._record_outcome(sid, name, "failed", reason)
        if self.dry_run or self.store is None:
            return
        journal = self._journal(sid)
        detail = json.loads(journal["detail"]) if journal else {}
        self._save(sid, shipment, order_row, "failed", reason, detail)
        self.store.record_failure(JOB, self.shop.name, str(sid), reason)

    def _record_outcome(self, sid: int, name: str, status: str, reason: str = "", *,
                        units: Mapping[str, int] | None = None) -> None:
        self.outcomes.append(FulfillmentOutcome(sid, name, status, reason, dict(units or {})))


def _numbers(shipment: Mapping[str, Any], keys: Iterable[str]) -> str:
    """The shipment's item numbers behind SKU keys, for a message."""
    numbers = {sku_key(str(n)): str(n) for n in (
        line.get("child_id") or (line.get("item") or {}).get("number")
        for line in shipment.get("lines") or []) if n}
    return ", ".join(sorted(numbers.get(k, k) for k in keys))


def _order_number(shipment: Mapping[str, Any]) -> int:
    number = shipment.get("order_number") or (shipment.get("order") or {}).get("number")
    return int(number or 0)


