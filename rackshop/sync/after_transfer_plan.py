"""Pure planning of changes made in Shopify after an order reached Rackbeat: no I/O, no clock.

What Rackbeat gets depends on how far its order has come (:mod:`rackshop.sync.after_transfer`
reads the flags and applies the plans made here):

* **draft** or **booked, nothing shipped or invoiced**: the order's lines are made equal to
  Shopify's current order (:func:`plan_line_edits`: keep equal lines, change, add, delete);
* **invoiced**: one credit note per Shopify refund (two when the refund restocked some lines and
  not others: only the restocked part returns goods to Rackbeat's stock), line by line at the
  invoice's unit price, discount and VAT (:func:`plan_credits`). Together the credit notes make
  *invoice minus credit notes equal Shopify's current total to the cent*; a gap that is rounding
  only goes on the rounding item, anything else holds the order (:class:`Hold`).

Every credit note carries a reference naming shop, order and Shopify refund
(:func:`refund_reference`), by which a lost answer or a crash is settled by reading Rackbeat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rackshop.sync.mapping import (
    CENT,
    ZERO,
    RbLine,
    _money,
    dec,
    rackbeat_line_amounts,
    rackbeat_totals,
)


class Hold(Exception):
    """A change Rackbeat cannot express exactly: the order is held with this reason."""


def _side(mode: str) -> str:
    return "presentmentMoney" if mode == "presentment" else "shopMoney"


# -- what changed ------------------------------------------------------------------------------


def baseline(order: Mapping[str, Any], lines: Mapping[str, int], mode: str) -> dict[str, Any]:
    """What the journal keeps of an order to see a later change: total, refunded, lines,
    cancelled (compared by :func:`changes`)."""
    return {"total": f"{_money(order.get('currentTotalPriceSet'), mode):.2f}",
            "refunded": f"{_money(order.get('totalRefundedSet'), mode):.2f}",
            "lines": dict(lines), "cancelled": bool(order.get("cancelledAt"))}


def changes(order: Mapping[str, Any], detail: Mapping[str, Any], lines_now: Mapping[str, int],
            mode: str) -> list[str]:
    """What differs between Shopify's order now and the journal's record of it ([] when
    nothing): cancelled, total, refunded money, line quantities.

    A record from before this module (no ``refunded``, no ``cancelled``) compares what it has.
    """
    out = []
    if order.get("cancelledAt") and not detail.get("cancelled"):
        out.append("cancelled")
    total = _money(order.get("currentTotalPriceSet"), mode)
    if detail.get("total") is not None and total != dec(detail["total"]):
        out.append(f"total now {total:.2f} (was {dec(detail['total']):.2f})")
    refunded = _money(order.get("totalRefundedSet"), mode)
    if detail.get("refunded") is not None and refunded != dec(detail["refunded"]):
        out.append(f"refunded {refunded:.2f} (was {dec(detail['refunded']):.2f})")
    then = detail.get("lines")
    if then is not None and dict(then) != dict(lines_now):
        diff = sorted(f"{sku} {then.get(sku, 0)}->{lines_now.get(sku, 0)}"
                      for sku in set(then) | set(lines_now)
                      if then.get(sku, 0) != lines_now.get(sku, 0))
        out.append("quantities " + ", ".join(diff))
    return out


# -- draft and booked orders: line edits ---------------------------------------------------------


def _key(item: Any, qty: Any, price: Any, discount: Any, vat: Any) -> tuple[str, ...]:
    return (str(item), *(f"{dec(v).normalize():f}" for v in (qty, price, discount, vat)))


def line_key(line: Mapping[str, Any]) -> tuple[str, ...]:
    """A Rackbeat order line (as read, or a line body as sent) as what makes two lines equal:
    item, quantity, price, discount, VAT."""
    item = line.get("item_id") or (line.get("item") or {}).get("number") or line.get("child_id")
    return _key(item, line.get("quantity"), line.get("line_price"),
                line.get("discount_percentage"), line.get("vat_percentage"))


@dataclass(frozen=True)
class LineEdits:
    """The writes that make a Rackbeat order's lines equal the target lines."""

    update: tuple[tuple[int, dict[str, Any]], ...] = ()
    add: tuple[dict[str, Any], ...] = ()
    delete: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.update or self.add or self.delete)

    def describe(self) -> list[str]:
        """One text per write, for the dry-run listing."""
        return ([f"change line {i}: {b['item_id']} x {b['quantity']} at {b['line_price']}"
                 for i, b in self.update]
                + [f"add line {b['item_id']} x {b['quantity']} at {b['line_price']}"
                   for b in self.add]
                + [f"delete line {i}" for i in self.delete])


