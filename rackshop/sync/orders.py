"""``rackshop sync-orders``: every Shopify order in Rackbeat exactly once, to the cent.

Read -> plan -> apply -> report, per shop:

* **read**: the list of orders changed since the cursor minus the overlap (frozen pass start;
  just id and ``updatedAt``), then in full those the journal has not settled at that change,
  plus the orders the journal wants to see again (failed, waiting, half-done) unless only a
  change in Shopify can move them; or the orders named with ``--order``;
* **plan** (pure, :mod:`rackshop.sync.mapping`): eligibility, lines, VAT, discounts, shipping,
  the invariant (Rackbeat total == Shopify current total);
* **apply**, with the journal protocol of DESIGN section 4: an intent row ``creating`` is
  committed before the create call; the Rackbeat order carries a reference naming shop and order
  (``other_reference``); an intent found unresolved — after a crash or a lost answer — is settled
  by searching Rackbeat for that reference before any new create. Customers likewise: the e-mail is
  looked up again before a retry. Each processing step (book, ship, invoice) checks the order's
  flags first, so repeating one does nothing;
* **report**: per shop counters, failures with reasons (also in ``rackshop status``).

Every connection of an order is read to its end (lines, shipping lines), whatever its length.

**Refusals wait.** An order refused for a reason a retry cannot fix (Rackbeat's 422, a SKU
Rackbeat does not know, a line without SKU, no e-mail and no guest customer, amounts Rackbeat
cannot hold) is journalled ``failed`` with ``detail.refused`` and is not sent again until
something changed: the order in Shopify (``updatedAt``), the shop's ``[orders]`` settings, a
missing SKU appearing in Rackbeat (one item lookup per missing SKU and pass), or the user asking
(``rackshop orders retry``). Transient failures (5xx, timeouts, 429) are retried as before.

**Half-done orders are re-checked.** Before each further step (book, ship, invoice) of an order a
previous pass left half-done, Shopify is asked again; an order cancelled or refunded meanwhile is
not driven on: an unbooked draft is removed from Rackbeat, anything further is left as it is,
and the journal row becomes ``stopped`` with the reason.

**By hand.** ``rackshop orders resolve`` marks an order handled by hand (``resolved``): it no
longer fails the job and no longer counts as on its way for sync-stock.

The cursor is saved only after every order it covers is journalled.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from rackshop.config import ShopConfig
from rackshop.errors import (
    NotFoundError,
    OutcomeUnknownError,
    RackshopError,
    RecordError,
    ShopifyUserErrors,
    ValidationError,
)
from rackshop.log import event
from rackshop.rackbeat.client import RackbeatClient
from rackshop.runtime import Runtime
from rackshop.shopify.client import ShopifyClient
from rackshop.store import Store, utcnow
from rackshop.sync.after_transfer import AfterTransfer, after_detail, pending_order_ids
from rackshop.sync.after_transfer_plan import baseline as after_baseline
from rackshop.sync.mapping import (
    MappingFailure,
    OrderPlan,
    OrderRules,
    eligibility,
    order_email,
    order_fingerprint,
    order_payload,
    order_reference,
    plan_order,
)
from rackshop.sync.moments import iso_z, may_still_land, parse_moment
from rackshop.sync.orders_rackbeat import (
    Customers,
    Refusal,
    explain_422,
    find_by_reference,
    total_mismatch,
    unknown_items,
    unseen_create,
)
from rackshop.sync.orders_read import (
    LINES_PER_PAGE,
    complete_order,
    line_quantities,
    name_filter,
    orders_by_ids,
    orders_changed_since,
    search_orders,
)
from rackshop.sync.pool import PassScopes, run_side_by_side
from rackshop.sync.runner import JobResult, ProgressSink, ShopResult, run_per_shop

JOB = "sync-orders"
#: Journal states with nothing left to do until Shopify's order changes (or, for a refusal or a
#: wait, the settings or Rackbeat's items do).
SETTLED_STATES = ("done", "skipped", "held", "stopped", "resolved", "waiting", "failed")
#: How long after its last change an order must have been read for that read to count as
#: showing every change of that second (:meth:`_ShopOrders._settled_at`).
SETTLE_AFTER = timedelta(minutes=1)

log = logging.getLogger("rackshop.orders")

#: The failure reason of an order named with ``--order`` that Shopify's search did not find
#: (the listener tries such orders again: Shopify's search lags behind its webhooks).
NOT_FOUND_REASON = "no such order in Shopify"

STEPS = {
    "draft": (),
    "booked": ("book",),
    "shipped": ("book", "ship"),
    "invoiced": ("book", "invoice"),
    "shipped_invoiced": ("book", "ship", "invoice"),
}


@dataclass
class OrderOutcome:
    """What happened to one order in this pass (for dry-run listings and the summary)."""

    name: str
    status: str  # transferred | done | skipped | waiting | failed | planned | changed
    reason: str = ""
    customer: str = ""
    steps: tuple[str, ...] = ()
    plan: OrderPlan | None = None


@dataclass
class OrdersReport:
    """Per shop outcomes, kept for the CLI's dry-run listing."""

    outcomes: dict[str, list[OrderOutcome]] = field(default_factory=dict)


