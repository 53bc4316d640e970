"""Shopify's order arithmetic as pure functions (no I/O, no clock, ``Decimal`` only).

The Shopify twin's ``orderCreate`` feeds a *normalised* ``OrderCreateOrderInput`` (variants already
resolved to titles and prices, see :mod:`rackshop.sandbox.shopify.orders`) through
:func:`compute_order` and stores the result; refunds and payments go through
:func:`current_totals`, :func:`refund_amounts` and :func:`financial_summary`.

Ground truth is the recorded exchanges in ``shared/shopify/conformance``
(``order-create-math-matrix`` above all). Where the record is silent this module makes one
documented choice, listed in ``docs/sandbox-shopify-orders.md``:

* Every amount is kept per currency: the shop-money side and the presentment side are computed
  independently from their own inputs, never converted back and forth. A presentment amount that
  the input leaves out is the shop amount times the order's exchange rate, rounded half-up.
* Rounding is half-up to the currency's minor unit (``Money#round`` in Shopify's Ruby stack).
* Splitting an amount over lines (fixed-amount discount codes, order-level tax lines) follows
  Shopify's ``Money::Allocator#allocate`` default: each share is floored to whole minor units,
  the left-over units go one at a time to the shares from the first onwards, and no share exceeds
  its line (``allocate_max_amounts``).
* A percentage code is applied line by line: ``round(line original total × percentage / 100)``.
* ``subtotal`` is the line items after discounts; ``totalShipping`` is shipping *before* shipping
  discounts; ``totalDiscounts`` includes shipping discounts; ``totalPrice`` is subtotal + shipping
  after discounts + tax (tax is not added again when ``taxesIncluded``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

ZERO = Decimal("0")
HUNDRED = Decimal("100")

# ISO 4217 minor units that are not 2; everything else rounds to cents.
_MINOR_UNITS = {
    "BHD": 3, "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0,
    "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0, "TND": 3, "UGX": 0,
    "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}  # fmt: skip


# -- money primitives ------------------------------------------------------------------------------


def dec(value: Any) -> Decimal:
    """A ``Decimal`` from an input value (str, int, float via its repr, or ``Decimal``).

    Raises:
        ValueError: The value is not a number.
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    try:
        # floats come from GraphQL Float inputs (percentages, rates): use their shortest repr
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc


def quantum(currency: str) -> Decimal:
    """The minor unit of a currency as a ``Decimal`` exponent (``0.01`` for most)."""
    return Decimal(1).scaleb(-_MINOR_UNITS.get(currency, 2))


