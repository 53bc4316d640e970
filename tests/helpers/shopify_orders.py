"""Placing orders in the Shopify twin through its real ``orderCreate``, for end-to-end tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rackshop.sandbox.seed import line_tax

ORDER_CREATE = """
mutation OrderCreate($order: OrderCreateOrderInput!, $options: OrderCreateOptionsInput) {
  orderCreate(order: $order, options: $options) {
    order { id name currentTotalPriceSet { shopMoney { amount } presentmentMoney { amount } } }
    userErrors { field message code }
  }
}
"""

VARIANTS = """
query($q: String!) { productVariants(first: 250, query: $q) { nodes { id sku price } } }
"""


@dataclass
class Line:
    sku: str
    qty: int
    price: str
    rate: int = 25  # VAT %


@dataclass
class OrderSpec:
    """An order to place: lines, shipping, discount code, status and customer."""

    lines: list[Line]
    shipping: str | None = None
    shipping_discount_to_zero: bool = False
    discount_code: dict[str, Any] | None = None
    financial_status: str = "PAID"
    email: str | None = "karen@example.dk"
    first_name: str = "Karen"
    last_name: str = "Blixen"
    test: bool = False
    presentment: tuple[str, str] | None = None  # (currency, rate to shop currency)
    extra: dict[str, Any] = field(default_factory=dict)


def variant_ids(twin: Any, shop: str) -> dict[str, str]:
    data = twin.execute(shop, VARIANTS, {"q": "sku:*"})
    nodes = data["data"]["productVariants"]["nodes"]
    return {n["sku"]: n["id"] for n in nodes if n["sku"]}


def _money(amount: Decimal, currency: str, presentment: tuple[str, Decimal] | None
           ) -> dict[str, Any]:
    bag: dict[str, Any] = {"shopMoney": {"amount": str(amount), "currencyCode": currency}}
    if presentment:
        pres_amount = (amount * presentment[1]).quantize(Decimal("0.01"))
        bag["presentmentMoney"] = {"amount": str(pres_amount), "currencyCode": presentment[0]}
    return bag


def place(twin: Any, shop: str, spec: OrderSpec, *, ids: dict[str, str] | None = None,
          direct: bool = False) -> dict[str, Any]:
    """Place ``spec`` through the twin's orderCreate mutation; returns the created order.

    ``direct`` calls the twin's order creation without GraphQL, past orderCreate's limit of
    250 input lines (orders that long reach Shopify from other channels, e.g. B2B).
    """
    state = twin.shop(shop)
    currency = state.currency
    incl = state.taxes_included
    ids = ids or variant_ids(twin, shop)
    pres = (spec.presentment[0], Decimal(spec.presentment[1])) if spec.presentment else None
    discount_pct = Decimal(0)
    if spec.discount_code and "itemPercentageDiscountCode" in spec.discount_code:
        discount_pct = Decimal(str(spec.discount_code["itemPercentageDiscountCode"]
                                   ["percentage"]))
    lines = []
    for ln in spec.lines:
        price = Decimal(ln.price)
        net = price * ln.qty * (1 - discount_pct / 100)
        tax = line_tax(net.quantize(Decimal("0.01")), Decimal(ln.rate), incl)
        tax_line: dict[str, Any] = {"title": "Moms", "rate": ln.rate / 100}
        if not (spec.discount_code and "itemFixedDiscountCode" in spec.discount_code):
            # with a fixed-amount code the split over lines is Shopify's to make, so the tax
            # is left for it to compute on each line's share
            tax_line["priceSet"] = _money(tax, currency, pres)
        entry: dict[str, Any] = {
            "quantity": ln.qty,
            "priceSet": _money(price, currency, pres),
            "taxLines": [tax_line] if ln.rate else [],
        }
        if ln.sku in ids:
            entry["variantId"] = ids[ln.sku]
        else:
            entry.update({"title": f"Custom {ln.sku}", "sku": ln.sku})
        lines.append(entry)
    order: dict[str, Any] = {
        "currency": currency, "taxesIncluded": incl, "lineItems": lines,
        "financialStatus": spec.financial_status, "test": spec.test,
        "billingAddress": {"firstName": spec.first_name, "lastName": spec.last_name,
                           "address1": "Strandvejen 1", "city": "København", "zip": "2100",
                           "countryCode": "DK"},
    }
    if pres:
        order["presentmentCurrency"] = pres[0]
    if spec.email:
        order["email"] = spec.email
        order["customer"] = {"toUpsert": {"email": spec.email, "firstName": spec.first_name,
                                          "lastName": spec.last_name}}
    if spec.shipping is not None:
        ship = Decimal(spec.shipping)
        tax = Decimal(0) if spec.shipping_discount_to_zero else line_tax(ship, Decimal(25), incl)
        order["shippingLines"] = [{"title": "PostNord", "code": "pn",
                                   "priceSet": _money(ship, currency, pres),
                                   "taxLines": [{"title": "Moms", "rate": 0.25,
                                                 "priceSet": _money(tax, currency, pres)}]}]
    if spec.discount_code:
        order["discountCode"] = spec.discount_code
    order.update(spec.extra)
    if direct:
        from rackshop.sandbox.shopify import orders as twin_orders

        with twin.lock:
            record, errors = twin_orders.create_order(twin.shop(shop), order,
                                                      {"inventoryBehaviour": "BYPASS"})
        assert record is not None and not errors, errors
        return dict(record)
    result = twin.execute(shop, ORDER_CREATE, {"order": order,
                                               "options": {"inventoryBehaviour": "BYPASS"}})
    payload = result["data"]["orderCreate"]
    assert not payload["userErrors"], payload["userErrors"]
    created: dict[str, Any] = payload["order"]
    return created