def sync_orders(runtime: Runtime, shops: Sequence[ShopConfig], *, dry_run: bool = False,
                order_names: Sequence[str] = (),
                report: OrdersReport | None = None,
                progress: ProgressSink | None = None,
                now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> JobResult:
    """Run one sync-orders pass over ``shops``.

    Args:
        runtime: Clients and store.
        shops: Shops to process (those with orders disabled are skipped).
        dry_run: Plan only; write nothing anywhere (not even the journal).
        order_names: Transfer just these orders (``#1001`` or numeric ids), whatever the cursor.
        report: Receives per-order outcomes (for the dry-run listing).
        progress: Progress bars (one phase per shop).
        now: Clock for the frozen pass start.
    """
    report = report if report is not None else OrdersReport()

    def body(shop: ShopConfig, result: ShopResult) -> None:
        if not shop.orders.enabled:
            result.details["note"] = "orders disabled for this shop"
            return
        job = _ShopOrders(runtime, shop, result, dry_run=dry_run, now=now(), progress=progress)
        report.outcomes[shop.name] = job.run(order_names)

    return run_per_shop(runtime, JOB, shops, body, dry_run=dry_run)


class _ShopOrders:
    """One shop's pass."""

    def __init__(self, runtime: Runtime, shop: ShopConfig, result: ShopResult, *,
                 dry_run: bool, now: datetime, progress: ProgressSink | None = None) -> None:
        self.progress = progress
        self.runtime = runtime
        self.shop = shop
        self.outcomes: list[OrderOutcome] = []
        # With workers, each order reports apart; merged in the pass's order (sync.pool).
        self.scopes: PassScopes[OrderOutcome] = PassScopes(result, self.outcomes)
        self.dry_run = dry_run
        self.pass_start = now
        self.shopify: ShopifyClient = runtime.shopify(shop)
        self.rackbeat: RackbeatClient = runtime.rackbeat()
        self.store: Store | None = None if dry_run else runtime.store()
        cfg = shop.orders
        assert cfg.since is not None  # the config requires it when orders are enabled
        self.since: datetime = cfg.since
        self.rules = OrderRules(
            transfer_on=cfg.transfer_on, since=cfg.since,
            include_test_orders=cfg.include_test_orders, currency=cfg.currency,
            shipping_item=str(cfg.shipping_item),
            rounding_item=cfg.rounding_item,
            rounding_per_line=Decimal(str(cfg.rounding_per_line)),
        )
        # A refusal waits for the settings too: a changed [orders] table may lift it.
        self.settings_digest = hashlib.sha256(repr(cfg).encode()).hexdigest()[:16]
        self.lost_wait = runtime.config.rackbeat.lost_answer_wait_seconds
        self.customers = Customers(shop, self.rackbeat, self.store, lambda: self.result,
                                   dry_run=dry_run, now=now, lost_wait=self.lost_wait)
        self.after = AfterTransfer(self)

    @property
    def result(self) -> ShopResult:
        """The result the calling worker's order reports to (the pass's with one worker)."""
        return self.scopes.result

    # -- read ------------------------------------------------------------------------------

    def run(self, order_names: Sequence[str]) -> list[OrderOutcome]:
        orders: Iterator[dict[str, Any]] | list[dict[str, Any]]
        if order_names:
            orders = self._named_orders(order_names)
            found = {o.get("name") for o in orders} | {str(o.get("legacyResourceId"))
                                                      for o in orders}
            for name in order_names:
                if name not in found and f"#{name.lstrip('#')}" not in found:
                    self.result.fail(name, NOT_FOUND_REASON)
        else:
            orders = self._changed_orders()
        # Read everything before writing anything: the write-back tags an order, which moves
        # it in an UPDATED_AT sort, and paging while doing that would meet it again.
        unique: dict[str, dict[str, Any]] = {}
        for order in orders:
            unique.setdefault(str(order["id"]), order)
        if self.progress:
            self.progress.start(f"{self.shop.name}: orders", len(unique))
        # [http] workers at a time; one customer's orders one after the other (sync.pool)
        run_side_by_side(list(unique.values()), self._work,
                         workers=self.runtime.config.http.workers,
                         key=lambda o: order_email(o) or f"order {o['id']}",
                         scopes=self.scopes, store=self._readable_store(),
                         done=self.progress.advance if self.progress else lambda: None)
        if self.progress:
            self.progress.finish()
        if not order_names and not self.dry_run and self.store is not None:
            # Every order up to the pass start is journalled (done, skipped, failed, waiting).
            self.store.set_cursor(self.shop.name, JOB, iso_z(self.pass_start))
        return self.outcomes

    def _named_orders(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """The orders named on the command line: by id where the journal knows the name (a
        retry; Shopify's search may not show an order changed a moment ago), by search for the
        rest."""
        store = self._readable_store()
        ids: list[str] = []
        unknown: list[str] = []
        for name in names:
            row = store.journal_by_name(self.shop.name, name) if store is not None else None
            if row is None:
                unknown.append(name)
            else:
                ids.append(str(row["shopify_order_id"]))
        orders = list(orders_by_ids(self.shopify, ids)) if ids else []
        if unknown:
            orders += search_orders(self.shopify, " OR ".join(name_filter(n) for n in unknown))
        return orders

    def _changed_orders(self) -> Iterator[dict[str, Any]]:
        """The orders this pass acts on, read in full: those Shopify lists as changed in the
        pass's window that the journal has not settled at that very change, then those the
        journal wants to see again whatever their updatedAt (on their way into Rackbeat, a
        failure that may pass now, a change after transfer half-carried). An order that only a
        change in Shopify can move is reported from the journal; such a change lists it."""
        store = self._readable_store()
        cursor_text = store.get_cursor(self.shop.name, JOB) if store else None
        since = self.since
        cursor = parse_moment(cursor_text) if cursor_text else since
        start = max(since, cursor - timedelta(minutes=self.shop.orders.overlap_minutes))
        listed = orders_changed_since(self.shopify, start)
        seen = {str(node["id"]) for node in listed}
        wanted = [str(node["id"]) for node in listed
                  if not self._unchanged(store, str(node["id"]), node.get("updatedAt"))]
        if store is not None:
            wanted += [str(r["shopify_order_id"]) for r in store.journal_rows(
                self.shop.name, ("creating", "created", "failed", "waiting"))
                if str(r["shopify_order_id"]) not in seen and not self._at_rest(r)]
            if self.shop.orders.after_transfer == "sync":
                wanted += pending_order_ids(store, self.shop.name)
        yield from orders_by_ids(self.shopify, list(dict.fromkeys(wanted)))

    def _unchanged(self, store: Store | None, oid: str, updated_at: Any) -> bool:
        """Whether an order Shopify lists as changed is one the journal settled at that very
        ``updatedAt`` (an earlier pass of the overlap read it, or the change was this tool's
        own write-back, read already), reported from the journal without reading it."""
        row = store.journal_get(self.shop.name, oid) if store is not None else None
        if row is None or updated_at is None \
                or (row.get("detail") or {}).get("settled") != updated_at:
            return False
        state = row["state"]
        if state in ("held", "stopped", "resolved"):
            self.result.bump(state)
            return True
        if state in ("done", "skipped"):
            self.result.bump("already_done" if state == "done" else "already_skipped")
            return True
        return self._at_rest(row)

    def _at_rest(self, row: Mapping[str, Any]) -> bool:
        """Whether a journalled order that did not change in Shopify stays as it is, reported
        from the journal without reading it: settled (see :meth:`_settled_at`) and waiting for
        its trigger under the same ``[orders]`` settings, or refused with the refusal standing
        (:meth:`_refusal_stands`)."""
        detail = row.get("detail") or {}
        if not detail.get("settled"):
            return False
        name = str(row.get("order_name") or row["shopify_order_id"])
        if row["state"] == "waiting" and detail.get("settings") == self.settings_digest:
            reason = str(row.get("reason") or "")
            self.outcome(name, "waiting", reason)
            self.result.bump("waiting")
            return True
        # A refusal stands unread only for the version of the order it refused: a later read
        # that did not refuse again (say, a lost answer on the retry) proves nothing.
        refused = detail.get("refused") or {}
        return row["state"] == "failed" and refused.get("shopify_updated_at") == \
            detail["settled"] and self._refusal_stands(None, row)

    def _settled_at(self, order: Mapping[str, Any]) -> None:
        """Remember the ``updatedAt`` an order with nothing left to do was read at, when that
        read is sure to show every change of that second: Shopify's ``updatedAt`` counts whole
        seconds, so a change made in the second the order was read keeps the same value. Read
        at least :data:`SETTLE_AFTER` after its change (a margin for the two clocks too), any
        later change shows as a new ``updatedAt`` and lists the order again; read sooner, it is
        read again whatever the list says until such a read."""
        if self.store is None:
            return
        oid = str(order["id"])
        row = self.store.journal_get(self.shop.name, oid)
        if row is None or row["state"] not in SETTLED_STATES:
            return
        updated_at = order.get("updatedAt")
        sure = bool(updated_at) and parse_moment(str(updated_at)) <= self.pass_start - SETTLE_AFTER
        settled = updated_at if sure else None
        if (row.get("detail") or {}).get("settled") != settled:
            self.store.journal_put(self.shop.name, oid, detail={"settled": settled})

    # -- one order -------------------------------------------------------------------------

    def _work(self, order: Mapping[str, Any]) -> None:
        self._one(order)
        self._settled_at(order)

    def _one(self, order: Mapping[str, Any]) -> None:
        oid = str(order["id"])
        name = str(order.get("name") or oid)
        row = self.journal(oid)
        state = row["state"] if row else None
        sync_after = self.shop.orders.after_transfer == "sync"
        if state == "held" and row and sync_after and self._hold_lifted(order, row):
            # A change held before: Shopify's order changed since, so try it again.
            self.after.handle(order, row)
            return
        if state in ("held", "stopped", "resolved"):
            self.result.bump(state)
            return
        if state in ("done", "skipped"):
            if state == "done":
                if sync_after and self.after.handle(order, row or {}):
                    return
                if not sync_after:
                    self._check_changed(order, row or {})
            self.result.bump("already_done" if state == "done" else "already_skipped")
            return
        if state in ("creating", "created"):
            self._resume(order, row or {})
            return
        if state == "failed" and row and self._refusal_stands(order, row):
            return
        order = complete_order(self.shopify, order)
        verdict, reason = eligibility(order, self.rules)
        if verdict != "transfer":
            self.outcome(name, "skipped" if verdict == "skip" else "waiting", reason)
            self.result.bump(f"{'skipped' if verdict == 'skip' else 'waiting'}")
            self.record(oid, name, state="skipped" if verdict == "skip" else "waiting",
                         reason=reason, shopify_updated_at=order.get("updatedAt"),
                         detail={"lines": line_quantities(order), "refused": None,
                                 "settings": self.settings_digest})
            if state == "failed":
                self.clear_failure(name)
            return
        items = list((order.get("lineItems") or {}).get("nodes") or [])
        # sync-stock counts these units as taken until Rackbeat has booked the order.
        self.record(oid, name, state=state or "new", detail={"lines": line_quantities(order,
                                                                                         items)})
        try:
            plan = plan_order(self.shop.name, order, items, self.rules)
        except MappingFailure as exc:
            self._refuse(order, str(exc))
            return
        try:
            self._transfer(order, plan)
        except Refusal as exc:
            self._refuse(order, exc.message, skus=exc.skus)
        except RecordError as exc:
            self.fail(oid, name, exc.message)
        except OutcomeUnknownError as exc:
            # Left in the journal as creating/created; the next pass settles it by reading.
            self.fail(oid, name, exc.message, keep_state=True)

    # -- changes after the transfer (rackshop.sync.after_transfer) ---------------------------

    def _hold_lifted(self, order: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
        """Whether a change held after transfer may be tried again: Shopify's order changed
        since it was held."""
        after = after_detail(row)
        return bool(after.get("held")) and order.get("updatedAt") != after.get("held_updated_at")

    def current_lines(self, order: Mapping[str, Any], detail: Mapping[str, Any]
                      ) -> dict[str, int]:
        """SKU -> current quantity; a long order whose first page and totals are as journalled
        is not paged through again (every pass that meets it would)."""
        long_unchanged = (((order.get("lineItems") or {}).get("pageInfo") or {}).get(
            "hasNextPage") and detail.get("order_fp") == order_fingerprint(
                order, lines=LINES_PER_PAGE))
        if long_unchanged and detail.get("lines") is not None:
            return {str(k): int(v) for k, v in dict(detail["lines"]).items()}
        return line_quantities(complete_order(self.shopify, order))

    def steps(self) -> tuple[str, ...]:
        """The processing steps the shop is configured for (``orders.process_to``)."""
        return STEPS[self.shop.orders.process_to]

    # -- refusals that wait --------------------------------------------------------------------

    def _refuse(self, order: Mapping[str, Any], reason: str, *, skus: Sequence[str] = ()) -> None:
        """Record a refusal a retry cannot fix, with what must change before the next try."""
        oid = str(order["id"])
        name = str(order.get("name") or oid)
        self.fail(oid, name, reason)
        row = self.store.journal_get(self.shop.name, oid) if self.store else None
        if row is not None and row["state"] == "failed":
            self.record(oid, name, detail={"refused": {
                "shopify_updated_at": order.get("updatedAt"), "settings": self.settings_digest,
                "order": order_fingerprint(order, lines=LINES_PER_PAGE),
                "skus": sorted(set(skus)), "retry": False, "at": utcnow()}})

    def _refusal_stands(self, order: Mapping[str, Any] | None, row: Mapping[str, Any]) -> bool:
        """True when an order refused before is unchanged, so sending it again is pointless.

        The refusal is lifted by a change of the order in Shopify, of the shop's ``[orders]``
        settings, a missing SKU that Rackbeat now has, or ``rackshop orders retry``. Without
        ``order`` (not read: the changed list did not bring it) the order counts as unchanged.
        """
        refused = (row.get("detail") or {}).get("refused")
        if not refused or refused.get("retry"):
            return False
        if order is not None and (
                order.get("updatedAt") != refused.get("shopify_updated_at")
                or order_fingerprint(order, lines=LINES_PER_PAGE) != refused.get("order")):
            return False
        if refused.get("settings") != self.settings_digest:
            return False
        if any(self._item_usable(sku) for sku in refused.get("skus") or ()):
            return False
        name = str((order or {}).get("name") or row.get("order_name") or row["shopify_order_id"])
        reason = str(row.get("reason") or "refused")
        self.result.fail(name, reason)
        self.result.bump("refusals_waiting")
        self.outcome(name, "failed", f"unchanged since refused: {reason}")
        return True

    def _item_usable(self, number: str) -> bool:
        """Whether Rackbeat has an item (product or BOM) with this number that is not barred:
        one or two reads."""
        for kind in ("products", "lots"):
            item = self.rackbeat.find_one(kind, number)
            if item is not None:
                return not item.get("is_barred")
        return False

    def _transfer(self, order: Mapping[str, Any], plan: OrderPlan) -> None:
        oid, name = plan.order_id, plan.order_name
        customer, decision = self.customers.number_for(plan)
        steps = STEPS[self.shop.orders.process_to]
        if self.dry_run:
            self.outcome(name, "planned", "", decision, steps, plan)
            self.result.bump("would_transfer")
            return
        payload = order_payload(plan, customer, vat_zone=self.shop.orders.customer.vat_zone,
                                layout=self.shop.orders.layout,
                                location=self.shop.orders.location)
        attempt_at = utcnow()
        self.record(oid, name, state="creating", reference=plan.reference,
                     attempt_at=attempt_at, fingerprint=plan.fingerprint,
                     shopify_updated_at=order.get("updatedAt"), attempts_inc=True,
                     detail={"total": str(plan.total), "currency": plan.currency})
        try:
            created = self.rackbeat.create("orders", payload, path="orders/drafts")
        except ValidationError as exc:
            # Definitely not created: nothing to settle.
            self.record(oid, name, state="failed", reason=explain_422(exc, plan))
            raise Refusal(explain_422(exc, plan), skus=unknown_items(exc, plan)) from exc
        except OutcomeUnknownError:
            found = find_by_reference(self.rackbeat, plan.reference, attempt_at)
            if found is None:
                raise
            created = found
        number = int(created["number"])
        self.record(oid, name, state="created", rackbeat_number=number)
        mismatch = total_mismatch(created, plan, number)
        if mismatch:
            # Never book an order whose amounts are wrong; a person must look at it.
            self.record(oid, name, state="held", reason=mismatch)
            if self.store is not None:
                self.store.record_failure(JOB, self.shop.name, name, mismatch)
            self.result.fail(name, mismatch)
            self.outcome(name, "failed", mismatch)
            return
        self.process(oid, name, number, created, steps)
        self._write_back(order, number)
        self.record(oid, name, state="done", reason=None, detail={
            "refused": None, "rounding": plan.rounding(),
            "order_fp": order_fingerprint(order, lines=LINES_PER_PAGE),
            **after_baseline(order, line_quantities(order), self.rules.currency)})
        self.clear_failure(name)
        self.result.bump("transferred")
        if plan.rounding():
            self.result.bump("rounding_lines")
        self.outcome(name, "transferred", f"Rackbeat order {number}", decision, steps, plan)
        event(log, f"{self.shop.name}: {name} -> Rackbeat order {number}", shop=self.shop.name,
              order=name, rackbeat_order=number, total=str(plan.total))

    def _resume(self, order: Mapping[str, Any], row: Mapping[str, Any]) -> None:
        """Finish an order a previous pass left half-done (crash or lost answer)."""
        oid = str(order["id"])
        name = str(order.get("name") or oid)
        number = row.get("rackbeat_number")
        if self.dry_run:
            self.outcome(name, "planned", f"resume (journal: {row['state']})")
            self.result.bump("would_resume")
            return
        try:
            if number is None:
                found = find_by_reference(self.rackbeat,
                    row.get("reference") or order_reference(self.shop.name, order),
                    row.get("attempt_at") or utcnow())
                later = None if found else may_still_land(row.get("attempt_at"),
                                                           self.pass_start, self.lost_wait)
                if later is not None:
                    # Rackbeat may still apply the create whose answer was lost.
                    self.fail(oid, name, unseen_create("the order", str(row["attempt_at"]),
                                                       later), keep_state=True)
                    return
                if found is None:
                    # The create never happened: forget the intent and transfer normally.
                    self.record(oid, name, state="new")
                    self._one(order)
                    return
                number = int(found["number"])
                self.record(oid, name, state="created", rackbeat_number=number)
                current = found
            else:
                current = self.rackbeat.get_one("orders", number)
            # Time has passed since this order was left half-done: before each further step,
            # ask Shopify whether it is still wanted.
            if self.process(oid, name, int(number), current, STEPS[self.shop.orders.process_to],
                             guard=lambda: self._unwanted(oid)):
                return
            self._write_back(order, int(number))
            self.record(oid, name, state="done", reason=None)
            self.clear_failure(name)
            self.result.bump("transferred")
            self.outcome(name, "transferred", f"Rackbeat order {number} (resumed)")
        except RecordError as exc:
            self.fail(oid, name, exc.message, keep_state=True)
        except OutcomeUnknownError as exc:
            self.fail(oid, name, exc.message, keep_state=True)

    # -- customers -----------------------------------------------------------------------------

    # -- Rackbeat order steps ------------------------------------------------------------------

    def process(self, oid: str, name: str, number: int, current: Mapping[str, Any],
                 steps: Sequence[str], guard: Callable[[], str] | None = None) -> bool:
        """Book, ship and invoice as configured; each step checks the order's flags first.

        Args:
            guard: Asked before each step still to do; a non-empty answer (why the order is no
                longer wanted) stops the order instead (:meth:`_stop`).

        Returns:
            True when the guard stopped the order.
        """
        order = dict(current)
        done = set(filter(None, ((self.journal(oid) or {}).get("steps_done") or "").split(",")))
        for step in steps:
            if step in done:
                continue
            why = guard() if guard is not None else ""
            if why:
                self._stop(oid, name, number, why, step)
                return True
            if step == "book":
                order = self._step(number, order, "is_booked", "book", lambda: self._post(
                    f"orders/{number}/book", {"mail": {"send": False}}))
            elif step == "ship":
                order = self._step(number, order, "is_shipped", "ship",
                                   lambda: self._ship(number))
            elif step == "invoice":
                order = self._step(number, order, "is_invoiced", "invoice", lambda: self._post(
                    f"orders/{number}/convert-to-invoice?book=true", {}))
            done.add(step)
            self.record(oid, name, steps_done=",".join(s for s in steps if s in done))
        return False

    def _unwanted(self, oid: str) -> str:
        """Why Shopify no longer wants this order driven on ('' when it still does): one read."""
        node = self.shopify.query("OrderState", {"id": oid}).get("order")
        if not node:
            return "deleted in Shopify"
        if node.get("cancelledAt"):
            return "cancelled in Shopify"
        status = node.get("displayFinancialStatus")
        if status in ("REFUNDED", "VOIDED"):
            return f"{status.lower()} in Shopify"
        return ""

    def _stop(self, oid: str, name: str, number: int, why: str, step: str) -> None:
        """Leave a half-done order that Shopify no longer wants: never drive it on.

        A draft (nothing booked) is removed from Rackbeat; a booked order is left as it is for
        a person. Either way the journal row becomes ``stopped`` with the reason, which the
        summary names (the pass exits 1) and ``rackshop orders list`` shows.
        """
        current = self.rackbeat.find_one("orders", number)
        removed = current is None
        if current is not None and not (current.get("is_booked") or current.get("is_shipped")
                                        or current.get("is_invoiced")):
            try:
                self.rackbeat.request("DELETE", f"orders/{number}")
                removed = True
            except NotFoundError:
                removed = True  # a retry after the delete went through
            except RecordError as exc:
                log.warning("%s: %s: could not remove draft order %s: %s", self.shop.name, name,
                            number, exc.message)
        if removed:
            reason = (f"{why} before Rackbeat order {number} was booked; rackshop removed the "
                      "draft from Rackbeat, nothing more to do")
        else:
            reason = (f"{why} while Rackbeat order {number} was half-done; rackshop did not "
                      f"{step} it and leaves it as it is: cancel or credit it in Rackbeat by "
                      f"hand, then run `rackshop orders resolve {self.shop.name} '{name}'`")
        self.record(oid, name, state="stopped", reason=reason,
                     detail={"stopped": {"why": why, "draft_removed": removed, "at": utcnow()}})
        self.result.fail(name, reason)
        self.result.bump("stopped")
        self.outcome(name, "stopped", reason)
        if self.store is not None:
            if removed:
                self.store.clear_failure(JOB, self.shop.name, name)
            else:
                self.store.record_failure(JOB, self.shop.name, name, reason)
        event(log, f"{self.shop.name}: {name} stopped: {reason}", logging.WARNING,
              shop=self.shop.name, order=name, reason=reason)

    def _step(self, number: int, order: dict[str, Any], flag: str, what: str,
              act: Callable[[], dict[str, Any] | None], attempts: int = 3) -> dict[str, Any]:
        """Make ``order[flag]`` true by ``act``, reading the flags after any doubt.

        A step whose answer was lost, or that Rackbeat refused, is settled by reading the order:
        done is done; not done is tried again (at most ``attempts`` times this pass).
        """
        for _ in range(attempts):
            if order.get(flag):
                return order
            try:
                answer = act()
            except OutcomeUnknownError:
                answer = None
            except ValidationError as exc:
                current = self.rackbeat.get_one("orders", number)
                if current.get(flag):
                    return current
                raise RecordError(f"Rackbeat refused to {what} order {number}: "
                                  f"{exc.message}") from exc
            order = answer if answer is not None and flag in answer else \
                self.rackbeat.get_one("orders", number)
        if not order.get(flag):
            raise RecordError(f"could not {what} Rackbeat order {number} in {attempts} tries; "
                              "it is tried again on the next pass")
        return order

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """POST an order action; returns the order if the answer carries it."""
        answer = self.rackbeat.request("POST", path, body=dict(body), idempotent=False)
        if isinstance(answer, dict) and isinstance(answer.get("order"), dict):
            return dict(answer["order"])
        return None

    def _ship(self, number: int) -> None:
        """Create the order's shipment unless it has one, and mark open shipments shipped.

        The shipments are listed first, so a shipment created by an attempt whose answer was
        lost (or by a killed run) is reused, never duplicated.
        """
        shipments = self.rackbeat.list_all(f"orders/{number}/shipments")
        if not shipments:
            created = self.rackbeat.request("POST", f"orders/{number}/create-shipment",
                                            body={}, idempotent=False)
            shipments = [created.get("order_shipment") or {}]
        for shipment in shipments:
            if shipment.get("id") is not None and not shipment.get("is_shipped"):
                self.rackbeat.request("POST", f"orders/shipments/{shipment['id']}/mark-shipped",
                                      body={"pick": True}, idempotent=False)

    # -- Shopify write-back --------------------------------------------------------------------

    def _write_back(self, order: Mapping[str, Any], number: int) -> None:
        cfg = self.shop.orders
        try:
            if cfg.writes_tag and cfg.tag and cfg.tag not in (order.get("tags") or []):
                self.shopify.mutate("TagsAdd", {"id": order["id"], "tags": [cfg.tag]},
                                    root="tagsAdd", idempotent=True)
            current = (order.get("rackbeatNumber") or {}).get("value")
            if cfg.writes_metafield and current != str(number):
                self.shopify.mutate("MetafieldsSet", {"metafields": [{
                    "ownerId": order["id"], "namespace": "rackshop", "key": "rackbeat_order",
                    "type": "single_line_text_field", "value": str(number)}]},
                    root="metafieldsSet", idempotent=True)
        except (ShopifyUserErrors, RackshopError) as exc:
            # The transfer itself is done; the marker is for the merchant's eyes only.
            log.warning("%s: %s transferred, but writing the marker back to Shopify failed: %s",
                        self.shop.name, order.get("name"), exc)
            self.result.bump("write_back_failed")

    # -- journal and outcomes ------------------------------------------------------------------

    def _readable_store(self) -> Store | None:
        """The store to read from: the pass's own, or (a dry run) the existing one, if any."""
        return self.runtime.open_store(create=not self.dry_run)

    def journal(self, oid: str) -> dict[str, Any] | None:
        store = self._readable_store()
        return store.journal_get(self.shop.name, oid) if store else None

    def record(self, oid: str, name: str, **fields: Any) -> None:
        if self.store is not None:
            self.store.journal_put(self.shop.name, oid, order_name=name, **fields)

    def fail(self, oid: str, name: str, reason: str, *, keep_state: bool = False) -> None:
        self.result.fail(name, reason)
        self.outcome(name, "failed", reason)
        if self.store is not None:
            row = self.store.journal_get(self.shop.name, oid) or {}
            # Once a Rackbeat order may exist, the row stays creating/created so the next
            # pass resumes it (by its number or its reference) and never creates another.
            if keep_state or row.get("state") in ("creating", "created") \
                    or row.get("rackbeat_number"):
                self.store.journal_put(self.shop.name, oid, order_name=name, reason=reason)
            else:
                self.store.journal_put(self.shop.name, oid, order_name=name, state="failed",
                                       reason=reason)
            self.store.record_failure(JOB, self.shop.name, name, reason)
        event(log, f"{self.shop.name}: {name} failed: {reason}", logging.WARNING,
              shop=self.shop.name, order=name, reason=reason)

    def clear_failure(self, name: str) -> None:
        if self.store is not None:
            self.store.clear_failure(JOB, self.shop.name, name)

    def _check_changed(self, order: Mapping[str, Any], row: Mapping[str, Any]) -> None:
        """Report (never silently change) an order edited, cancelled or refunded after transfer."""
        detail = row.get("detail") or {}
        # compared in the currency the order was transferred in
        side = "presentmentMoney" if self.rules.currency == "presentment" else "shopMoney"
        total = ((order.get("currentTotalPriceSet") or {}).get(side) or {}).get("amount")
        changed = []
        if order.get("cancelledAt"):
            changed.append("cancelled")
        if (detail.get("total") and total is not None
                and Decimal(str(total)) != Decimal(str(detail["total"]))):
            changed.append(f"total now {total} (was {detail['total']})")
        lines_then = detail.get("lines")
        if lines_then:
            lines_now = self.current_lines(order, detail)
            if lines_now != lines_then:
                diff = sorted(f"{sku} {lines_then.get(sku, 0)}->{lines_now.get(sku, 0)}"
                              for sku in set(lines_then) | set(lines_now)
                              if lines_then.get(sku, 0) != lines_now.get(sku, 0))
                changed.append("quantities " + ", ".join(diff))
        if changed and detail.get("reported_change") != changed:
            name = str(order.get("name"))
            reason = (f"changed in Shopify after transfer to Rackbeat order "
                      f"{row.get('rackbeat_number')}: {', '.join(changed)}; adjust it in "
                      "Rackbeat by hand (rackshop does not change transferred orders)")
            self.result.bump("changed_after_transfer")
            self.outcome(name, "changed", reason)
            if self.store is not None:
                self.store.journal_put(self.shop.name, str(order["id"]),
                                       detail={"reported_change": changed})
                self.store.record_failure(JOB, self.shop.name, name, reason)
            log.warning("%s: %s %s", self.shop.name, name, reason)

    def outcome(self, name: str, status: str, reason: str = "", customer: str = "",
                 steps: tuple[str, ...] | Sequence[str] = (), plan: OrderPlan | None = None
                 ) -> None:
        self.scopes.outcomes.append(OrderOutcome(name, status, reason, customer, tuple(steps),
                                                 plan))