def plan_line_edits(existing: Sequence[Mapping[str, Any]], target: Sequence[RbLine],
                    location: int | None = None) -> LineEdits:
    """The fewest writes that turn ``existing`` (Rackbeat's lines as read) into ``target``.

    Equal lines are kept; the others are changed in place (``PUT``), the rest added or deleted.
    Planned from what Rackbeat holds, so a repeat after a lost answer plans only what is left.
    """
    left = list(existing)
    wanted: list[RbLine] = []
    for ln in target:
        key = _key(ln.item, ln.quantity, ln.line_price, ln.discount_percentage,
                   ln.vat_percentage)
        match = next((e for e in left if line_key(e) == key), None)
        if match is not None:
            left.remove(match)
        else:
            wanted.append(ln)
    update = [(int(e["id"]), ln.payload(location)) for e, ln in zip(left, wanted, strict=False)]
    add = [ln.payload(location) for ln in wanted[len(update):]]
    delete = [int(e["id"]) for e in left[len(update):]]
    return LineEdits(tuple(update), tuple(add), tuple(delete))


# -- invoiced orders: credit notes ---------------------------------------------------------------


@dataclass(frozen=True)
class RefundLine:
    """One refunded line of a Shopify refund."""

    sku: str
    quantity: int
    restock: bool
    location: str | None  # Shopify location id where the goods were restocked
    location_name: str | None = None


@dataclass(frozen=True)
class Refund:
    """A Shopify refund, as far as Rackbeat cares."""

    id: str
    legacy: str
    lines: tuple[RefundLine, ...]
    shipping: Decimal  # refunded shipping, excluding tax
    shipping_tax: Decimal
    money: Decimal  # what it paid back

    @property
    def amount_only(self) -> bool:
        """Money back on no line and no shipping (an 'amount' refund)."""
        return not self.lines and not self.shipping and not self.shipping_tax and self.money > 0


def read_refunds(nodes: Sequence[Mapping[str, Any]], mode: str, *,
                 taxes_included: bool = False) -> list[Refund]:
    """Shopify's refunds (``OrderRefunds``), oldest first.

    A refunded shipping amount is as the shipping was entered: including its tax when the
    order's prices include tax (``taxes_included``); :attr:`Refund.shipping` is without it.
    """
    out = []
    for r in sorted(nodes, key=lambda n: (str(n.get("createdAt") or ""), str(n.get("id")))):
        lines = []
        for rl in ((r.get("refundLineItems") or {}).get("nodes") or []):
            qty = int(rl.get("quantity") or 0)
            if qty <= 0:
                continue
            restock = str(rl.get("restockType") or "NO_RESTOCK") in (
                "RETURN", "CANCEL", "LEGACY_RESTOCK") and bool(rl.get("restocked", True))
            where = rl.get("location") or {}
            lines.append(RefundLine(str((rl.get("lineItem") or {}).get("sku") or "").strip(),
                                    qty, restock, where.get("id"), where.get("name")))
        shipping = tax = ZERO
        for sl in ((r.get("refundShippingLines") or {}).get("nodes") or []):
            line_tax = _money(sl.get("taxAmountSet"), mode)
            shipping += _money(sl.get("subtotalAmountSet"), mode) - (
                line_tax if taxes_included else ZERO)
            tax += line_tax
        legacy = str(r.get("legacyResourceId") or str(r.get("id", "")).rsplit("/", 1)[-1])
        out.append(Refund(str(r.get("id")), legacy, tuple(lines), shipping, tax,
                          _money(r.get("totalRefundedSet"), mode)))
    return out


def refund_reference(order_ref: str, refund: Refund, part: str = "") -> str:
    """The reference a credit note carries: the order's, the Shopify refund, the part."""
    return f"{order_ref} refund {refund.legacy}{' ' + part if part else ''}"


