"""Cancellations, refunds and edits made in Shopify after an order reached Rackbeat.

Called by ``sync-orders`` for every journalled (``done``) order it meets whose Shopify state
differs from the journal's record of it (:func:`~rackshop.sync.after_transfer_plan.changes`:
cancelled, total, refunded money, line quantities), with ``orders.after_transfer = "sync"``. An
unchanged order costs no call beyond the pass's own reads.

Rackbeat's order is read first; what it gets depends on how far it has come:

* **draft**: its lines are changed to Shopify's current order (kept, changed, added, deleted);
  a cancelled order, or one with nothing left, is deleted;
* **booked, nothing shipped or invoiced**: reopened (the reservation is released), changed as a
  draft, booked again and driven to ``orders.process_to`` again; a cancelled one is reopened
  and deleted (the whole reservation released);
* **invoiced**: a credit note per Shopify refund (made by ``create-creditnote``, its lines set
  to what the refund took back at the invoice's prices, booked), goods returned to stock only
  for the lines Shopify restocked (:mod:`rackshop.sync.after_transfer_plan`);
* **shipped, not invoiced**, or anything the plan cannot express exactly: **held** with the
  reason (``status`` and ``rackshop orders list`` show it), never approximated.

**Exactly once.** Before the first write the journal row notes the change as pending
(``detail.after``), and before each credit note its intent (``detail.after.credits``); every
credit note carries a reference naming shop, order and Shopify refund. A pending change is
picked up by the next pass, which settles it by reading Rackbeat: credit notes already booked
(by reference) are never made again; a draft credit note left by a lost answer is adopted.
Line edits are planned from the lines Rackbeat holds, so repeating them writes only what is left.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from rackshop.config import ShopConfig
from rackshop.errors import NotFoundError, OutcomeUnknownError, RecordError, ValidationError
from rackshop.log import event
from rackshop.rackbeat.client import RackbeatClient
from rackshop.shopify.client import ShopifyClient
from rackshop.store import Store, utcnow
from rackshop.sync.after_transfer_plan import (
    CreditPlan,
    CreditRules,
    Hold,
    LineEdits,
    baseline,
    changes,
    effective_total,
    line_key,
    only_money,
    plan_credits,
    plan_line_edits,
    read_refunds,
)
from rackshop.sync.mapping import (
    MappingFailure,
    OrderPlan,
    OrderRules,
    dec,
    order_fingerprint,
    plan_order,
)
from rackshop.sync.moments import may_still_land, still_landing
from rackshop.sync.orders_rackbeat import unseen_create
from rackshop.sync.orders_read import complete_order
from rackshop.sync.runner import ShopResult


class OrderPass(Protocol):
    """What :class:`AfterTransfer` uses of the sync-orders pass it belongs to
    (``rackshop.sync.orders``): its clients, journal and outcome keeping."""

    shop: ShopConfig
    rackbeat: RackbeatClient
    shopify: ShopifyClient
    store: Store | None
    rules: OrderRules
    dry_run: bool
    pass_start: datetime
    lost_wait: float

    @property
    def result(self) -> ShopResult: ...

    def steps(self) -> tuple[str, ...]: ...

    def current_lines(self, order: Mapping[str, Any], detail: Mapping[str, Any]
                      ) -> dict[str, int]: ...

    def journal(self, oid: str) -> dict[str, Any] | None: ...

    def record(self, oid: str, name: str, **fields: Any) -> None: ...

    def fail(self, oid: str, name: str, reason: str, *, keep_state: bool = False) -> None: ...

    def clear_failure(self, name: str) -> None: ...

    def outcome(self, name: str, status: str, reason: str = "", customer: str = "",
                steps: tuple[str, ...] | Sequence[str] = (), plan: OrderPlan | None = None
                ) -> None: ...

    def process(self, oid: str, name: str, number: int, current: Mapping[str, Any],
                steps: Sequence[str], guard: Callable[[], str] | None = None) -> bool: ...

log = logging.getLogger("rackshop.orders")

#: Shopify topics of a change after the transfer: ``listen`` queues the order they name, and
#: ``webhooks register`` subscribes them, when ``orders.after_transfer = "sync"``.
CHANGE_TOPICS = ("orders/cancelled", "orders/edited", "refunds/create")

#: How far before a credit note's intent an untouched draft credit note of the invoice counts
#: as the one a lost answer made (clock skew between this machine and Rackbeat).
ORPHAN_MARGIN = timedelta(minutes=10)


def after_detail(row: Mapping[str, Any]) -> dict[str, Any]:
    """The ``after`` part of a journal row's detail (pending change, credits, hold)."""
    return dict((row.get("detail") or {}).get("after") or {})


