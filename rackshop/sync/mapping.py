"""Pure Shopify <-> Rackbeat transforms: no I/O, no clock. The business rules live here.

Money is :class:`decimal.Decimal` throughout; floats appear only at the JSON boundary.

Orders
------
A Shopify order becomes a Rackbeat order whose **total including VAT equals Shopify's current
total to the cent**, with the same lines, quantities and VAT rates. Rackbeat's lines carry a unit
price excluding VAT (``line_price``), a ``discount_percentage`` and a ``vat_percentage``; Rackbeat
rounds each line to cents and sums (:func:`rackbeat_line_amounts`, the one place that models it).
For each Shopify line the mapper:

1. takes the current quantity (after refunds and edits), the unit price as entered, the discount
   allocated to it and its tax lines (several tax lines on a line add up to one VAT rate);
2. derives the net amount excluding VAT: ``price × qty − discount`` when the shop enters prices
   without tax, or ``price × qty − discount − tax`` when prices include tax;
3. chooses ``line_price`` (the unit price excluding VAT, up to 6 decimals) and the discount
   percentage (up to 6 decimals) so that Rackbeat's rounded line total equals that net amount;
4. makes Rackbeat's line total including VAT equal Shopify's (net + tax): when Rackbeat's own VAT
   rounding would land a cent off, the net amount moves by that cent (the VAT then differs from
   Shopify's tax line by the same cent, and the order total stays exact).

Shipping lines become lines on the shop's shipping item the same way.

**Rounding.** Rackbeat rounds each line's net to cents and computes VAT on the rounded net, so
with 25 % VAT a single line can never total ``5k + 2`` cents including VAT (141.12, 141.17, ...):
about one gross amount in five. More decimals in ``line_price`` cannot help (the net is rounded
to cents before VAT). When balancing cents across lines and splitting a line cannot reach
Shopify's total, and Shopify's own lines add up to its total (the gap is rounding only), the
difference goes on a **rounding line** (Danish "øreafrunding"): the configured item
``orders.rounding_item``, quantity 1, 0 % VAT, at most ``orders.rounding_per_line`` (0.01) per
Shopify line. Without a rounding item such an order fails with a reason that says so.

If Shopify's total differs from the sum of its own lines and shipping lines (a tip, duties, an
additional fee or a manual adjustment on no line), the order fails with a reason naming that
amount and what Shopify says it is; it is never transferred with wrong amounts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
PRICE_PLACES = Decimal("0.000001")  # Rackbeat accepts prices with up to 6 decimals
PERCENT_PLACES = Decimal("0.000001")
ZERO = Decimal(0)
HUNDRED = Decimal(100)

TRIGGERS = ("created", "paid", "fulfilled")


def cents(value: Decimal) -> Decimal:
    """Round to cents, half away from zero (as Rackbeat, a PHP application, does)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def dec(value: Any) -> Decimal:
    """A Shopify ``Decimal`` string (or number) as a Decimal."""
    if value is None or value == "":
        return ZERO
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc


# -- the Rackbeat side ------------------------------------------------------------------------


@dataclass(frozen=True)
class RbLine:
    """One Rackbeat order line as rackshop sends it."""

    item: str
    name: str
    quantity: Decimal
    line_price: Decimal
    discount_percentage: Decimal
    vat_percentage: Decimal
    kind: str = "item"  # item | shipping | rounding
    source: str = ""  # the Shopify line id it came from

    def payload(self, location: int | None = None) -> dict[str, Any]:
        """The JSON of the line for ``POST /orders/drafts``."""
        body: dict[str, Any] = {
            "item_id": self.item,
            "name": self.name,
            "quantity": _num(self.quantity),
            "line_price": _num(self.line_price),
            "discount_percentage": _num(self.discount_percentage),
            "vat_percentage": _num(self.vat_percentage),
        }
        if location is not None:
            body["location_id"] = location
        return body