@dataclass(frozen=True)
class CreditPlan:
    """One credit note to make: its lines, whether its goods return to stock, its reference."""

    key: str  # refund legacy id, plus "/return" for the restocked part
    reference: str
    lines: tuple[RbLine, ...]
    locations: tuple[int | None, ...]  # per line: where returned goods go (None: not stock)
    stock_returned: bool

    @property
    def total(self) -> Decimal:
        return rackbeat_totals(self.lines)[2]

    def payload(self, heading: str) -> dict[str, Any]:
        """The body of ``PUT /customer-invoices/{credit note}``."""
        return {"heading": heading, "other_reference": self.reference,
                "stock_returned": self.stock_returned,
                "lines": [ln.payload(loc) for ln, loc in zip(self.lines, self.locations,
                                                             strict=True)]}

    def describe(self) -> list[list[str]]:
        """Rows for a dry-run listing: item, quantity, unit price, discount, VAT, line total."""
        rows = []
        for ln in self.lines:
            t, v = rackbeat_line_amounts(ln.quantity, ln.line_price, ln.discount_percentage,
                                         ln.vat_percentage)
            rows.append([ln.item, f"{ln.quantity.normalize():f}",
                         f"{ln.line_price.normalize():f}",
                         f"{ln.discount_percentage.normalize():f}%",
                         f"{ln.vat_percentage.normalize():f}%", f"{t + v:.2f}"])
        return rows


@dataclass(frozen=True)
class CreditRules:
    """The shop settings crediting needs."""

    shipping_item: str
    rounding_item: str | None
    rounding_per_line: Decimal
    refund_item: str | None
    return_location: int | None
    location_map: Mapping[str, int]  # Shopify location id or name -> Rackbeat location


def effective_total(order: Mapping[str, Any], refunds: Sequence[Refund], mode: str, *,
                    only_money_changed: bool = False) -> tuple[Decimal, ...]:
    """What the order is worth now, Rackbeat's credit notes carrying amount-only refunds too.

    Shopify's record does not say whether an amount-only refund (money back on no line) lowers
    ``currentTotalPriceSet`` ("the total price of the order, after returns") or stays out of it
    (docs/sandbox-shopify.md). The reading that keeps it out comes first. The other (Shopify
    lowered its total) is added only when ``only_money_changed`` (:func:`only_money`): since
    the journal's baseline no line changed and the order was not cancelled, so nothing but
    the refunds can have moved the total; otherwise an edit worth exactly those refunds would
    pass for them and go uncredited.
    """
    current = _money(order.get("currentTotalPriceSet"), mode)
    apart = sum((r.money for r in refunds if r.amount_only), ZERO)
    return (current - apart, current) if apart and only_money_changed else (current - apart,)


def only_money(changed: Sequence[str]) -> bool:
    """Whether :func:`changes` found only money moved (total, refunded): no line quantity
    changed and the order was not cancelled."""
    return not any(c == "cancelled" or c.startswith("quantities ") for c in changed)


def plan_credits(order_ref: str, invoice: Mapping[str, Any], refunds: Sequence[Refund],
                 booked_refs: Mapping[str, Decimal],
                 target_total: Decimal | Sequence[Decimal],
                 rules: CreditRules) -> list[CreditPlan]:
    """The credit notes still to make so that invoice minus credit notes equals
    ``target_total`` (:func:`effective_total`) to the cent.

    Args:
        order_ref: The Rackbeat order's reference (``rackshop:<shop>:<id> #name``).
        invoice: Rackbeat's invoice of the order (its lines give price, discount and VAT).
        refunds: Shopify's refunds, oldest first.
        booked_refs: Reference -> total of the credit notes of this invoice already booked.
        target_total: What the invoice less every credit note must come to (or each value it
            may come to, see :func:`effective_total`).
        rules: The shop's settings.

    Raises:
        Hold: A refund Rackbeat cannot express exactly (a line not on the invoice, an
            amount-only refund without ``orders.refund_item``, a gap beyond rounding).
    """
    items: dict[str, Mapping[str, Any]] = {}
    ship_vat: Decimal | None = None
    vats: set[Decimal] = set()
    for ln in invoice.get("lines") or []:
        number = str(ln.get("item_id") or (ln.get("item") or {}).get("number") or "")
        if number == rules.shipping_item and ship_vat is None:
            ship_vat = dec(ln.get("vat_percentage"))
        elif number and number != rules.rounding_item:
            items.setdefault(number, ln)
            vats.add(dec(ln.get("vat_percentage")))
    plans: list[CreditPlan] = []
    for refund in refunds:
        plain, back = _refund_lines(refund, invoice, items, rules)
        if refund.shipping or refund.shipping_tax:
            vat = ship_vat if ship_vat is not None else (
                (refund.shipping_tax / refund.shipping * 100).quantize(Decimal("0.01"))
                if refund.shipping else ZERO)
            plain.append((RbLine(rules.shipping_item, "Shipping refund", Decimal(1),
                                 refund.shipping, ZERO, vat, "shipping", "shipping"), None))
        if refund.amount_only:
            plain.append((_amount_only_line(refund, vats, rules), None))
        for part, pairs, returned in (("", plain, False), ("return", back, True)):
            if not pairs:
                continue
            key = refund.legacy + ("/return" if returned else "")
            ref = refund_reference(order_ref, refund, part)
            if ref in booked_refs:
                continue
            plans.append(CreditPlan(key, ref, tuple(p[0] for p in pairs),
                                    tuple(p[1] if returned else None for p in pairs), returned))
    targets = (target_total,) if isinstance(target_total, Decimal) else tuple(target_total)
    invoice_total = dec(invoice.get("total_total"))
    credited = sum(booked_refs.values(), ZERO)
    planned = sum((p.total for p in plans), ZERO)
    gaps = [invoice_total - credited - target - planned for target in targets]
    if ZERO in gaps:
        return plans
    lines = sum(len(p.lines) for p in plans)
    for gap in gaps:
        if plans and rules.rounding_item and abs(gap) <= rules.rounding_per_line * max(1, lines):
            last = plans[-1]
            rounding = RbLine(rules.rounding_item, "Rounding (øreafrunding)", Decimal(1), gap,
                              ZERO, ZERO, "rounding", "rounding")
            plans[-1] = CreditPlan(last.key, last.reference, (*last.lines, rounding),
                                   (*last.locations, None), last.stock_returned)
            return plans
    target_total, gap = targets[0], gaps[0]
    raise Hold(
        f"invoice {invoice.get('number')} ({invoice_total:.2f}) less its credit notes "
        f"({credited:.2f}) and the planned ones ({planned:.2f}) would be "
        f"{invoice_total - credited - planned:.2f}, but Shopify's order is now worth "
        f"{target_total:.2f} ({gap:+.2f} apart: "
        + ("a change without a refund in Shopify, e.g. an edit or a cancellation that paid "
           "nothing back" if not plans else "more than rounding")
        + "); credit it in Rackbeat by hand, then run `rackshop orders resolve`")