class AfterTransfer:
    """One shop pass's handling of changed transferred orders (uses the pass's clients)."""

    def __init__(self, job: OrderPass) -> None:
        self.job = job
        self.shop = job.shop
        self.rackbeat = job.rackbeat
        self.shopify = job.shopify
        self.mode = job.rules.currency
        cfg = job.shop.orders
        self.credit_rules = CreditRules(
            shipping_item=str(cfg.shipping_item), rounding_item=cfg.rounding_item,
            rounding_per_line=Decimal(str(cfg.rounding_per_line)),
            refund_item=cfg.refund_item, return_location=cfg.return_location,
            location_map={k: int(v) for k, v in job.shop.initial.location_map.items()})

    # -- entry --------------------------------------------------------------------------------

    def handle(self, order: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
        """Carry a change of a transferred order into Rackbeat.

        Returns:
            False when nothing changed (the caller counts it as already done).
        """
        detail = row.get("detail") or {}
        after = after_detail(row)
        lines_now = self.job.current_lines(order, detail)
        changed = changes(order, detail, lines_now, self.mode)
        if not changed and not after.get("pending"):
            return False
        oid, name = str(order["id"]), str(order.get("name") or order["id"])
        number = row.get("rackbeat_number")
        if self.job.dry_run:
            self._dry_run(order, name, number, changed)
            return True
        if not number:
            self._hold(order, "changed in Shopify, but the journal knows no Rackbeat order for "
                              "it", changed)
            return True
        full = complete_order(self.job.shopify, order)
        # Intent first: a crash from here on is picked up by the next pass (pending).
        self.job.record(oid, name, detail={"after": {**after, "pending": True,
                                                      "changes": changed, "at": utcnow()}})
        try:
            self._apply(full, oid, name, int(number), changed, lines_now)
        except Hold as exc:
            self._hold(order, str(exc), changed)
        except (RecordError, OutcomeUnknownError) as exc:
            # Still pending: the next pass settles it by reading Rackbeat.
            self.job.fail(oid, name, f"carrying the change into Rackbeat order {number} "
                                      f"failed: {exc.message}; tried again on the next pass",
                           keep_state=True)
        return True

    def _apply(self, order: Mapping[str, Any], oid: str, name: str, number: int,
               changed: list[str], lines_now: dict[str, int]) -> None:
        rb = self.rackbeat.find_one("orders", number)
        if rb is None:
            raise Hold(f"Rackbeat order {number} no longer exists")
        if rb.get("is_invoiced"):
            what = self._credit(order, oid, name, number, only_money(changed))
        elif rb.get("is_shipped") or rb.get("is_partly_shipped"):
            raise Hold(f"Rackbeat order {number} is shipped but not invoiced, so there is no "
                       "invoice to credit and Rackbeat will not reopen it; change it in "
                       "Rackbeat by hand, then run `rackshop orders resolve`")
        else:
            amended = self._amend(order, oid, name, number, rb, lines_now)
            if amended is None:
                return  # deleted: the row is stopped
            what = amended
        self.job.record(oid, name, state="done", reason=None, detail={
            **baseline(order, lines_now, self.mode), "order_fp": order_fingerprint(
                order, lines=50),
            "after": {"pending": False, "done": what, "changes": changed, "at": utcnow(),
                      "credits": after_detail(self.job.journal(oid) or {}).get("credits")}})
        self.job.clear_failure(name)
        self.job.result.bump("changes_carried")
        self.job.outcome(name, "changed", f"{', '.join(changed) or 'pending change'}: {what}")
        event(log, f"{self.shop.name}: {name} changed in Shopify: {what}", shop=self.shop.name,
              order=name, rackbeat_order=number)

    # -- draft and booked orders ----------------------------------------------------------------

    def _target(self, order: Mapping[str, Any]) -> OrderPlan | None:
        """Rackbeat's order as Shopify's current order makes it (``None``: nothing left)."""
        if order.get("cancelledAt"):
            return None
        items = list((order.get("lineItems") or {}).get("nodes") or [])
        if not any(int(li.get("currentQuantity") or 0) > 0 for li in items):
            return None
        try:
            return plan_order(self.shop.name, order, items, self.job.rules)
        except MappingFailure as exc:
            raise Hold(f"Shopify's changed order cannot be expressed in Rackbeat: {exc}") from exc

    def _amend(self, order: Mapping[str, Any], oid: str, name: str, number: int,
               rb: Mapping[str, Any], lines_now: dict[str, int]) -> str | None:
        target = self._target(order)
        after = after_detail(self.job.journal(oid) or {})
        # Booked before this change (now, or before a reopen a crash left unfinished).
        booked = bool(rb.get("is_booked")) or bool(after.get("rebook"))
        if rb.get("is_booked"):
            # While reopened, sync-stock counts the order's current lines as on their way;
            # "rebook" makes the pass that finishes the change book it again.
            self.job.record(oid, name, steps_done="", detail={
                "lines": lines_now, "booked": False, "after": {**after, "rebook": True}})
            rb = self._reopen(number)
        if target is None:
            self._delete(number)
            why = "cancelled in Shopify" if order.get("cancelledAt") else \
                "nothing left of it in Shopify"
            reason = (f"{why} after transfer; rackshop deleted Rackbeat order {number}"
                      f"{' (reopened first, releasing its reservation)' if booked else ''}")
            self.job.record(oid, name, state="stopped", reason=reason, detail={
                **baseline(order, lines_now, self.mode),
                "after": {"pending": False, "done": "deleted", "at": utcnow()},
                "stopped": {"why": why, "draft_removed": True, "at": utcnow()}})
            self.job.clear_failure(name)
            self.job.result.bump("changes_carried")
            self.job.outcome(name, "changed", reason)
            return None
        edits = plan_line_edits(rb.get("lines") or [], target.lines,
                                self.shop.orders.location)
        self._edit_lines(oid, name, number, edits, rb.get("lines") or [])
        current = self.rackbeat.get_one("orders", number)
        total = current.get("total_total")
        if total is not None and dec(total).quantize(Decimal("0.01")) != target.total:
            raise Hold(f"Rackbeat computed {total} for changed order {number}, Shopify says "
                       f"{target.total}; the order is left unbooked for you to check")
        steps = self.job.steps() if booked else ()
        if steps:
            self.job.record(oid, name, steps_done="")
            self.job.process(oid, name, number, current, steps)
        done = f"Rackbeat order {number} {'reopened, ' if booked else ''}" + (
            f"{len(edits.update)} line(s) changed, {len(edits.add)} added, "
            f"{len(edits.delete)} deleted" if edits else "lines already equal")
        return done + (f", {', '.join(steps)} again" if booked and steps else "")

    def _reopen(self, number: int) -> dict[str, Any]:
        try:
            answer = self.rackbeat.request("POST", f"orders/{number}/reopen", body={},
                                           idempotent=False)
            if isinstance(answer, dict) and isinstance(answer.get("order"), dict):
                return dict(answer["order"])
        except OutcomeUnknownError:
            pass
        except ValidationError as exc:
            current = self.rackbeat.get_one("orders", number)
            if current.get("is_booked"):
                raise Hold(f"Rackbeat refused to reopen order {number}: {exc.message}") from exc
            return current
        current = self.rackbeat.get_one("orders", number)
        if current.get("is_booked"):
            raise RecordError(f"could not reopen Rackbeat order {number}")
        return current

    def _delete(self, number: int) -> None:
        try:
            self.rackbeat.request("DELETE", f"orders/{number}")
        except NotFoundError:
            pass  # a retry after the delete went through
        except ValidationError as exc:
            raise Hold(f"Rackbeat refused to delete order {number}: {exc.message}") from exc

    def _edit_lines(self, oid: str, name: str, number: int, edits: LineEdits,
                    existing: Sequence[Mapping[str, Any]]) -> None:
        after = after_detail(self.job.journal(oid) or {})
        # A line whose add got no answer and that Rackbeat does not show may still land,
        # whatever this plan is: added again it would be sold (and reserved) twice; planned
        # away (the line edited out in Shopify meanwhile) it would land after the order was
        # taken as done.
        shown = {"|".join(line_key(e)) for e in existing}
        unseen = [k for k in after.get("lines_sent") or [] if k not in shown]
        why = still_landing(f"the new line(s) of Rackbeat order {number}", "Rackbeat",
                            after.get("lines_sent_at"), self.job.pass_start,
                            self.job.lost_wait) if unseen else None
        if why is not None:
            raise RecordError(why)
        try:
            for line_id, body in edits.update:
                self.rackbeat.request("PUT", f"orders/{number}/lines/{line_id}", body=body)
            for line_id in edits.delete:
                with contextlib.suppress(NotFoundError):
                    self.rackbeat.request("DELETE", f"orders/{number}/lines/{line_id}")
            if edits.add:  # what and when, for a next pass that does not see them yet
                self.job.record(oid, name, detail={"after": {
                    **after_detail(self.job.journal(oid) or {}), "lines_sent_at": utcnow(),
                    "lines_sent": ["|".join(line_key(b)) for b in edits.add]}})
            for body in edits.add:
                # A lost answer is settled by the re-read and re-plan of the next pass.
                self.rackbeat.request("POST", f"orders/{number}/lines", body=body,
                                      idempotent=False)
            if edits.add:  # every add answered: none is on its way
                self.job.record(oid, name, detail={"after": {
                    **after_detail(self.job.journal(oid) or {}), "lines_sent_at": None,
                    "lines_sent": None}})
        except ValidationError as exc:
            raise Hold(f"Rackbeat refused a line change on order {number}: "
                       f"{exc.message}") from exc

    # -- invoiced orders: credit notes --------------------------------------------------------

    def _credit(self, order: Mapping[str, Any], oid: str, name: str, number: int,
                money_only: bool) -> str:
        data = self.shopify.query("OrderRefunds", {"id": oid}).get("order") or {}
        refunds = read_refunds(data.get("refunds") or [], self.mode,
                               taxes_included=bool(order.get("taxesIncluded")))
        docs = self.rackbeat.list_all("customer-invoices",
                                      {"simple_filter[order_id]": number}, page_size=100)
        invoice = next((d for d in docs if not d.get("is_credit_note")), None)
        if invoice is None:
            raise Hold(f"Rackbeat order {number} is invoiced but its invoice was not found")
        if not invoice.get("is_booked"):
            raise Hold(f"invoice {invoice.get('number')} of Rackbeat order {number} is not "
                       "booked, so it cannot be credited; book it in Rackbeat (the next pass "
                       "credits it) or change it by hand")
        notes = [d for d in docs if d.get("is_credit_note")]
        booked = {str(d.get("other_reference")): dec(d.get("total_total"))
                  for d in notes if d.get("is_booked")}
        order_ref = str(invoice.get("other_reference") or "")
        plans = plan_credits(order_ref, invoice, refunds, booked, effective_total(
            order, refunds, self.mode, only_money_changed=money_only), self.credit_rules)
        if not plans:
            if order.get("cancelledAt") and not refunds:
                raise Hold("cancelled in Shopify without a refund, after Rackbeat invoiced it: "
                           "the invoice stands; credit it in Rackbeat by hand if it should not")
            return f"invoice {invoice.get('number')}: credit notes already made"
        made = []
        for plan in plans:
            made.append(self._credit_note(oid, name, invoice, notes, plan))
        return (f"invoice {invoice.get('number')}: credit note(s) "
                + ", ".join(str(n) for n in made))

    def _credits(self, oid: str) -> dict[str, Any]:
        return dict(after_detail(self.job.journal(oid) or {}).get("credits") or {})

    def _note_credits(self, oid: str, name: str, key: str, **entry: Any) -> None:
        credits = self._credits(oid)
        credits[key] = {**credits.get(key, {}), **entry}
        row = self.job.journal(oid) or {}
        self.job.record(oid, name, detail={"after": {**after_detail(row), "credits": credits}})

    def _credit_note(self, oid: str, name: str, invoice: Mapping[str, Any],
                     notes: list[dict[str, Any]], plan: CreditPlan) -> int:
        """Make one credit note exactly once: intent, create (or adopt), set lines, book."""
        inv_no = int(invoice["number"])
        order_ref = str(invoice.get("other_reference") or "")
        mine = next((d for d in notes if d.get("other_reference") == plan.reference), None)
        entry = self._credits(oid).get(plan.key) or {}
        if mine is None and entry.get("state") == "creating":
            # A create whose answer was lost (or a killed run): an untouched draft copy of
            # the invoice made since the intent is ours.
            mine = self._orphan(notes, order_ref, str(entry.get("at") or ""))
            later = None if mine else may_still_land(entry.get("at"), self.job.pass_start,
                                                     self.job.lost_wait)
            if later is not None:
                raise RecordError(unseen_create(f"the credit note for invoice {inv_no}",
                                                str(entry["at"]), later))
        if mine is None:
            self._note_credits(oid, name, plan.key, state="creating", at=_stamp(),
                               reference=plan.reference)
            try:
                answer = self.rackbeat.request(
                    "POST", f"customer-invoices/{inv_no}/create-creditnote", body={},
                    idempotent=False)
                mine = dict(answer.get("customer_invoice") or {}) if isinstance(answer, dict) \
                    else None
            except OutcomeUnknownError:
                mine = None
            except ValidationError as exc:
                raise Hold(f"Rackbeat refused a credit note for invoice {inv_no}: "
                           f"{exc.message}") from exc
            if not mine or mine.get("number") is None:
                again = self.rackbeat.list_all("customer-invoices", {
                    "simple_filter[credited_invoice_id]": inv_no}, page_size=100)
                mine = self._orphan(again, order_ref, str(self._credits(oid).get(
                    plan.key, {}).get("at") or ""))
                if mine is None:
                    raise RecordError(f"the credit note for invoice {inv_no} was not confirmed "
                                      "by Rackbeat")
        note_no = int(mine["number"])
        self._note_credits(oid, name, plan.key, state="created", number=note_no)
        if not mine.get("is_booked"):
            try:
                self.rackbeat.request("PUT", f"customer-invoices/{note_no}",
                                      body=plan.payload(f"Credit note: Shopify {name}"))
            except ValidationError as exc:
                raise Hold(f"Rackbeat refused the lines of credit note {note_no}: "
                           f"{exc.message}") from exc
            self._book_note(note_no)
        self._note_credits(oid, name, plan.key, state="done", number=note_no)
        self.job.result.bump("credit_notes")
        return note_no

    @staticmethod
    def _orphan(docs: list[dict[str, Any]], order_ref: str, since: str
                ) -> dict[str, Any] | None:
        for d in docs:
            if d.get("is_credit_note") and not d.get("is_booked") \
                    and d.get("other_reference") == order_ref \
                    and _comparable(str(d.get("created_at") or "")) >= _comparable(
                        since, ORPHAN_MARGIN):
                return d
        return None

    def _book_note(self, note_no: int) -> None:
        for _ in range(3):
            try:
                self.rackbeat.request("POST", f"customer-invoices/{note_no}/book", body={},
                                      idempotent=False)
                return
            except OutcomeUnknownError:
                pass
            except ValidationError as exc:
                current = self.rackbeat.get_one("customer-invoices", note_no)
                if current.get("is_booked"):
                    return
                raise Hold(f"Rackbeat refused to book credit note {note_no}: "
                           f"{exc.message}") from exc
            if self.rackbeat.get_one("customer-invoices", note_no).get("is_booked"):
                return
        raise RecordError(f"could not book credit note {note_no} in 3 tries")

    # -- outcomes -------------------------------------------------------------------------------

    def _hold(self, order: Mapping[str, Any], reason: str, changed: list[str]) -> None:
        oid, name = str(order["id"]), str(order.get("name") or order["id"])
        row = self.job.journal(oid) or {}
        text = f"changed in Shopify after transfer ({', '.join(changed) or 'pending'}): {reason}"
        self.job.record(oid, name, state="held", reason=text, detail={"after": {
            **after_detail(row), "held": reason, "held_updated_at": order.get("updatedAt"),
            "at": utcnow()}})
        if self.job.store is not None:
            self.job.store.record_failure("sync-orders", self.shop.name, name, text)
        self.job.result.fail(name, text)
        self.job.result.bump("held")
        self.job.outcome(name, "failed", text)
        event(log, f"{self.shop.name}: {name} held: {text}", logging.WARNING,
              shop=self.shop.name, order=name, reason=text)

    def _dry_run(self, order: Mapping[str, Any], name: str, number: Any,
                 changed: list[str]) -> None:
        """List what would change, reading but never writing."""
        self.job.result.bump("would_change")
        if not number:
            self.job.outcome(name, "planned", f"{', '.join(changed)}: no Rackbeat order known")
            return
        rb = self.rackbeat.find_one("orders", int(number))
        try:
            if rb is None:
                raise Hold(f"Rackbeat order {number} no longer exists")
            full = complete_order(self.job.shopify, order)
            if rb.get("is_invoiced"):
                data = self.shopify.query("OrderRefunds", {"id": order["id"]}).get("order") or {}
                refunds = read_refunds(data.get("refunds") or [], self.mode,
                               taxes_included=bool(order.get("taxesIncluded")))
                docs = self.rackbeat.list_all("customer-invoices",
                                              {"simple_filter[order_id]": int(number)})
                invoice = next((d for d in docs if not d.get("is_credit_note")), {})
                booked = {str(d.get("other_reference")): dec(d.get("total_total"))
                          for d in docs if d.get("is_credit_note") and d.get("is_booked")}
                plans = plan_credits(str(invoice.get("other_reference") or ""), invoice,
                                     refunds, booked, effective_total(
                                         full, refunds, self.mode,
                                         only_money_changed=only_money(changed)),
                                     self.credit_rules)
                text = "; ".join(
                    f"credit note on invoice {invoice.get('number')} ({p.reference}, "
                    f"{p.total:.2f}{', goods back to stock' if p.stock_returned else ''}): "
                    + ", ".join(f"{r[0]} x {r[1]} = {r[5]}" for r in p.describe())
                    for p in plans) or "nothing to credit"
            elif rb.get("is_shipped") or rb.get("is_partly_shipped"):
                raise Hold("shipped but not invoiced in Rackbeat")
            else:
                target = self._target(full)
                if target is None:
                    text = f"{'reopen and ' if rb.get('is_booked') else ''}delete Rackbeat " \
                           f"order {number}"
                else:
                    edits = plan_line_edits(rb.get("lines") or [], target.lines,
                                            self.shop.orders.location)
                    text = (f"{'reopen, ' if rb.get('is_booked') else ''}Rackbeat order "
                            f"{number}: " + ("; ".join(edits.describe()) or "no line changes")
                            + f"; total {target.total:.2f}"
                            + (", book again" if rb.get("is_booked") else ""))
        except Hold as exc:
            text = f"would hold: {exc}"
        self.job.outcome(name, "planned", f"{', '.join(changed) or 'pending'}: {text}")


def _stamp() -> str:
    return utcnow()


def _comparable(stamp: str, margin: timedelta = timedelta(0)) -> str:
    """A timestamp as ``YYYY-MM-DDTHH:MM:SS`` in UTC for comparing (Rackbeat's carry an
    offset; the journal's are UTC), less ``margin``."""
    if not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp[:19]
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment.astimezone(UTC) - margin).strftime("%Y-%m-%dT%H:%M:%S")


def pending_order_ids(store: Store, shop: str) -> list[str]:
    """Shopify ids of this shop's transferred orders with a change still pending (a crash or a
    failure left it half-carried): the next pass reads them whatever their ``updatedAt``."""
    rows = store.conn.execute(
        "SELECT shopify_order_id FROM order_journal WHERE shop = ? AND state = 'done' "
        "AND CASE WHEN json_valid(detail) THEN json_extract(detail, '$.after.pending') END IS 1",
        (shop,)).fetchall()
    return [str(r[0]) for r in rows]