def _num(value: Decimal) -> float | int:
    """A Decimal for JSON: an int when whole, else a float (exact for ≤ 15 significant digits)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def rackbeat_line_amounts(quantity: Decimal, line_price: Decimal, discount_percentage: Decimal,
                          vat_percentage: Decimal) -> tuple[Decimal, Decimal]:
    """How Rackbeat computes a line: (total excluding VAT, VAT), each rounded to cents.

    This is the single place that models Rackbeat's arithmetic (see docs/sandbox-rackbeat.md):
    ``round(qty × price × (1 − discount/100), 2)`` and ``round(total × vat/100, 2)``.
    """
    total = cents(quantity * line_price * (1 - discount_percentage / HUNDRED))
    return total, cents(total * vat_percentage / HUNDRED)


def rackbeat_totals(lines: Iterable[RbLine]) -> tuple[Decimal, Decimal, Decimal]:
    """(subtotal excluding VAT, VAT, total including VAT) of Rackbeat lines."""
    sub = vat = ZERO
    for ln in lines:
        t, v = rackbeat_line_amounts(ln.quantity, ln.line_price, ln.discount_percentage,
                                     ln.vat_percentage)
        sub += t
        vat += v
    return sub, vat, sub + vat


# -- decisions about an order --------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRules:
    """The shop settings the order mapping needs (a slice of the config)."""

    transfer_on: str
    since: datetime
    include_test_orders: bool
    currency: str  # shop | presentment
    shipping_item: str
    rounding_item: str | None = None
    """Rackbeat item for rounding lines (øreafrunding); ``None``: no rounding lines."""
    rounding_per_line: Decimal = Decimal("0.01")
    """The largest rounding line allowed, per Shopify line (items and shipping)."""


def eligibility(order: Mapping[str, Any], rules: OrderRules) -> tuple[str, str]:
    """Whether an order is to be transferred now.

    Returns:
        ``("transfer", "")``, ``("wait", reason)`` (not yet: unpaid with trigger paid...) or
        ``("skip", reason)`` (never: before go-live, test, cancelled, refunded).
    """
    created = _parse_time(order.get("processedAt") or order.get("createdAt"))
    if created is not None and created < rules.since:
        return "skip", f"placed {created.date().isoformat()}, before the go-live date " \
                       f"{rules.since.date().isoformat()} (orders.since)"
    if order.get("test") and not rules.include_test_orders:
        return "skip", "test order (set orders.include_test_orders = true to transfer them)"
    if order.get("cancelledAt"):
        return "skip", "cancelled before transfer"
    financial = order.get("displayFinancialStatus")
    if financial in ("REFUNDED", "VOIDED"):
        return "skip", f"{financial.lower()} before transfer"
    if rules.transfer_on == "paid" and not (
        order.get("fullyPaid") or financial in ("PAID", "PARTIALLY_REFUNDED")
    ):
        state = (financial or "unpaid").lower().replace("_", " ")
        return "wait", f"{state}; transfer_on = paid waits until it is paid in full"
    if rules.transfer_on == "fulfilled" and order.get("displayFulfillmentStatus") != "FULFILLED":
        state = str(order.get("displayFulfillmentStatus") or "unfulfilled").lower()
        return "wait", f"{state.replace('_', ' ')}; transfer_on = fulfilled waits until it is " \
                       "fully fulfilled"
    return "transfer", ""


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


# -- the order mapping ---------------------------------------------------------------------------


class MappingFailure(Exception):
    """The order cannot be expressed in Rackbeat exactly; the message says why and what to do."""


@dataclass(frozen=True)
class CustomerInfo:
    """Who the order is for, as read from Shopify."""

    email: str | None
    name: str
    phone: str | None
    address: dict[str, Any]
    delivery: dict[str, Any]


@dataclass(frozen=True)
class OrderPlan:
    """A Shopify order, mapped: what to create in Rackbeat and what to check it against."""

    order_id: str
    order_name: str
    reference: str
    currency: str
    lines: tuple[RbLine, ...]
    customer: CustomerInfo
    shopify_total: Decimal
    subtotal: Decimal
    vat: Decimal
    total: Decimal
    notes: tuple[str, ...] = ()
    fingerprint: str = ""
    order_date: str = ""

    def rounding(self) -> str | None:
        """The amount of the rounding line, as text (``None`` when there is none)."""
        amounts = [ln.line_price for ln in self.lines if ln.kind == "rounding"]
        return f"{sum(amounts, Decimal(0)):+.2f}" if amounts else None

    def describe(self) -> list[list[str]]:
        """Rows for a dry-run listing: item, quantity, unit price, discount, VAT, line total."""
        rows = []
        for ln in self.lines:
            t, v = rackbeat_line_amounts(ln.quantity, ln.line_price, ln.discount_percentage,
                                         ln.vat_percentage)
            rows.append([ln.item, str(_num(ln.quantity)), f"{ln.line_price.normalize():f}",
                         f"{ln.discount_percentage.normalize():f}%",
                         f"{ln.vat_percentage.normalize():f}%", f"{t + v:.2f}"])
        return rows


def order_reference(shop: str, order: Mapping[str, Any]) -> str:
    """The reference a Rackbeat order carries: names the shop and the Shopify order.

    ``rackshop:<shop>:<legacy id> <name>`` — unique per order, searchable, and readable for
    the merchant (``rackshop:dk:5123456789 #1001``).
    """
    legacy = order.get("legacyResourceId") or str(order.get("id", "")).rsplit("/", 1)[-1]
    return f"rackshop:{shop}:{legacy} {order.get('name', '')}".strip()


def _money(bag: Mapping[str, Any] | None, currency_mode: str) -> Decimal:
    if not bag:
        return ZERO
    side = bag.get("presentmentMoney") if currency_mode == "presentment" else bag.get("shopMoney")
    if not side:
        side = bag.get("shopMoney") or {}
    return dec(side.get("amount"))


def _currency(order: Mapping[str, Any], mode: str) -> str:
    if mode == "presentment":
        return str(order.get("presentmentCurrencyCode") or order.get("currencyCode"))
    return str(order.get("currencyCode"))


def _rate(tax_lines: Sequence[Mapping[str, Any]]) -> Decimal:
    """The VAT percentage of a line: its tax lines' rates added up (0 when untaxed)."""
    total = sum((dec(t.get("rate")) for t in tax_lines), ZERO)
    return (total * HUNDRED).quantize(Decimal("0.0001")).normalize() + ZERO


@dataclass(frozen=True)
class Candidate:
    """One way to express a Shopify line in Rackbeat, and how far it is from Shopify's line."""

    line_price: Decimal
    discount_percentage: Decimal
    net: Decimal
    vat: Decimal

    @property
    def incl(self) -> Decimal:
        return self.net + self.vat


def line_candidates(quantity: Decimal, unit_price: Decimal, net_ex: Decimal,
                    vat_pct: Decimal, *, prices_include_tax: bool) -> list[Candidate]:
    """Ways to express a line in Rackbeat whose net is within two cents of ``net_ex``.

    Rackbeat computes ``net = round(qty × line_price × (1 − d/100))`` and
    ``vat = round(net × rate)``. The unit price excluding VAT is kept (6 decimals) and the
    discount percentage (6 decimals) is chosen per candidate net amount. Not every total
    including VAT is reachable on one line (``x + round(0.25x)`` skips a cent now and then),
    which is why the caller balances candidates across the order.
    """
    unit_ex = unit_price / (1 + vat_pct / HUNDRED) if prices_include_tax else unit_price
    line_price = unit_ex.quantize(PRICE_PLACES, rounding=ROUND_HALF_UP)
    gross_ex = quantity * line_price
    found: list[Candidate] = []
    for step in (0, -1, 1, -2, 2):
        target = net_ex + step * CENT
        if target < 0:
            continue
        price, pct = line_price, _discount_for(gross_ex, target)
        if pct is None and target > cents(gross_ex):
            # Above the undiscounted amount (the 6-decimal unit price rounded down): raise
            # the unit price to the smallest one that reaches the target instead.
            price = (target / quantity).quantize(PRICE_PLACES, rounding=ROUND_HALF_UP)
            pct = ZERO if cents(quantity * price) == target else None
        if pct is None:
            continue
        total, vat = rackbeat_line_amounts(quantity, price, pct, vat_pct)
        if total == target:
            found.append(Candidate(price, pct, total, vat))
    return found


def fit_line(quantity: Decimal, unit_price: Decimal, net_ex: Decimal, gross_incl: Decimal,
             vat_pct: Decimal, *, prices_include_tax: bool) -> tuple[Decimal, Decimal, str]:
    """Choose (line_price, discount_percentage) so Rackbeat's line equals Shopify's exactly.

    Returns:
        ``(line_price, discount_percentage, note)``; the note is non-empty when Rackbeat's VAT
        differs from Shopify's tax by a cent (the line total including VAT is still exact).

    Raises:
        MappingFailure: No candidate reaches ``gross_incl`` exactly.
    """
    for c in line_candidates(quantity, unit_price, net_ex, vat_pct,
                             prices_include_tax=prices_include_tax):
        if c.incl == gross_incl:
            note = "" if c.net == net_ex else (
                f"VAT rounded by Rackbeat differs from Shopify's tax by "
                f"{abs(c.net - net_ex):.2f}; the line total is exact")
            return c.line_price, c.discount_percentage, note
    raise MappingFailure(
        f"a line of {quantity} × {unit_price} with {vat_pct}% VAT cannot be expressed in "
        f"Rackbeat to the cent (net {net_ex}, incl. VAT {gross_incl})"
    )


def _discount_for(gross_ex: Decimal, target: Decimal) -> Decimal | None:
    """The discount percentage (6 decimals) that rounds ``gross_ex`` to ``target``."""
    if gross_ex == 0:
        return ZERO if target == 0 else None
    if cents(gross_ex) == target:
        return ZERO
    exact = (1 - target / gross_ex) * HUNDRED
    base = exact.quantize(PERCENT_PLACES, rounding=ROUND_HALF_UP)
    for step in (0, 1, -1, 2, -2):
        pct = base + step * PERCENT_PLACES
        if pct < 0 or pct > HUNDRED:
            continue
        if cents(gross_ex * (1 - pct / HUNDRED)) == target:
            return pct.normalize() + ZERO if pct else ZERO
    return None


def _scaled(amount: Decimal, current: int, original: int) -> Decimal:
    if original <= 0 or current == original:
        return amount
    return cents(amount * current / original)


def plan_order(shop: str, order: Mapping[str, Any], line_items: Sequence[Mapping[str, Any]],
               rules: OrderRules) -> OrderPlan:
    """Map a Shopify order (the ``OrderFields`` shape) to the Rackbeat order to create.

    Args:
        shop: The shop's name (goes into the reference).
        order: The order as read.
        line_items: All its line items (every page).
        rules: The shop's order settings.

    Raises:
        MappingFailure: A line has no SKU, or the amounts cannot be expressed exactly.
    """
    mode = rules.currency
    incl = bool(order.get("taxesIncluded"))
    pending: list[_Pending] = []
    missing_sku: list[str] = []
    for li in line_items:
        current = li.get("currentQuantity")
        qty = int(current if current is not None else li.get("quantity") or 0)
        if qty <= 0:
            continue  # removed or fully refunded line
        sku = (li.get("sku") or "").strip()
        if not sku:
            missing_sku.append(str(li.get("name") or li.get("title") or li.get("id")))
            continue
        original = int(li.get("quantity") or qty)
        unit = _money(li.get("originalUnitPriceSet"), mode)
        discount = _scaled(sum((_money(a.get("allocatedAmountSet"), mode)
                                for a in li.get("discountAllocations") or []), ZERO),
                           qty, original)
        tax_lines = li.get("taxLines") or []
        tax = _scaled(sum((_money(t.get("priceSet"), mode) for t in tax_lines), ZERO),
                      qty, original)
        pending.append(_pending(sku, str(li.get("name") or sku), Decimal(qty), unit,
                                discount, tax, _rate(tax_lines), incl, "item",
                                str(li.get("id", ""))))
    if missing_sku:
        raise MappingFailure(
            "line(s) without SKU: " + ", ".join(repr(n) for n in missing_sku)
            + "; give each Shopify variant the Rackbeat item number as SKU"
        )
    for sl in (order.get("shippingLines") or {}).get("nodes") or []:
        price = _money(sl.get("originalPriceSet"), mode)
        discount = sum((_money(a.get("allocatedAmountSet"), mode)
                        for a in sl.get("discountAllocations") or []), ZERO)
        tax_lines = sl.get("taxLines") or []
        tax = sum((_money(t.get("priceSet"), mode) for t in tax_lines), ZERO)
        if price == 0 and discount == 0 and tax == 0 and not pending:
            continue
        title = str(sl.get("title") or "Shipping")
        pending.append(_pending(rules.shipping_item, title, Decimal(1), price, discount, tax,
                                _rate(tax_lines), incl, "shipping", str(sl.get("code") or title)))
    shopify_total = _money(order.get("currentTotalPriceSet"), mode)
    currency = _currency(order, mode)
    on_lines = sum((p.incl for p in pending), ZERO)
    if abs(shopify_total - on_lines) > CENT * max(1, len(pending)):
        raise MappingFailure(_off_lines_reason(order, mode, currency, shopify_total, on_lines))
    lines, notes = _to_lines(_balanced(pending, shopify_total))
    sub, vat, total = rackbeat_totals(lines)
    if total != shopify_total:
        lines.append(_rounding_line(shopify_total - total, len(pending), currency, rules))
        notes.append(f"rounding line {shopify_total - total:+.2f} on {rules.rounding_item}: "
                     "Rackbeat's per-line VAT rounding cannot reach Shopify's total otherwise")
        sub, vat, total = rackbeat_totals(lines)
    customer = _customer(order)
    plan = OrderPlan(
        order_id=str(order["id"]), order_name=str(order.get("name", "")),
        reference="", currency=currency, lines=tuple(lines), customer=customer,
        shopify_total=shopify_total, subtotal=sub, vat=vat, total=total, notes=tuple(notes),
        order_date=str(order.get("processedAt") or order.get("createdAt") or "")[:10],
    )
    return _with_fingerprint(plan, shop, order)


def _rounding_line(diff: Decimal, shopify_lines: int, currency: str,
                   rules: OrderRules) -> RbLine:
    """The øreafrunding line that makes Rackbeat's total Shopify's (0 % VAT, quantity 1)."""
    allowed = rules.rounding_per_line * shopify_lines
    if not rules.rounding_item:
        raise MappingFailure(
            f"Rackbeat rounds each line's VAT to the cent, so its total would be off Shopify's "
            f"by {diff:+.2f} {currency} (rounding only, no other difference); set "
            "orders.rounding_item to a Rackbeat item (e.g. \"AFRUND\") to carry a rounding "
            "line, and the order is transferred on the next pass")
    if abs(diff) > allowed:
        raise MappingFailure(
            f"a rounding line of {diff:+.2f} {currency} would be needed, more than "
            f"orders.rounding_per_line ({rules.rounding_per_line}) × {shopify_lines} line(s) = "
            f"{allowed:.2f}; widen orders.rounding_per_line or transfer the order by hand")
    return RbLine(rules.rounding_item, "Rounding (øreafrunding)", Decimal(1), diff, ZERO, ZERO,
                  "rounding", "rounding")


#: Order amounts Shopify keeps outside its lines, with the words for them in a reason.
_OFF_LINE_AMOUNTS = (
    ("totalTipReceivedSet", "a tip"),
    ("currentTotalDutiesSet", "duties"),
    ("currentTotalAdditionalFeesSet", "additional fees"),
)


def _off_lines_reason(order: Mapping[str, Any], mode: str, currency: str, shopify_total: Decimal,
                      on_lines: Decimal) -> str:
    """Why Shopify's total is not the sum of its lines, naming what Shopify holds."""
    gap = shopify_total - on_lines
    named = [f"{words} of {_money(order.get(key), mode):.2f}"
             for key, words in _OFF_LINE_AMOUNTS if _money(order.get(key), mode)]
    what = (", ".join(named) if named else
            "an amount on no line (Shopify shows no tip, duties or fees: an order-level "
            "adjustment or an edit)")
    return (f"Shopify's current total {shopify_total:.2f} {currency} is {gap:+.2f} away from its "
            f"lines and shipping ({on_lines:.2f}): {what}; Rackbeat order lines cannot hold "
            "that, so transfer the order by hand and then run `rackshop orders resolve`")


@dataclass
class _Pending:
    """A Shopify line on its way to Rackbeat: its targets and the ways to express it."""

    item: str
    name: str
    quantity: Decimal
    vat_pct: Decimal
    net: Decimal  # Shopify's net excluding tax
    incl: Decimal  # Shopify's amount including tax
    kind: str
    source: str
    candidates: list[Candidate]
    unit: Decimal = ZERO
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    prices_include_tax: bool = False
    choice: int = 0

    @property
    def chosen(self) -> Candidate:
        return self.candidates[self.choice]


def _pending(item: str, name: str, qty: Decimal, unit: Decimal, discount: Decimal,
             tax: Decimal, vat_pct: Decimal, incl: bool, kind: str, source: str) -> _Pending:
    gross = unit * qty
    if discount < 0 or discount > gross:
        raise MappingFailure(f"{item}: discount {discount} is outside 0..{gross}")
    if incl:
        gross_incl = cents(gross - discount)
        net_ex = cents(gross_incl - tax)
    else:
        net_ex = cents(gross - discount)
        gross_incl = cents(net_ex + tax)
    found = line_candidates(qty, unit, net_ex, vat_pct, prices_include_tax=incl)
    if not found:
        raise MappingFailure(
            f"{item}: {qty} × {unit} with {vat_pct}% VAT cannot be expressed in Rackbeat "
            f"(net {net_ex}); Rackbeat keeps 6 decimals of price and discount")
    # best first: the line total including VAT exact, then the net (and so the VAT) exact
    found.sort(key=lambda c: (abs(c.incl - gross_incl), abs(c.net - net_ex)))
    return _Pending(item, name, qty, vat_pct, net_ex, gross_incl, kind, source, found,
                    unit, discount, tax, incl)


def _split(p: _Pending) -> list[_Pending]:
    """The line as two lines of the same item, ``qty − 1`` units and 1 unit.

    Two lines round separately, so together they reach totals one line cannot. Discount and
    tax are shared in proportion to the units.
    """
    q = p.quantity
    d_a, t_a = cents(p.discount * (q - 1) / q), cents(p.tax * (q - 1) / q)
    return [
        _pending(p.item, p.name, q - 1, p.unit, d_a, t_a, p.vat_pct, p.prices_include_tax,
                 p.kind, p.source),
        _pending(p.item, p.name, Decimal(1), p.unit, p.discount - d_a, p.tax - t_a, p.vat_pct,
                 p.prices_include_tax, p.kind, p.source),
    ]


def _balanced(pending: list[_Pending], target: Decimal) -> list[_Pending]:
    """The lines, balanced to ``target``; a line is split in two only when nothing else works."""
    _balance(pending, target)
    if sum((p.chosen.incl for p in pending), ZERO) == target:
        return pending
    for i in sorted(range(len(pending)), key=lambda k: -pending[k].quantity):
        if pending[i].quantity < 2:
            break
        try:
            trial = pending[:i] + _split(pending[i]) + pending[i + 1:]
        except MappingFailure:
            continue
        _balance(trial, target)
        if sum((p.chosen.incl for p in trial), ZERO) == target:
            return trial
    return pending


def _balance(pending: list[_Pending], target: Decimal) -> None:
    """Pick one candidate per line so the order's total including VAT equals ``target``.

    Only rounding is balanced: each line may move at most the few cents its candidates allow,
    and the cheapest combination wins (fewest cents moved, then fewest VAT deviations). A real
    difference (a tip, duties) is left for the caller's total check to refuse.
    """
    goal = int((target - sum((p.incl for p in pending), ZERO)) * 100)
    if abs(goal) > len(pending):
        return  # not rounding: leave every line at its best and let the total check fail
    # dp: cents moved so far -> (cost, choices)
    dp: dict[int, tuple[int, tuple[int, ...]]] = {0: (0, ())}
    reach = len(pending) + 2
    for p in pending:
        # each candidate's cents moved and cost, once per line, not once per state (Decimal
        # arithmetic is most of a plan's time; issue 14)
        moves = [(j, int((c.incl - p.incl) * 100), c.net != p.net)
                 for j, c in enumerate(p.candidates)]
        nxt: dict[int, tuple[int, tuple[int, ...]]] = {}
        for moved, (cost, picks) in dp.items():
            for j, dev, vat_moved in moves:
                key = moved + dev
                if abs(key) > reach:
                    continue
                new_cost = cost + 10 * abs(dev) + vat_moved
                if key not in nxt or new_cost < nxt[key][0]:
                    nxt[key] = (new_cost, (*picks, j))
        dp = nxt
    if goal in dp:
        for p, j in zip(pending, dp[goal][1], strict=True):
            p.choice = j


def _to_lines(pending: list[_Pending]) -> tuple[list[RbLine], list[str]]:
    lines: list[RbLine] = []
    notes: list[str] = []
    for p in pending:
        c = p.chosen
        lines.append(RbLine(p.item, p.name, p.quantity, c.line_price, c.discount_percentage,
                            p.vat_pct, p.kind, p.source))
        if c.incl != p.incl:
            notes.append(f"{p.item}: line total {c.incl:.2f} vs Shopify's {p.incl:.2f} (a cent "
                         "moved between lines so the order total is exact)")
        elif c.net != p.net:
            notes.append(f"{p.item}: Rackbeat's VAT differs from Shopify's tax by "
                         f"{abs(c.net - p.net):.2f}; the line total is exact")
    return lines, notes


def _customer(order: Mapping[str, Any]) -> CustomerInfo:
    cust = order.get("customer") or {}
    billing = order.get("billingAddress") or {}
    shipping = order.get("shippingAddress") or {}
    email = (order.get("email") or cust.get("email") or "").strip() or None
    name = " ".join(p for p in (cust.get("firstName"), cust.get("lastName")) if p) \
        or billing.get("name") or billing.get("company") or email or "Shopify customer"
    return CustomerInfo(
        email=order_email(order),
        name=str(name),
        phone=order.get("phone") or cust.get("phone") or billing.get("phone"),
        address=dict(billing), delivery=dict(shipping or billing),
    )


def order_email(order: Mapping[str, Any]) -> str | None:
    """The e-mail an order's Rackbeat customer is matched by (normalised), if it has one."""
    email = (order.get("email") or (order.get("customer") or {}).get("email") or "").strip()
    return normalise_email(email) if email else None


def normalise_email(email: str) -> str:
    """E-mail as matched: trimmed and lower-cased."""
    return email.strip().lower()


def _with_fingerprint(plan: OrderPlan, shop: str, order: Mapping[str, Any]) -> OrderPlan:
    # vars, not asdict: the same mapping for these flat lines (asdict deep-copies each value)
    data = {"lines": [vars(ln) for ln in plan.lines], "total": str(plan.total),
            "currency": plan.currency}
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    return OrderPlan(**{**plan.__dict__, "reference": order_reference(shop, order),
                        "fingerprint": digest[:16]})


def order_fingerprint(order: Mapping[str, Any], *, lines: int = 50, shipping: int = 5) -> str:
    """A digest of what decides an order's transfer: status, customer, totals, lines, shipping.

    Shopify's ``updatedAt`` has second resolution, so a change within the second of a refusal
    would keep it; this digest does not. Only the first ``lines`` lines and ``shipping``
    shipping lines count (what comes with the order in one read; a change further down moves
    the total or ``updatedAt``), so a completed and a first-page order give the same digest.
    """
    def pick(node: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
        return {k: node.get(k) for k in keys}

    data = {
        "order": pick(order, ("cancelledAt", "displayFinancialStatus", "displayFulfillmentStatus",
                              "fullyPaid", "email", "test", "currentTotalPriceSet")),
        "customer": order.get("customer"),
        "lines": [pick(li, ("sku", "name", "quantity", "currentQuantity", "originalUnitPriceSet",
                            "discountAllocations", "taxLines"))
                  for li in ((order.get("lineItems") or {}).get("nodes") or [])[:lines]],
        "shipping": ((order.get("shippingLines") or {}).get("nodes") or [])[:shipping],
    }
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- payloads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerDefaultsView:
    """The customer defaults of a shop (from ``shops.orders.customer``)."""

    group: int | None
    vat_zone: str
    payment_terms: int | None
    layout: int | None = None
    currency: str | None = None
    locale: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def customer_payload(info: CustomerInfo, defaults: CustomerDefaultsView,
                     currency: str) -> dict[str, Any]:
    """The body of ``POST /customers`` for a customer first seen in a Shopify order."""
    addr = info.address
    body: dict[str, Any] = {
        "name": info.name,
        "company_name": addr.get("company") or info.name,
        "contact_email": info.email,
        "contact_phone": info.phone,
        "address_street": addr.get("address1"),
        "address_street2": addr.get("address2"),
        "address_city": addr.get("city"),
        "address_zipcode": addr.get("zip"),
        "address_country": addr.get("countryCodeV2"),
        "vat_zone": defaults.vat_zone,
        "currency": defaults.currency or currency,
    }
    for key, value in (("customer_group_id", defaults.group),
                       ("payment_terms_id", defaults.payment_terms),
                       ("layout_id", defaults.layout), ("locale", defaults.locale)):
        if value is not None:
            body[key] = value
    return {k: v for k, v in body.items() if v is not None}


def order_payload(plan: OrderPlan, customer_number: int, *, vat_zone: str,
                  layout: int | None = None, location: int | None = None) -> dict[str, Any]:
    """The body of ``POST /orders/drafts``."""
    addr = plan.customer.address
    deliv = plan.customer.delivery
    body: dict[str, Any] = {
        "customer_id": customer_number,
        "currency": plan.currency,
        "vat_zone": vat_zone,
        "other_reference": plan.reference,
        "heading": f"Shopify order {plan.order_name}",
        "order_date": plan.order_date or None,
        "address_name": addr.get("name") or plan.customer.name,
        "address_street": addr.get("address1"),
        "address_street2": addr.get("address2"),
        "address_city": addr.get("city"),
        "address_zipcode": addr.get("zip"),
        "address_country": addr.get("countryCodeV2"),
        "delivery_address_name": deliv.get("name") or plan.customer.name,
        "delivery_address_street": deliv.get("address1"),
        "delivery_address_street2": deliv.get("address2"),
        "delivery_address_city": deliv.get("city"),
        "delivery_address_zipcode": deliv.get("zip"),
        "delivery_address_country": deliv.get("countryCodeV2"),
        "lines": [ln.payload(location) for ln in plan.lines],
    }
    if layout is not None:
        body["layout_id"] = layout
    return {k: v for k, v in body.items() if v is not None}