def round_money(value: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit."""
    return value.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def format_amount(value: Decimal) -> str:
    """Format an amount the way Shopify's ``Decimal`` scalar does: ``20.0``, ``31.9``, ``12.77``."""
    if value == 0:
        return "0.0"
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


def format_money_scalar(value: Decimal, currency: str) -> str:
    """Format for the ``Money`` scalar (deprecated fields): fixed minor units, ``31.90``."""
    return format(round_money(value, currency), "f")


@dataclass(frozen=True)
class Bag:
    """An amount in shop money and in presentment money (a ``MoneyBag`` without currencies)."""

    shop: Decimal = ZERO
    presentment: Decimal = ZERO

    def __add__(self, other: Bag) -> Bag:
        return Bag(self.shop + other.shop, self.presentment + other.presentment)

    def __sub__(self, other: Bag) -> Bag:
        return Bag(self.shop - other.shop, self.presentment - other.presentment)

    def __neg__(self) -> Bag:
        return Bag(-self.shop, -self.presentment)

    def times(self, n: int | Decimal) -> Bag:
        """Both sides multiplied by ``n`` (exact, no rounding)."""
        return Bag(self.shop * n, self.presentment * n)

    def is_zero(self) -> bool:
        return self.shop == 0 and self.presentment == 0

    def clamp_min_zero(self) -> Bag:
        """Both sides floored at zero."""
        return Bag(max(self.shop, ZERO), max(self.presentment, ZERO))

    def to_json(self) -> list[str]:
        return [str(self.shop), str(self.presentment)]

    @classmethod
    def from_json(cls, data: Sequence[str]) -> Bag:
        return cls(Decimal(data[0]), Decimal(data[1]))


def bag_sum(bags: Iterable[Bag]) -> Bag:
    """The sum of several bags."""
    total = Bag()
    for b in bags:
        total = total + b
    return total


@dataclass(frozen=True)
class Currencies:
    """The two currencies of an order and the rate used to fill in missing presentment amounts.

    Attributes:
        shop: The order's shop-money currency (``Order.currencyCode``).
        presentment: The customer's currency (``Order.presentmentCurrencyCode``).
        rate: Presentment units per shop unit.
    """

    shop: str
    presentment: str
    rate: Decimal = Decimal(1)

    def bag(self, bag: Bag) -> dict[str, Any]:
        """A GraphQL ``MoneyBag`` dict with formatted amounts."""
        return {
            "shopMoney": {"amount": format_amount(bag.shop), "currencyCode": self.shop},
            "presentmentMoney": {
                "amount": format_amount(bag.presentment),
                "currencyCode": self.presentment,
            },
        }

    def round(self, bag: Bag) -> Bag:
        return Bag(round_money(bag.shop, self.shop), round_money(bag.presentment, self.presentment))

    def from_input(self, money_bag: Mapping[str, Any] | None) -> Bag:
        """A ``MoneyBagInput`` as a bag; a missing presentment side is converted at :attr:`rate`."""
        if not money_bag:
            return Bag()
        shop = round_money(dec(money_bag["shopMoney"]["amount"]), self.shop)
        pres_in = money_bag.get("presentmentMoney")
        if pres_in is not None:
            pres = round_money(dec(pres_in["amount"]), self.presentment)
        elif self.presentment == self.shop:
            pres = shop
        else:
            pres = round_money(shop * self.rate, self.presentment)
        return Bag(shop, pres)

    def from_presentment(self, amount: Decimal, rate_to_shop: Decimal) -> Bag:
        """A presentment amount with its shop side converted at ``rate_to_shop`` (shop per unit)."""
        pres = round_money(amount, self.presentment)
        if self.presentment == self.shop:
            return Bag(pres, pres)
        return Bag(round_money(pres * rate_to_shop, self.shop), pres)


def _allocate_units(
    total_units: int, weights: Sequence[Decimal], maximums: Sequence[int] | None
) -> list[int]:
    """Split whole minor units by weights: floor each, then hand out the rest from the first."""
    weight_sum = sum(weights, ZERO)
    if total_units <= 0 or weight_sum <= 0:
        return [0] * len(weights)
    cap_total = sum(maximums) if maximums is not None else None
    to_split = min(total_units, cap_total) if cap_total is not None else total_units
    shares = [
        int((Decimal(to_split) * w / weight_sum).to_integral_value(rounding=ROUND_FLOOR))
        for w in weights
    ]
    left = to_split - sum(shares)
    i = 0
    guard = 0
    while left > 0 and guard < 4 * len(shares) + left:
        idx = i % len(shares)
        if maximums is None or shares[idx] < maximums[idx]:
            shares[idx] += 1
            left -= 1
        i += 1
        guard += 1
    return shares


def allocate(
    total: Decimal,
    weights: Sequence[Decimal],
    currency: str,
    maximums: Sequence[Decimal] | None = None,
) -> list[Decimal]:
    """Split ``total`` over ``weights`` without losing minor units (Shopify's round-robin).

    Args:
        total: The amount to split (non-negative; rounded to the currency first).
        weights: One weight per share (typically the lines' totals).
        currency: Decides the minor unit.
        maximums: Optional cap per share; what cannot be placed is dropped.

    Returns:
        One amount per weight, summing to ``total`` (or to the sum of the caps, if smaller).
    """
    q = quantum(currency)
    units = int((round_money(total, currency) / q).to_integral_value())
    caps = (
        [int((round_money(m, currency) / q).to_integral_value()) for m in maximums]
        if (maximums is not None)
        else None
    )
    return [q * n for n in _allocate_units(units, weights, caps)]


# -- the computed order ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TaxLineCalc:
    """One tax line on a line item or shipping line."""

    title: str
    rate: Decimal
    price: Bag
    channel_liable: bool | None = False

    def scaled(self, price: Bag) -> TaxLineCalc:
        return TaxLineCalc(self.title, self.rate, price, self.channel_liable)


@dataclass(frozen=True)
class DiscountApplicationCalc:
    """A discount code application (``DiscountCodeApplication``)."""

    index: int
    code: str
    target_type: str  # LINE_ITEM | SHIPPING_LINE
    allocation_method: str  # ACROSS | EACH
    target_selection: str  # ALL
    percentage: Decimal | None = None
    amount: Bag | None = None


@dataclass(frozen=True)
class AllocationCalc:
    """The part of a discount application allocated to one line."""

    application_index: int
    amount: Bag


class _Taxed:
    """A line with tax lines: its tax is their sum."""

    tax_lines: list[TaxLineCalc]

    @property
    def total_tax(self) -> Bag:
        return bag_sum(t.price for t in self.tax_lines)


class _DiscountedAndTaxed(_Taxed):
    """A line item or shipping line at creation: its discount is the sum of what is allocated
    to it."""

    allocations: list[AllocationCalc]

    @property
    def total_discount(self) -> Bag:
        return bag_sum(a.amount for a in self.allocations)


@dataclass
class LineCalc(_DiscountedAndTaxed):
    """A line item after discounts and taxes."""

    index: int
    quantity: int
    unit_price: Bag
    taxable: bool
    gift_card: bool
    allocations: list[AllocationCalc] = field(default_factory=list)
    tax_lines: list[TaxLineCalc] = field(default_factory=list)

    @property
    def original_total(self) -> Bag:
        return self.unit_price.times(self.quantity)

    @property
    def discounted_total(self) -> Bag:
        """Original total minus every discount allocated to the line."""
        return self.original_total - self.total_discount


@dataclass
class ShippingCalc(_DiscountedAndTaxed):
    """A shipping line after discounts and taxes."""

    index: int
    price: Bag
    allocations: list[AllocationCalc] = field(default_factory=list)
    tax_lines: list[TaxLineCalc] = field(default_factory=list)

    @property
    def discounted_price(self) -> Bag:
        return self.price - self.total_discount


@dataclass
class OrderCalc:
    """An order's amounts as Shopify computes them at creation."""

    currencies: Currencies
    taxes_included: bool
    lines: list[LineCalc]
    shipping_lines: list[ShippingCalc]
    applications: list[DiscountApplicationCalc]

    @property
    def subtotal(self) -> Bag:
        """``subtotalPriceSet``: line items after discounts (incl. tax when taxes are included)."""
        return bag_sum(li.discounted_total for li in self.lines)

    @property
    def total_shipping(self) -> Bag:
        """``totalShippingPriceSet``: shipping before discounts."""
        return bag_sum(s.price for s in self.shipping_lines)

    @property
    def total_discounts(self) -> Bag:
        return bag_sum(li.total_discount for li in self.lines) + bag_sum(
            s.total_discount for s in self.shipping_lines
        )

    @property
    def total_tax(self) -> Bag:
        return bag_sum(li.total_tax for li in self.lines) + bag_sum(
            s.total_tax for s in self.shipping_lines
        )

    @property
    def total_price(self) -> Bag:
        shipping = bag_sum(s.discounted_price for s in self.shipping_lines)
        tax = Bag() if self.taxes_included else self.total_tax
        return self.subtotal + shipping + tax

    @property
    def discount_codes(self) -> list[str]:
        return [a.code for a in self.applications]


def _tax_from_rate(
    base: Bag, rates: Sequence[Decimal], rate: Decimal, cur: Currencies, incl: bool
) -> Bag:
    """The tax of one rate on a base; when taxes are included, the base already holds all rates."""
    if incl:
        divisor = 1 + sum(rates, ZERO)
        return cur.round(Bag(base.shop * rate / divisor, base.presentment * rate / divisor))
    return cur.round(base.times(rate))


def _explicit_tax_lines(
    inputs: Sequence[Mapping[str, Any]], base: Bag, cur: Currencies, incl: bool
) -> list[TaxLineCalc]:
    rates = [dec(t["rate"]) for t in inputs]
    out = []
    for t, rate in zip(inputs, rates, strict=True):
        price = (
            cur.from_input(t["priceSet"])
            if t.get("priceSet")
            else _tax_from_rate(base, rates, rate, cur, incl)
        )
        out.append(
            TaxLineCalc(str(t.get("title") or ""), rate, price, t.get("channelLiable", False))
        )
    return out


def _split_bag(total: Bag, weights: Sequence[Bag], cur: Currencies, capped: bool) -> list[Bag]:
    """Allocate a bag over weights, each side on its own (see :func:`allocate`)."""
    shop = allocate(
        total.shop, [w.shop for w in weights], cur.shop,
        [w.shop for w in weights] if capped else None,
    )  # fmt: skip
    pres = allocate(
        total.presentment, [w.presentment for w in weights], cur.presentment,
        [w.presentment for w in weights] if capped else None,
    )  # fmt: skip
    return [Bag(s, p) for s, p in zip(shop, pres, strict=True)]


def compute_order(
    order: Mapping[str, Any], *, currencies: Currencies, taxes_included: bool
) -> OrderCalc:
    """Compute an order from a normalised ``OrderCreateOrderInput``.

    ``order["lineItems"]`` must already carry a ``priceSet`` and ``title`` for variant lines
    (the twin fills them from the catalogue). Call :func:`validate_order_input` first: this
    function assumes the input is valid.

    Args:
        order: The input, GraphQL field names, amounts as strings or ``Decimal``.
        currencies: The order's shop and presentment currencies and conversion rate.
        taxes_included: Whether line prices include tax (``OrderCreateOrderInput.taxesIncluded``).

    Returns:
        The computed order.
    """
    cur = currencies
    lines: list[LineCalc] = []
    for i, li in enumerate(order.get("lineItems") or []):
        lines.append(
            LineCalc(
                index=i,
                quantity=int(li["quantity"]),
                unit_price=cur.from_input(li.get("priceSet")),
                taxable=bool(li.get("taxable", True)),
                gift_card=bool(li.get("giftCard", False)),
            )
        )
    shipping = [
        ShippingCalc(index=i, price=cur.from_input(s.get("priceSet")))
        for i, s in enumerate(order.get("shippingLines") or [])
    ]

    applications: list[DiscountApplicationCalc] = []
    code_input = order.get("discountCode") or {}
    if code_input.get("itemPercentageDiscountCode"):
        data = code_input["itemPercentageDiscountCode"]
        pct = min(max(dec(data.get("percentage") or 0), ZERO), HUNDRED)
        app = DiscountApplicationCalc(0, data["code"], "LINE_ITEM", "ACROSS", "ALL", percentage=pct)
        applications.append(app)
        for li in lines:
            if li.gift_card:
                continue
            amount = cur.round(li.original_total.times(pct / HUNDRED))
            if not amount.is_zero():
                li.allocations.append(AllocationCalc(0, amount))
    elif code_input.get("itemFixedDiscountCode"):
        data = code_input["itemFixedDiscountCode"]
        amount = cur.from_input(data.get("amountSet"))
        app = DiscountApplicationCalc(0, data["code"], "LINE_ITEM", "ACROSS", "ALL", amount=amount)
        applications.append(app)
        entitled = [li for li in lines if not li.gift_card]
        shares = _split_bag(amount, [li.original_total for li in entitled], cur, capped=True)
        for li, share in zip(entitled, shares, strict=True):
            if not share.is_zero():
                li.allocations.append(AllocationCalc(0, share))
    elif code_input.get("freeShippingDiscountCode"):
        data = code_input["freeShippingDiscountCode"]
        app = DiscountApplicationCalc(
            0, data["code"], "SHIPPING_LINE", "EACH", "ALL", percentage=HUNDRED
        )
        applications.append(app)
        for s in shipping:
            if not s.price.is_zero():
                s.allocations.append(AllocationCalc(0, s.price))

    for li, li_in in zip(lines, order.get("lineItems") or [], strict=True):
        if li_in.get("taxLines"):
            li.tax_lines = _explicit_tax_lines(
                li_in["taxLines"], li.discounted_total, cur, taxes_included
            )
    for s, s_in in zip(shipping, order.get("shippingLines") or [], strict=True):
        if s_in.get("taxLines"):
            s.tax_lines = _explicit_tax_lines(
                s_in["taxLines"], s.discounted_price, cur, taxes_included
            )

    # Order-level tax lines are split over the taxable lines by their discounted totals.
    order_taxes = order.get("taxLines") or []
    if order_taxes and lines:
        targets = [li for li in lines if li.taxable and not li.gift_card] or lines
        rates = [dec(t["rate"]) for t in order_taxes]
        for t, rate in zip(order_taxes, rates, strict=True):
            weights = [li.discounted_total for li in targets]
            if t.get("priceSet"):
                shares = _split_bag(cur.from_input(t["priceSet"]), weights, cur, capped=False)
            else:
                shares = [_tax_from_rate(w, rates, rate, cur, taxes_included) for w in weights]
            for li, share in zip(targets, shares, strict=True):
                li.tax_lines.append(
                    TaxLineCalc(
                        str(t.get("title") or ""), rate, share, t.get("channelLiable", False)
                    )
                )

    return OrderCalc(cur, taxes_included, lines, shipping, applications)


def aggregate_tax_lines(tax_lines: Iterable[TaxLineCalc]) -> list[TaxLineCalc]:
    """``Order.taxLines``: tax lines with the same title and rate summed, first-seen order."""
    grouped: dict[tuple[str, Decimal], TaxLineCalc] = {}
    for t in tax_lines:
        key = (t.title, t.rate)
        prev = grouped.get(key)
        grouped[key] = t if prev is None else prev.scaled(prev.price + t.price)
    return list(grouped.values())


def all_tax_lines(calc: OrderCalc) -> list[TaxLineCalc]:
    """Every tax line of the order (line items first, then shipping), not aggregated."""
    out: list[TaxLineCalc] = []
    for li in calc.lines:
        out.extend(li.tax_lines)
    for s in calc.shipping_lines:
        out.extend(s.tax_lines)
    return out


# -- validation ------------------------------------------------------------------------------------


def _error(field_path: list[str | int], message: str, code: str) -> dict[str, Any]:
    # indexes stay numbers: orderCreate answers them so (app.INTEGER_INDEX_FIELDS)
    return {"field": list(field_path), "message": message, "code": code}


def _rate_missing(t: Mapping[str, Any]) -> bool:
    rate = t.get("rate")
    return rate is None or (isinstance(rate, str) and not rate.strip())


def validate_order_input(order: Mapping[str, Any], *, now: datetime) -> list[dict[str, Any]]:
    """``orderCreate``'s input checks, as recorded (``order-create-validation-matrix*``).

    Args:
        order: The raw ``OrderCreateOrderInput``.
        now: The current time (timezone-aware), for ``processedAt``.

    Returns:
        ``OrderCreateUserError`` dicts (``field``, ``message``, ``code``); empty when valid.
    """
    errors: list[dict[str, Any]] = []
    lines = order.get("lineItems") or []
    if not lines:
        errors.append(
            _error(["order", "lineItems"], "Line items must have at least one line item", "INVALID")
        )
    processed = order.get("processedAt")
    if processed:
        when = parse_datetime(processed)
        if when is None or when > now:
            errors.append(
                _error(
                    ["order", "processedAt"],
                    "Processed at must not be in the future",
                    "PROCESSED_AT_INVALID",
                )
            )
    if order.get("customerId") and order.get("customer"):
        errors.append(
            _error(
                ["order"],
                "Only one of customerId or customer can be specified",
                "REDUNDANT_CUSTOMER_FIELDS",
            )
        )
    codes = [k for k, v in (order.get("discountCode") or {}).items() if v]
    if len(codes) > 1:
        errors.append(
            _error(
                ["order", "discountCode"],
                "Only one type of discount can be applied to an order",
                "INVALID",
            )
        )
    line_taxes = False
    for i, li in enumerate(lines):
        if int(li.get("quantity") or 0) < 1:
            errors.append(
                _error(
                    ["order", "lineItems", i, "quantity"],
                    "Quantity must be greater than or equal to 1",
                    "INVALID",
                )
            )
        if not li.get("variantId") and not (li.get("title") or "").strip():
            errors.append(
                _error(["order", "lineItems", i, "title"], "Title can't be blank", "INVALID")
            )
        for j, t in enumerate(li.get("taxLines") or []):
            line_taxes = True
            if _rate_missing(t):
                errors.append(
                    _error(
                        ["order", "lineItems", i, "taxLines", j, "rate"],
                        "Tax line rate is missing",
                        "TAX_LINE_RATE_MISSING",
                    )
                )
    for i, s in enumerate(order.get("shippingLines") or []):
        for j, t in enumerate(s.get("taxLines") or []):
            if _rate_missing(t):
                errors.append(
                    _error(
                        ["order", "shippingLines", i, "taxLines", j, "rate"],
                        "Tax line rate is missing",
                        "TAX_LINE_RATE_MISSING",
                    )
                )
    if line_taxes and order.get("taxLines"):
        errors.append(
            _error(
                ["order", "taxLines"],
                "Tax lines can be specified on the order or on line items, but not both",
                "INVALID",
            )
        )
    return errors


def parse_datetime(value: Any) -> datetime | None:
    """An aware ``datetime`` from an ISO-8601 string (``Z`` accepted), or ``None``."""
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed


def implied_rate(order: Mapping[str, Any]) -> Decimal | None:
    """Presentment units per shop unit implied by the input's line prices, if both sides given."""
    shop = pres = ZERO
    for li in order.get("lineItems") or []:
        ps = li.get("priceSet") or {}
        if ps.get("shopMoney") and ps.get("presentmentMoney"):
            q = int(li.get("quantity") or 0)
            shop += dec(ps["shopMoney"]["amount"]) * q
            pres += dec(ps["presentmentMoney"]["amount"]) * q
    if shop > 0 and pres > 0:
        return pres / shop
    return None


# -- refunds and current totals --------------------------------------------------------------------


@dataclass
class RefundedSoFar:
    """What earlier refunds took from an order.

    Attributes:
        line_qty: Refunded quantity per line index.
        shipping: Refunded shipping per shipping-line index (pre-tax, after discounts).
        adjustments: Money refunded beyond the refunded items (``refundDiscrepancySet``).
    """

    line_qty: dict[int, int] = field(default_factory=dict)
    shipping: dict[int, Bag] = field(default_factory=dict)
    adjustments: Bag = field(default_factory=Bag)


@dataclass
class LineNow(_Taxed):
    """A line's amounts for its current (unrefunded) quantity."""

    quantity: int
    discounted_total: Bag
    total_discount: Bag
    tax_lines: list[TaxLineCalc]


@dataclass
class ShippingNow(_Taxed):
    """A shipping line's amounts after shipping refunds."""

    discounted_price: Bag
    tax_lines: list[TaxLineCalc]


@dataclass
class CurrentTotals:
    """The ``current*`` fields of an order after refunds."""

    lines: list[LineNow]
    shipping_lines: list[ShippingNow]
    subtotal: Bag
    total_discounts: Bag
    shipping: Bag
    total_tax: Bag
    total_price: Bag
    tax_lines: list[TaxLineCalc]


def share(amount: Bag, num: int | Decimal, den: int | Decimal, cur: Currencies) -> Bag:
    """``amount × num / den`` rounded half-up per currency (``den`` zero gives zero)."""
    if den == 0:
        return Bag()
    return cur.round(Bag(amount.shop * num / den, amount.presentment * num / den))


def _bag_ratio_share(amount: Bag, part: Bag, whole: Bag, cur: Currencies) -> Bag:
    """``amount × part / whole`` per currency side."""
    shop = amount.shop * part.shop / whole.shop if whole.shop else ZERO
    pres = amount.presentment * part.presentment / whole.presentment if whole.presentment else ZERO
    return cur.round(Bag(shop, pres))


def line_now(li: LineCalc, refunded_qty: int, cur: Currencies) -> LineNow:
    """A line's amounts for ``quantity - refunded_qty`` units (proportional, rounded half-up)."""
    qty = li.quantity - refunded_qty
    if refunded_qty == 0:
        return LineNow(qty, li.discounted_total, li.total_discount, list(li.tax_lines))
    return LineNow(
        qty,
        share(li.discounted_total, qty, li.quantity, cur),
        share(li.total_discount, qty, li.quantity, cur),
        [t.scaled(share(t.price, qty, li.quantity, cur)) for t in li.tax_lines],
    )


def shipping_now(s: ShippingCalc, refunded: Bag, cur: Currencies) -> ShippingNow:
    """A shipping line's amounts after ``refunded`` (pre-tax) has been refunded from it."""
    price = s.discounted_price
    remaining = (price - refunded).clamp_min_zero()
    if refunded.is_zero():
        return ShippingNow(price, list(s.tax_lines))
    return ShippingNow(
        remaining, [t.scaled(_bag_ratio_share(t.price, remaining, price, cur)) for t in s.tax_lines]
    )


def current_totals(calc: OrderCalc, refunded: RefundedSoFar) -> CurrentTotals:
    """The order's ``current*`` amounts after the refunds so far.

    Refunded units take their proportional share of the line's discounted total, discounts and
    taxes (rounded half-up); money refunded beyond the items (an adjustment) lowers the current
    total price but not the subtotal.
    """
    cur = calc.currencies
    lines = [line_now(li, refunded.line_qty.get(li.index, 0), cur) for li in calc.lines]
    ships = [
        shipping_now(s, refunded.shipping.get(s.index, Bag()), cur) for s in calc.shipping_lines
    ]
    subtotal = bag_sum(ln.discounted_total for ln in lines)
    shipping = bag_sum(sn.discounted_price for sn in ships)
    tax_lines: list[TaxLineCalc] = []
    for ln in lines:
        tax_lines.extend(ln.tax_lines)
    for sn in ships:
        tax_lines.extend(sn.tax_lines)
    total_tax = bag_sum(t.price for t in tax_lines)
    # Shipping discounts stay on the order after shipping refunds (the discount was given).
    discounts = bag_sum(ln.total_discount for ln in lines) + bag_sum(
        s.total_discount for s in calc.shipping_lines
    )
    total = subtotal + shipping + (Bag() if calc.taxes_included else total_tax)
    total = total - refunded.adjustments
    return CurrentTotals(
        lines, ships, subtotal, discounts, shipping, total_tax, total,
        aggregate_tax_lines(tax_lines),
    )  # fmt: skip


@dataclass
class RefundLineCalc:
    """What one refund line item takes back."""

    line_index: int
    quantity: int
    unit_price: Bag
    subtotal: Bag
    total_tax: Bag


@dataclass
class RefundCalc:
    """The amounts of one refund (before its transactions)."""

    lines: list[RefundLineCalc]
    shipping: dict[int, Bag]
    shipping_tax: Bag

    @property
    def items_subtotal(self) -> Bag:
        return bag_sum(rl.subtotal for rl in self.lines)

    @property
    def items_tax(self) -> Bag:
        return bag_sum(rl.total_tax for rl in self.lines)

    @property
    def shipping_total(self) -> Bag:
        return bag_sum(self.shipping.values())


def refund_amounts(
    calc: OrderCalc,
    before: RefundedSoFar,
    lines: Mapping[int, int],
    shipping: Bag | str | None,
) -> RefundCalc:
    """The amounts a refund of some units and/or shipping takes from the order.

    Computed as the difference of :func:`current_totals` before and after, so successive partial
    refunds add up to the line exactly.

    Args:
        calc: The order.
        before: What earlier refunds took.
        lines: Units to refund per line index (already validated against the refundable quantity).
        shipping: ``"full"`` for the remaining shipping, a pre-tax amount, or ``None``.

    Returns:
        The refund's per-line and shipping amounts.
    """
    cur = calc.currencies
    out_lines = []
    for idx, qty in lines.items():
        li = calc.lines[idx]
        already = before.line_qty.get(idx, 0)
        a = line_now(li, already, cur)
        b = line_now(li, already + qty, cur)
        unit = share(li.discounted_total, 1, li.quantity, cur)
        out_lines.append(
            RefundLineCalc(
                idx, qty, unit, a.discounted_total - b.discounted_total, a.total_tax - b.total_tax
            )
        )
    ship_refund: dict[int, Bag] = {}
    ship_tax = Bag()
    if shipping is not None:
        remaining = [
            (s, (s.discounted_price - before.shipping.get(s.index, Bag())).clamp_min_zero())
            for s in calc.shipping_lines
        ]
        if shipping == "full":
            wanted = {s.index: rem for s, rem in remaining}
        else:
            assert isinstance(shipping, Bag)
            weights = [rem for _, rem in remaining]
            shares = _split_bag(shipping, weights, cur, capped=True) if weights else []
            wanted = {s.index: share for (s, _), share in zip(remaining, shares, strict=True)}
        for s in calc.shipping_lines:
            amount = wanted.get(s.index, Bag())
            if amount.is_zero():
                continue
            prev = before.shipping.get(s.index, Bag())
            s_before = shipping_now(s, prev, cur)
            s_after = shipping_now(s, prev + amount, cur)
            ship_refund[s.index] = amount
            ship_tax = ship_tax + (s_before.total_tax - s_after.total_tax)
    return RefundCalc(out_lines, ship_refund, ship_tax)


def suggested_refund_total(calc: OrderCalc, refund: RefundCalc) -> Bag:
    """The money a refund should return: items, shipping and (unless included) their taxes."""
    total = refund.items_subtotal + refund.shipping_total
    if not calc.taxes_included:
        total = total + refund.items_tax + refund.shipping_tax
    return total


# -- payments --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Txn:
    """An order transaction as the financial summary needs it."""

    kind: str  # SALE | CAPTURE | AUTHORIZATION | VOID | REFUND | CHANGE ...
    status: str  # SUCCESS | PENDING | FAILURE ...
    amount: Bag


@dataclass
class FinancialSummary:
    """The payment-derived fields of an order."""

    display_status: str | None
    received: Bag
    refunded: Bag
    capturable: Bag
    net_payment: Bag
    outstanding: Bag
    fully_paid: bool
    unpaid: bool


def financial_summary(
    transactions: Sequence[Txn],
    *,
    total_price: Bag,
    current_total: Bag,
    initial_status: str | None,
) -> FinancialSummary:
    """Derive ``displayFinancialStatus`` and the payment totals from the transactions.

    Recorded facts: an order created without transactions or ``financialStatus`` has
    ``displayFinancialStatus: null`` (2025-01); a successful authorization gives ``AUTHORIZED``
    with zero outstanding; a multi-currency order paid in full in presentment money has zero
    outstanding on both sides even when the shop-money amounts differ (the exchange rate moved).

    Args:
        transactions: The order's transactions in creation order.
        total_price: ``totalPriceSet`` (decides PAID vs PARTIALLY_PAID).
        current_total: ``currentTotalPriceSet`` (decides the outstanding amount).
        initial_status: ``OrderCreateOrderInput.financialStatus``, used while no transaction
            says otherwise.

    Returns:
        The summary.
    """
    ok = [t for t in transactions if t.status == "SUCCESS"]
    received = bag_sum(t.amount for t in ok if t.kind in ("SALE", "CAPTURE"))
    refunded = bag_sum(t.amount for t in ok if t.kind == "REFUND")
    authorized = bag_sum(t.amount for t in ok if t.kind == "AUTHORIZATION")
    captured = bag_sum(t.amount for t in ok if t.kind == "CAPTURE")
    voided = bag_sum(t.amount for t in ok if t.kind == "VOID")
    capturable = (authorized - captured - voided).clamp_min_zero()
    net = received - refunded
    pres_out = current_total.presentment - net.presentment - capturable.presentment
    shop_out = current_total.shop - net.shop - capturable.shop
    # Paid in full in the customer's currency means nothing is outstanding in either currency.
    outstanding = Bag(ZERO if pres_out == 0 else shop_out, pres_out)
    pending = any(
        t.status == "PENDING" and t.kind in ("SALE", "AUTHORIZATION") for t in transactions
    )

    status: str | None
    if refunded.presentment > 0:
        status = (
            "REFUNDED" if refunded.presentment >= received.presentment else "PARTIALLY_REFUNDED"
        )
    elif received.presentment > 0:
        status = "PAID" if received.presentment >= total_price.presentment else "PARTIALLY_PAID"
    elif capturable.presentment > 0:
        status = "AUTHORIZED"
    elif authorized.presentment > 0 and voided.presentment > 0:
        status = "VOIDED"
    elif pending:
        status = "PENDING"
    else:
        status = initial_status
    return FinancialSummary(
        display_status=status,
        received=received,
        refunded=refunded,
        capturable=capturable,
        net_payment=net,
        outstanding=outstanding,
        fully_paid=received.presentment >= total_price.presentment,
        unpaid=received.is_zero(),
    )


# -- GraphQL-shaped fields -------------------------------------------------------------------------


def transactions_from_input(order: Mapping[str, Any], cur: Currencies) -> list[dict[str, Any]]:
    """``OrderCreateOrderInput.transactions`` as ``{kind, status, gateway, test, amount}`` dicts.

    ``amount`` is a :class:`Bag`; a missing presentment side is converted at the order's rate.
    """
    out = []
    for t in order.get("transactions") or []:
        out.append(
            {
                "kind": t.get("kind") or "SALE",
                "status": t.get("status") or "SUCCESS",
                "gateway": t.get("gateway") or "manual",
                "test": bool(t.get("test", False)),
                "amount": cur.from_input(t.get("amountSet")),
                "processedAt": t.get("processedAt"),
            }
        )
    return out


def tax_line_fields(t: TaxLineCalc, cur: Currencies) -> dict[str, Any]:
    """A GraphQL ``TaxLine`` dict."""
    return {
        "title": t.title,
        "rate": float(t.rate),
        "ratePercentage": float(t.rate * HUNDRED),
        "priceSet": cur.bag(t.price),
        "channelLiable": t.channel_liable,
        "source": None,
    }


def line_item_fields(calc: OrderCalc, index: int, refunded_qty: int) -> dict[str, Any]:
    """The money and quantity fields of one ``LineItem``.

    ``discountedUnitPriceSet`` and ``discountedTotalSet`` exclude code-based discounts, as the
    schema documents; ``discountedTotalWithCodesSet`` (not a schema field) backs
    ``discountedTotalSet(withCodeDiscounts: true)``.
    """
    cur = calc.currencies
    li = calc.lines[index]
    now = line_now(li, refunded_qty, cur)
    qty = li.quantity
    with_codes = li.discounted_total
    return {
        "quantity": qty,
        "currentQuantity": now.quantity,
        "refundableQuantity": now.quantity,
        "originalUnitPriceSet": cur.bag(li.unit_price),
        "discountedUnitPriceSet": cur.bag(li.unit_price),
        "discountedUnitPriceAfterAllDiscountsSet": cur.bag(share(with_codes, 1, qty, cur)),
        "originalTotalSet": cur.bag(li.original_total),
        "discountedTotalSet": cur.bag(li.original_total),
        "discountedTotalWithCodesSet": cur.bag(with_codes),
        "totalDiscountSet": cur.bag(li.total_discount),
        "discountAllocations": [
            {"allocatedAmountSet": cur.bag(a.amount), "applicationIndex": a.application_index}
            for a in li.allocations
        ],
        "taxLines": [tax_line_fields(t, cur) for t in li.tax_lines],
        "currentTaxLines": [tax_line_fields(t, cur) for t in now.tax_lines],
    }


def shipping_line_fields(calc: OrderCalc, index: int, refunded: Bag) -> dict[str, Any]:
    """The money fields of one ``ShippingLine``."""
    cur = calc.currencies
    s = calc.shipping_lines[index]
    now = shipping_now(s, refunded, cur)
    return {
        "originalPriceSet": cur.bag(s.price),
        "discountedPriceSet": cur.bag(s.discounted_price),
        "currentDiscountedPriceSet": cur.bag(now.discounted_price),
        "discountAllocations": [
            {"allocatedAmountSet": cur.bag(a.amount), "applicationIndex": a.application_index}
            for a in s.allocations
        ],
        "taxLines": [tax_line_fields(t, cur) for t in s.tax_lines],
    }


def discount_application_fields(app: DiscountApplicationCalc, cur: Currencies) -> dict[str, Any]:
    """A GraphQL ``DiscountCodeApplication`` dict (``__typename`` included for the union)."""
    if app.percentage is not None:
        value: dict[str, Any] = {
            "__typename": "PricingPercentageValue",
            "percentage": float(app.percentage),
        }
    else:
        amount = app.amount or Bag()
        value = {
            "__typename": "MoneyV2",
            "amount": format_amount(amount.presentment),
            "currencyCode": cur.presentment,
        }
    return {
        "__typename": "DiscountCodeApplication",
        "index": app.index,
        "code": app.code,
        "allocationMethod": app.allocation_method,
        "targetSelection": app.target_selection,
        "targetType": app.target_type,
        "value": value,
    }


def order_fields(
    calc: OrderCalc,
    refunded: RefundedSoFar,
    transactions: Sequence[Txn],
    *,
    initial_status: str | None,
) -> dict[str, Any]:
    """Every derived money/payment field of an ``Order``, GraphQL-named and formatted.

    Args:
        calc: The order as created.
        refunded: What refunds took so far.
        transactions: The order's transactions (creation order).
        initial_status: ``financialStatus`` given at creation, if any.

    Returns:
        ``subtotalPriceSet``, ``currentTotalPriceSet``, ..., ``displayFinancialStatus``,
        ``fullyPaid``, ``unpaid``, ``capturable``, ``taxLines``, ``currentTaxLines``,
        ``discountCodes`` and the line-quantity totals.
    """
    cur = calc.currencies
    now = current_totals(calc, refunded)
    money = financial_summary(
        transactions,
        total_price=calc.total_price,
        current_total=now.total_price,
        initial_status=initial_status,
    )
    refunded_shipping = bag_sum(refunded.shipping.values())
    return {
        "subtotalPriceSet": cur.bag(calc.subtotal),
        "currentSubtotalPriceSet": cur.bag(now.subtotal),
        "totalShippingPriceSet": cur.bag(calc.total_shipping),
        "currentShippingPriceSet": cur.bag(now.shipping),
        "totalDiscountsSet": cur.bag(calc.total_discounts),
        "currentTotalDiscountsSet": cur.bag(now.total_discounts),
        "totalTaxSet": cur.bag(calc.total_tax),
        "currentTotalTaxSet": cur.bag(now.total_tax),
        "totalPriceSet": cur.bag(calc.total_price),
        "originalTotalPriceSet": cur.bag(calc.total_price),
        "currentTotalPriceSet": cur.bag(now.total_price),
        "totalReceivedSet": cur.bag(money.received),
        "totalRefundedSet": cur.bag(money.refunded),
        "totalRefundedShippingSet": cur.bag(refunded_shipping),
        "netPaymentSet": cur.bag(money.net_payment),
        "totalOutstandingSet": cur.bag(money.outstanding),
        "totalCapturableSet": cur.bag(money.capturable),
        "refundDiscrepancySet": cur.bag(refunded.adjustments),
        # The twin takes no tips (orderCreate has none); the field is read by sync-orders.
        "totalTipReceivedSet": cur.bag(Bag()),
        "capturable": money.capturable.presentment > 0,
        "fullyPaid": money.fully_paid,
        "unpaid": money.unpaid,
        "displayFinancialStatus": money.display_status,
        "discountCodes": calc.discount_codes,
        "taxLines": [tax_line_fields(t, cur) for t in aggregate_tax_lines(all_tax_lines(calc))],
        "currentTaxLines": [tax_line_fields(t, cur) for t in now.tax_lines],
        "subtotalLineItemsQuantity": sum(li.quantity for li in calc.lines if not li.gift_card),
        "currentSubtotalLineItemsQuantity": sum(
            ln.quantity for ln, li in zip(now.lines, calc.lines, strict=True) if not li.gift_card
        ),
    }


def currencies_for(
    order: Mapping[str, Any],
    *,
    shop_currency: str,
    rates: Mapping[tuple[str, str], Decimal] | None = None,
) -> Currencies:
    """The currencies of a new order and the rate that fills in missing presentment amounts.

    The rate is the one the input's own line prices imply when they give both sides; otherwise
    ``rates[(shop, presentment)]`` (presentment units per shop unit), its inverse, or 1.

    Args:
        order: The ``OrderCreateOrderInput``.
        shop_currency: The shop's currency (used when the input has no ``currency``).
        rates: Known exchange rates.
    """
    shop = str(order.get("currency") or shop_currency)
    pres = str(order.get("presentmentCurrency") or shop)
    if pres == shop:
        return Currencies(shop, pres, Decimal(1))
    rate = implied_rate(order)
    if rate is None and rates:
        if (shop, pres) in rates:
            rate = rates[(shop, pres)]
        elif rates.get((pres, shop)):
            rate = 1 / rates[(pres, shop)]
    return Currencies(shop, pres, rate if rate is not None else Decimal(1))