def _refund_lines(refund: Refund, invoice: Mapping[str, Any],
                  items: Mapping[str, Mapping[str, Any]], rules: CreditRules
                  ) -> tuple[list[tuple[RbLine, int | None]], list[tuple[RbLine, int | None]]]:
    """A refund's lines at the invoice's prices: those paid back only, and those restocked
    (with the Rackbeat location the units go back to)."""
    plain: list[tuple[RbLine, int | None]] = []
    back: list[tuple[RbLine, int | None]] = []
    for rl in refund.lines:
        src = items.get(rl.sku)
        if src is None:
            what = rl.sku or "a line without SKU"
            raise Hold(f"Shopify refund {refund.legacy} refunds {what}, which is not on "
                       f"Rackbeat invoice {invoice.get('number')}; credit it in Rackbeat "
                       "by hand, then run `rackshop orders resolve`")
        line = RbLine(rl.sku, str(src.get("name") or rl.sku), Decimal(rl.quantity),
                      dec(src.get("line_price")), dec(src.get("discount_percentage")),
                      dec(src.get("vat_percentage")), "item", rl.sku)
        if rl.restock:
            mapped = rules.location_map.get(rl.location or "") or \
                rules.location_map.get(rl.location_name or "")
            loc = mapped or rules.return_location or _int(src.get("location_id"))
            back.append((line, loc))
        else:
            plain.append((line, _int(src.get("location_id"))))
    return plain, back


def _amount_only_line(refund: Refund, vats: set[Decimal], rules: CreditRules) -> RbLine:
    """The line on ``orders.refund_item`` for money paid back on no line and no shipping."""
    if not rules.refund_item:
        raise Hold(f"Shopify refund {refund.legacy} pays back {refund.money:.2f} on no "
                   "line and no shipping; set orders.refund_item to the Rackbeat item "
                   "that carries such refunds on a credit note (the order is tried "
                   "again when it next changes in Shopify), or credit it by hand and "
                   "run `rackshop orders resolve`")
    if len(vats) > 1:
        raise Hold(f"Shopify refund {refund.legacy} pays back {refund.money:.2f} on no "
                   "line of an invoice with several VAT rates: which VAT it carries "
                   "is not known; credit it in Rackbeat by hand")
    vat = next(iter(vats), ZERO)
    net = (refund.money / (1 + vat / 100)).quantize(Decimal("0.000001"))
    return RbLine(rules.refund_item, "Refund", Decimal(1), net, ZERO, vat, "refund", "refund")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def money_text(value: Decimal) -> str:
    """An amount for a message."""
    return f"{value.quantize(CENT):.2f}"
