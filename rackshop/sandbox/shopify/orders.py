"""Orders in the Shopify twin: ``orderCreate``, the ``orders`` query and order state changes.

The arithmetic is in :mod:`.ordermath` (pure); this module owns the order records in
``ShopState.orders`` and the resolvers that read and change them. Records are plain dicts keyed by
GraphQL field names, *materialised*: every money field is recomputed by :func:`refresh` after each
change and stored, so graphql-core's default resolver reads them directly and the records stay
JSON-serialisable for ``/__sandbox/state``. Keys starting with ``_`` are bookkeeping (the
normalised creation input, what refunds took, links to parents).

Every state change bumps ``updatedAt`` and queues webhooks through ``ShopState.emit``:
``orders/create``, ``orders/paid`` (when the order becomes PAID), ``orders/fulfilled``,
``orders/cancelled``, ``refunds/create`` and ``orders/updated`` on every change after creation.

Python helpers for seeding and tests (the same code paths as the mutations): :func:`place_order`,
:func:`mark_paid`, :func:`fulfill`, :func:`cancel`, :func:`refund`, :func:`set_exchange_rate`.
Choices where the public record is unsure are listed in ``docs/sandbox-shopify-orders.md``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from graphql import GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema

from . import consistency
from . import ordermath as om
from .catalog import (
    idempotent,
    resolve_metafield,
    resolve_metafields,
    set_metafield,
)
from .search import Field, compile_search, parse, parsed_term, terms
from .state import ShopState, connection, gid_number

__all__ = [
    "cancel",
    "create_order",
    "fulfill",
    "mark_paid",
    "order_tags_changed",
    "place_order",
    "refresh",
    "refund",
    "register",
    "set_exchange_rate",
    "webhook_payload",
]

ORDER_NUMBER_START = 1000
"""Names start at ``#1001``."""

IDEMPOTENT_REQUIRED_FROM = "2026-04"
"""``refundCreate`` requires ``@idempotent`` from this API version on (its SDL description)."""

_RESTOCKING = ("RETURN", "CANCEL", "LEGACY_RESTOCK")
_COUNTRY_NAMES = {
    "CA": "Canada", "DE": "Germany", "DK": "Denmark", "FI": "Finland", "FR": "France",
    "GB": "United Kingdom", "IS": "Iceland", "NL": "Netherlands", "NO": "Norway", "SE": "Sweden",
    "US": "United States",
}  # fmt: skip
_CURRENCY_SYMBOLS = {
    "USD": "$", "CAD": "$", "AUD": "$", "NZD": "$", "EUR": "€", "GBP": "£", "JPY": "¥",
}  # fmt: skip


class _Twin(Protocol):
    """What this module needs of ``ShopifyTwin`` (a shop by name)."""

    def shop(self, name: str) -> ShopState: ...


# -- small helpers ---------------------------------------------------------------------------------


def _shop_of(info: GraphQLResolveInfo) -> ShopState:
    shop: ShopState = info.context.shop
    return shop


def _as_shop(twin_or_shop: Any, shop_name: str | None = None) -> ShopState:
    if isinstance(twin_or_shop, ShopState):
        return twin_or_shop
    if shop_name is not None:
        shop: ShopState = twin_or_shop.shop(shop_name)
        return shop
    shops = getattr(twin_or_shop, "shops", None)
    if isinstance(shops, Mapping) and len(shops) == 1:
        only: ShopState = next(iter(shops.values()))
        return only
    raise ValueError("pass a ShopState, or the twin and shop_name")


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a coerced GraphQL input (Decimals and datetimes as strings)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _utc(value: Any) -> str | None:
    """An ISO timestamp normalised to UTC with ``Z`` (so text order is time order)."""
    when = om.parse_datetime(value) if value else None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _error(
    field: Sequence[str | int] | None, message: str, code: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        # Indexes stay integers: OrderCreateUserError.field answers them as JSON numbers (see
        # app.IndexKeepingExecutor); every other user error type serialises them as strings.
        "field": None if field is None else [f if isinstance(f, int) else str(f) for f in field],
        "message": message,
    }
    if code is not None:
        out["code"] = code
    return out


def _uncoded(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The same errors without ``code`` (for plain ``UserError`` lists)."""
    return [{"field": e["field"], "message": e["message"]} for e in errors]


def _fmt_money(amount: Decimal, currency: str) -> str:
    """``$25.00`` as Shopify words amounts in messages (symbol when known, else the code)."""
    text = om.format_money_scalar(amount, currency)
    symbol = _CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def _rest_money(amount: Decimal, currency: str) -> str:
    return om.format_money_scalar(amount, currency)


#: The twin's market before any :func:`set_exchange_rate`: USD -> CAD as the money-bag recording
#: converted (9.00 USD -> 12.77 CAD, 5.00 USD -> 7.10 CAD on an order entered at 1.5). Other pairs
#: fall back to the order's own rate (docs/sandbox-shopify-orders.md).
DEFAULT_MARKET_RATES: dict[tuple[str, str], str] = {("USD", "CAD"): "1.4192"}


def _exchange_rates(shop: ShopState) -> dict[tuple[str, str], Decimal]:
    """The shop's "market" exchange rates (``(from, to) -> to per from``), kept on the shop."""
    rates: dict[tuple[str, str], Decimal] | None = getattr(shop, "exchange_rates", None)
    if rates is None:
        rates = {pair: om.dec(rate) for pair, rate in DEFAULT_MARKET_RATES.items()}
        shop.exchange_rates = rates  # type: ignore[attr-defined]
    return rates


def set_exchange_rate(shop: ShopState, from_currency: str, to_currency: str, rate: Any) -> None:
    """Set the market rate the twin converts payments and refunds at.

    Shopify converts a payment or refund made in the customer's currency into shop money at the
    rate of the day, not at the rate the order was created with. Without a rate set here the twin
    uses the order's own rate.

    Args:
        shop: The shop.
        from_currency: E.g. ``"USD"`` (the presentment currency).
        to_currency: E.g. ``"CAD"`` (the shop currency).
        rate: ``to_currency`` units per ``from_currency`` unit.
    """
    _exchange_rates(shop)[(from_currency, to_currency)] = om.dec(rate)


def _customers(shop: ShopState) -> dict[str, dict[str, Any]]:
    """Customers the order part created (the core's ShopState has no customer table)."""
    table: dict[str, dict[str, Any]] | None = getattr(shop, "customers", None)
    if table is None:
        table = {}
        shop.customers = table  # type: ignore[attr-defined]
    return table


# -- the calculation behind a record ---------------------------------------------------------------


def _currencies(order: Mapping[str, Any]) -> om.Currencies:
    c = order["_calc"]["currencies"]
    return om.Currencies(c[0], c[1], Decimal(c[2]))


def _calc(order: Mapping[str, Any]) -> om.OrderCalc:
    data = order["_calc"]
    return om.compute_order(
        data["input"], currencies=_currencies(order), taxes_included=data["taxesIncluded"]
    )


def _refunded(order: Mapping[str, Any]) -> om.RefundedSoFar:
    r = order["_refunded"]
    return om.RefundedSoFar(
        line_qty={int(k): int(v) for k, v in r["lineQty"].items()},
        shipping={int(k): om.Bag.from_json(v) for k, v in r["shipping"].items()},
        adjustments=om.Bag.from_json(r["adjustments"]),
    )


def _store_refunded(order: dict[str, Any], so_far: om.RefundedSoFar) -> None:
    order["_refunded"] = {
        "lineQty": {str(k): v for k, v in so_far.line_qty.items()},
        "shipping": {str(k): v.to_json() for k, v in so_far.shipping.items()},
        "adjustments": so_far.adjustments.to_json(),
    }


def _txns(order: Mapping[str, Any]) -> list[om.Txn]:
    return [
        om.Txn(t["kind"], t["status"], om.Bag.from_json(t["_amount"]))
        for t in order["transactions"]
    ]


def _market_rate_to_shop(shop: ShopState, order: Mapping[str, Any]) -> Decimal:
    """Shop units per presentment unit for a payment made now."""
    cur = _currencies(order)
    if cur.shop == cur.presentment:
        return Decimal(1)
    rates = _exchange_rates(shop)
    if (cur.presentment, cur.shop) in rates:
        return rates[(cur.presentment, cur.shop)]
    if rates.get((cur.shop, cur.presentment)):
        return 1 / rates[(cur.shop, cur.presentment)]
    return 1 / cur.rate if cur.rate else Decimal(1)


# -- materialising ---------------------------------------------------------------------------------


def _fulfillment_status(order: Mapping[str, Any]) -> str:
    wanted = sum(li["currentQuantity"] for li in order["lineItems"])
    done = sum(min(li["_fulfilled"], li["currentQuantity"]) for li in order["lineItems"])
    if done == 0:
        held = any(fo["status"] == "ON_HOLD" for fo in order.get("fulfillmentOrders") or [])
        return "ON_HOLD" if held else "UNFULFILLED"
    if done >= wanted:
        return "FULFILLED"
    return "PARTIALLY_FULFILLED"


def refresh(shop: ShopState, order: dict[str, Any]) -> dict[str, Any]:
    """Recompute every derived field of an order record from its state (no timestamp bump).

    Args:
        shop: The shop the order belongs to.
        order: The record (changed in place).

    Returns:
        The same record.
    """
    calc = _calc(order)
    cur = calc.currencies
    so_far = _refunded(order)
    order.update(
        om.order_fields(
            calc, so_far, _txns(order), initial_status=order["_calc"]["financialStatus"]
        )
    )
    remaining_by_line: dict[str, int] = {}
    for fo in order["fulfillmentOrders"]:
        if fo["status"] in ("OPEN", "IN_PROGRESS", "SCHEDULED", "ON_HOLD"):
            for fli in fo["lineItems"]:
                remaining_by_line[fli["lineItemId"]] = (
                    remaining_by_line.get(fli["lineItemId"], 0) + fli["remainingQuantity"]
                )
    for li in order["lineItems"]:
        idx = li["_index"]
        fields = om.line_item_fields(calc, idx, so_far.line_qty.get(idx, 0))
        li.update(fields)
        unfulfilled = max(0, li["currentQuantity"] - li["_fulfilled"])
        li["unfulfilledQuantity"] = unfulfilled
        li["fulfillableQuantity"] = min(remaining_by_line.get(li["id"], 0), unfulfilled)
        li["nonFulfillableQuantity"] = li["quantity"] - li["fulfillableQuantity"]
        li["restockable"] = li["currentQuantity"] > 0
        li_calc = calc.lines[idx]
        li["unfulfilledOriginalTotalSet"] = cur.bag(li_calc.unit_price.times(unfulfilled))
        li["unfulfilledDiscountedTotalSet"] = cur.bag(
            om.share(li_calc.original_total, unfulfilled, li_calc.quantity, cur)
        )
        for alloc in li["discountAllocations"]:
            alloc["discountApplication"] = _application(calc, alloc["applicationIndex"])
    for s in order["shippingLines"]:
        idx = s["_index"]
        s.update(om.shipping_line_fields(calc, idx, so_far.shipping.get(idx, om.Bag())))
        for alloc in s["discountAllocations"]:
            alloc["discountApplication"] = _application(calc, alloc["applicationIndex"])
    order["discountApplications"] = [
        {
            **om.discount_application_fields(app, cur),
            "id": f"gid://shopify/DiscountApplication/{app.index + 1}",
        }
        for app in calc.applications
    ]
    order["discountCode"] = order["discountCodes"][0] if order["discountCodes"] else None
    order["totalCapturable"] = om.format_money_scalar(
        Decimal(order["totalCapturableSet"]["shopMoney"]["amount"]), cur.shop
    )
    order["displayFulfillmentStatus"] = _fulfillment_status(order)
    gateways: list[str] = []
    for t in order["transactions"]:
        paid = t["status"] == "SUCCESS" and t["kind"] in ("SALE", "CAPTURE", "AUTHORIZATION")
        if paid and t["gateway"] not in gateways:
            gateways.append(t["gateway"])
    order["paymentGatewayNames"] = gateways
    order["requiresShipping"] = any(li["requiresShipping"] for li in order["lineItems"])
    order["fulfillable"] = any(li["fulfillableQuantity"] > 0 for li in order["lineItems"])
    order["refundable"] = Decimal(order["netPaymentSet"]["presentmentMoney"]["amount"]) > 0
    order["restockable"] = any(li["restockable"] for li in order["lineItems"])
    outstanding = Decimal(order["totalOutstandingSet"]["presentmentMoney"]["amount"])
    order["canMarkAsPaid"] = (
        order["cancelledAt"] is None
        and outstanding > 0
        and order["displayFinancialStatus"] not in ("PAID", "REFUNDED", "VOIDED")
    )
    order["shippingLine"] = order["shippingLines"][0] if order["shippingLines"] else None
    return order


def _application(calc: om.OrderCalc, index: int) -> dict[str, Any]:
    return om.discount_application_fields(calc.applications[index], calc.currencies)


def _maybe_close(shop: ShopState, order: dict[str, Any], ts: str) -> None:
    """Shopify archives an order once it is fulfilled and settled (its default setting)."""
    if order["closed"] or order["cancelledAt"]:
        return
    nothing_to_ship = all(li["unfulfilledQuantity"] == 0 for li in order["lineItems"])
    settled = Decimal(order["totalOutstandingSet"]["presentmentMoney"]["amount"]) <= 0 and (
        order["displayFinancialStatus"] in ("PAID", "REFUNDED", "PARTIALLY_REFUNDED")
    )
    if nothing_to_ship and settled:
        order["closed"] = True
        order["closedAt"] = ts


def _changed(shop: ShopState, order: dict[str, Any], *topics: str, auto_close: bool = True) -> None:
    """Bump ``updatedAt``, emit the given topics and ``orders/updated``."""
    ts = shop.touch(order)
    if auto_close:
        _maybe_close(shop, order, ts)
    payload = webhook_payload(shop, order)
    for topic in topics:
        shop.emit(topic, payload)
    shop.emit("orders/updated", payload)


def order_tags_changed(shop: ShopState, order_gid: str) -> None:
    """Hook for the core's ``tagsAdd``/``tagsRemove``/``metafieldsSet`` on an order.

    Keeps tags sorted (as Shopify returns them), bumps ``updatedAt`` and emits ``orders/updated``.
    """
    order = shop.orders.get(order_gid)
    if order is None:
        return
    order["tags"] = sorted(dict.fromkeys(order.get("tags") or []), key=str.lower)
    _changed(shop, order)


# -- webhooks --------------------------------------------------------------------------------------


def _rest_status(value: str | None) -> str | None:
    return value.lower() if value else None


def webhook_payload(shop: ShopState, order: Mapping[str, Any]) -> dict[str, Any]:
    """The REST-shaped (snake_case) order a webhook carries: enough to identify and re-fetch it."""
    cur = order["currencyCode"]
    pres = order["presentmentCurrencyCode"]

    def amount(field: str, side: str = "shopMoney") -> str:
        return _rest_money(
            Decimal(order[field][side]["amount"]), cur if side == "shopMoney" else pres
        )

    fulfillment = {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}.get(
        order["displayFulfillmentStatus"]
    )
    customer = _customers(shop).get(order.get("customerId") or "")
    return {
        "id": int(order["legacyResourceId"]),
        "admin_graphql_api_id": order["id"],
        "name": order["name"],
        "order_number": order["number"],
        "number": order["number"] - ORDER_NUMBER_START,
        "email": order["email"],
        "contact_email": order["email"],
        "phone": order["phone"],
        "created_at": order["createdAt"],
        "updated_at": order["updatedAt"],
        "processed_at": order["processedAt"],
        "cancelled_at": order["cancelledAt"],
        "cancel_reason": _rest_status(order["cancelReason"]),
        "closed_at": order["closedAt"],
        "financial_status": _rest_status(order["displayFinancialStatus"]),
        "fulfillment_status": fulfillment,
        "currency": cur,
        "presentment_currency": pres,
        "taxes_included": order["taxesIncluded"],
        "test": order["test"],
        "tags": ", ".join(order["tags"]),
        "note": order["note"],
        "source_name": order["sourceName"],
        "subtotal_price": amount("subtotalPriceSet"),
        "total_discounts": amount("totalDiscountsSet"),
        "total_tax": amount("totalTaxSet"),
        "total_price": amount("totalPriceSet"),
        "current_total_price": amount("currentTotalPriceSet"),
        "total_outstanding": amount("totalOutstandingSet"),
        "discount_codes": [{"code": c} for c in order["discountCodes"]],
        "line_items": [
            {
                "id": gid_number(li["id"]),
                "admin_graphql_api_id": li["id"],
                "title": li["title"],
                "name": li["name"],
                "variant_title": li["variantTitle"],
                "sku": li["sku"],
                "quantity": li["quantity"],
                "current_quantity": li["currentQuantity"],
                "fulfillable_quantity": li["fulfillableQuantity"],
                "price": _rest_money(
                    Decimal(li["originalUnitPriceSet"]["shopMoney"]["amount"]), cur
                ),
                "total_discount": _rest_money(
                    Decimal(li["totalDiscountSet"]["shopMoney"]["amount"]), cur
                ),
                "variant_id": gid_number(li["variantId"]) or None,
                "product_id": gid_number(li["productId"]) or None,
                "taxable": li["taxable"],
                "requires_shipping": li["requiresShipping"],
                "tax_lines": [
                    {
                        "title": t["title"],
                        "rate": t["rate"],
                        "price": _rest_money(Decimal(t["priceSet"]["shopMoney"]["amount"]), cur),
                    }
                    for t in li["taxLines"]
                ],
            }
            for li in order["lineItems"]
        ],
        "shipping_lines": [
            {
                "id": gid_number(s["id"]),
                "title": s["title"],
                "code": s["code"],
                "price": _rest_money(Decimal(s["originalPriceSet"]["shopMoney"]["amount"]), cur),
            }
            for s in order["shippingLines"]
        ],
        "customer": None
        if customer is None
        else {
            "id": int(customer["legacyResourceId"]),
            "admin_graphql_api_id": customer["id"],
            "email": customer["email"],
            "first_name": customer["firstName"],
            "last_name": customer["lastName"],
        },
    }


def _refund_payload(order: Mapping[str, Any], refund_rec: Mapping[str, Any]) -> dict[str, Any]:
    cur = order["currencyCode"]
    return {
        "id": int(refund_rec["legacyResourceId"]),
        "admin_graphql_api_id": refund_rec["id"],
        "order_id": int(order["legacyResourceId"]),
        "created_at": refund_rec["createdAt"],
        "processed_at": refund_rec["processedAt"],
        "note": refund_rec["note"],
        "refund_line_items": [
            {
                "id": gid_number(rl["id"]),
                "line_item_id": gid_number(rl["lineItemId"]),
                "quantity": rl["quantity"],
                "restock_type": rl["restockType"].lower(),
                "subtotal": _rest_money(Decimal(rl["subtotalSet"]["shopMoney"]["amount"]), cur),
                "total_tax": _rest_money(Decimal(rl["totalTaxSet"]["shopMoney"]["amount"]), cur),
            }
            for rl in refund_rec["refundLineItems"]
        ],
        "transactions": [
            {
                "id": gid_number(t["id"]),
                "kind": t["kind"].lower(),
                "status": t["status"].lower(),
                "gateway": t["gateway"],
                "amount": _rest_money(Decimal(t["amountSet"]["shopMoney"]["amount"]), cur),
            }
            for t in order["transactions"]
            if t["id"] in refund_rec["transactionIds"]
        ],
    }


# -- creation --------------------------------------------------------------------------------------


def _address(shop: ShopState, data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A ``MailingAddress`` record from a ``MailingAddressInput``."""
    if not data:
        return None
    code = data.get("countryCode")
    first, last = data.get("firstName"), data.get("lastName")
    city, province = data.get("city"), data.get("provinceCode") or data.get("province")
    country = data.get("country") or (_COUNTRY_NAMES.get(code, code) if code else None)
    area = ", ".join(p for p in (" ".join(p for p in (city, province) if p), country) if p)
    return {
        "__typename": "MailingAddress",
        "id": shop.new_gid("MailingAddress"),
        "address1": data.get("address1"),
        "address2": data.get("address2"),
        "city": city,
        "company": data.get("company"),
        "country": country,
        "countryCodeV2": code,
        "firstName": first,
        "lastName": last,
        "name": " ".join(p for p in (first, last) if p) or None,
        "phone": data.get("phone"),
        "province": data.get("province") or data.get("provinceCode"),
        "provinceCode": data.get("provinceCode"),
        "zip": data.get("zip"),
        "latitude": None,
        "longitude": None,
        "formattedArea": area or None,
    }


def _find_customer(shop: ShopState, *, gid: str | None, email: str | None) -> dict[str, Any] | None:
    table = _customers(shop)
    if gid:
        return table.get(gid)
    if email:
        for c in table.values():
            if (c["email"] or "").lower() == email.lower():
                return c
    return None


def _upsert_customer(
    shop: ShopState, attrs: Mapping[str, Any], address: dict[str, Any] | None
) -> dict[str, Any]:
    existing = _find_customer(shop, gid=attrs.get("id"), email=attrs.get("email"))
    ts = shop.now_iso()
    if existing is None:
        gid = attrs.get("id") or shop.new_gid("Customer")
        existing = {
            "__typename": "Customer",
            "id": gid,
            "legacyResourceId": str(gid_number(gid)),
            "email": None,
            "firstName": None,
            "lastName": None,
            "phone": None,
            "note": None,
            "tags": [],
            "taxExempt": False,
            "verifiedEmail": True,
            "createdAt": ts,
            "updatedAt": ts,
            "defaultAddress": None,
            "numberOfOrders": "0",
        }
        _customers(shop)[gid] = existing
    for key in ("email", "firstName", "lastName", "phone", "note", "taxExempt"):
        if attrs.get(key) is not None:
            existing[key] = attrs[key]
    if attrs.get("tags") is not None:
        existing["tags"] = sorted(set(attrs["tags"]))
    if existing["defaultAddress"] is None and address is not None:
        existing["defaultAddress"] = dict(address, id=shop.new_gid("MailingAddress"))
        if existing["firstName"] is None and existing["lastName"] is None:
            existing["firstName"] = address.get("firstName")
            existing["lastName"] = address.get("lastName")
    name = " ".join(p for p in (existing["firstName"], existing["lastName"]) if p)
    existing["displayName"] = name or existing["email"] or existing["phone"] or ""
    existing["updatedAt"] = ts
    return existing


def _resolve_customer(
    shop: ShopState, order: Mapping[str, Any], address: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The order's customer: ``customer.toAssociate``/``toUpsert``, ``customerId``, or by email."""
    cust_in = order.get("customer") or {}
    if cust_in.get("toAssociate"):
        data = cust_in["toAssociate"]
        found = _find_customer(shop, gid=data.get("id"), email=data.get("email"))
        if found is None:
            return None, [
                _error(
                    ["order", "customer", "toAssociate", "id" if data.get("id") else "email"],
                    "Customer does not exist",
                    "INVALID",
                )
            ]
        return found, []
    if cust_in.get("toUpsert"):
        attrs = dict(cust_in["toUpsert"])
        attrs.setdefault("email", order.get("email"))
        return _upsert_customer(shop, attrs, address), []
    if order.get("customerId"):
        found = _find_customer(shop, gid=order["customerId"], email=None)
        if found is None:
            return None, [_error(["order", "customerId"], "Customer does not exist", "INVALID")]
        return found, []
    if order.get("email"):
        # Like the REST API, an order with an e-mail and no customer gets one (found or made).
        return _upsert_customer(shop, {"email": order["email"]}, address), []
    return None, []


def _normalise_lines(
    shop: ShopState, order: Mapping[str, Any], currency: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Fill variant lines from the catalogue.

    Returns:
        (lines for the arithmetic, per-line display data, userErrors).
    """
    math_lines: list[dict[str, Any]] = []
    display: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for i, li in enumerate(order.get("lineItems") or []):
        line = dict(li)
        info: dict[str, Any] = {
            "title": li.get("title") or "",
            "variantTitle": li.get("variantTitle"),
            "sku": li.get("sku"),
            "vendor": li.get("vendor"),
            "variantId": None,
            "productId": li.get("productId"),
            "inventoryItemId": None,
        }
        variant_gid = li.get("variantId")
        if variant_gid:
            variant = shop.variant(variant_gid)
            if variant is None:
                errors.append(
                    _error(
                        ["order", "lineItems", i, "variantId"],
                        "Product variant does not exist",
                        "INVALID",
                    )
                )
                continue
            product = shop.products.get(variant.get("productId", ""))
            item = shop.inventory_items.get(variant.get("inventoryItemId", ""))
            # The catalogue wins for what describes the item; a given price wins over the variant's.
            title = (product or {}).get("title") or li.get("title") or ""
            vtitle = variant.get("title")
            info.update(
                title=title,
                variantTitle=None if vtitle in (None, "", "Default Title") else vtitle,
                sku=variant.get("sku") or li.get("sku"),
                vendor=(product or {}).get("vendor") or li.get("vendor"),
                variantId=variant_gid,
                productId=variant.get("productId"),
                inventoryItemId=variant.get("inventoryItemId"),
            )
            line["taxable"] = bool(variant.get("taxable", True))
            line["requiresShipping"] = bool((item or {}).get("requiresShipping", True))
            if not li.get("priceSet"):
                line["priceSet"] = {
                    "shopMoney": {
                        "amount": str(variant.get("price") or "0"),
                        "currencyCode": currency,
                    }
                }
        elif not li.get("priceSet"):
            line["priceSet"] = {"shopMoney": {"amount": "0", "currencyCode": currency}}
        math_lines.append(_plain(line))
        display.append(info)
    return math_lines, display, errors


def _claim_inventory(
    shop: ShopState, order: dict[str, Any], behaviour: str
) -> list[dict[str, Any]]:
    """``inventoryBehaviour`` DECREMENT_*: move ordered units from available to committed."""
    loc = shop.primary_location()
    if loc is None:
        return []
    errors: list[dict[str, Any]] = []
    levels: list[tuple[dict[str, Any], dict[str, Any], int]] = []
    for li in order["lineItems"]:
        item = shop.inventory_items.get(li.get("_inventoryItemId") or "")
        if item is None or not item.get("tracked", True):
            continue
        level = item["levels"].get(loc["id"])
        if level is None:
            continue
        variant = shop.variant(li["variantId"]) or {}
        if (
            behaviour == "DECREMENT_OBEYING_POLICY"
            and variant.get("inventoryPolicy", "DENY") == "DENY"
            and level["quantities"]["available"] < li["quantity"]
        ):
            errors.append(
                _error(
                    ["order", "lineItems", li["_index"]],
                    f"Unable to reserve inventory for {li['name']}",
                    "INVENTORY_CLAIM_FAILED",
                )
            )
        levels.append((li, level, li["quantity"]))
    if errors:
        return errors
    for li, level, qty in levels:
        shop.change_quantity(level, "available", -qty)
        shop.change_quantity(level, "committed", qty)
        li["_committed"] = {loc["id"]: qty}
        shop.inventory_event(level)
    return []


def _release_inventory(shop: ShopState, li: dict[str, Any], qty: int, *, restock: bool) -> None:
    """Give back up to ``qty`` committed units of a line (to available when restocking)."""
    item = shop.inventory_items.get(li.get("_inventoryItemId") or "")
    if item is None:
        return
    for loc_gid, committed in list(li["_committed"].items()):
        take = min(committed, qty)
        if take <= 0:
            continue
        level = item["levels"].get(loc_gid)
        if level is None:
            continue
        shop.change_quantity(level, "committed", -take)
        if restock:
            shop.change_quantity(level, "available", take)
        li["_committed"][loc_gid] = committed - take
        qty -= take
        shop.inventory_event(level)


def create_order(
    shop: ShopState,
    order_input: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Run ``orderCreate``: validate, compute, store, emit ``orders/create``.

    Args:
        shop: The shop.
        order_input: An ``OrderCreateOrderInput`` (GraphQL names; amounts as str or Decimal).
        options: An ``OrderCreateOptionsInput``.
        now: The current time for ``processedAt`` checks (default: the shop's clock).

    Returns:
        (the order record, []) or (None, OrderCreateUserError dicts).
    """
    order_in = _plain(dict(order_input))
    when = now or om.parse_datetime(shop.now_iso())
    assert when is not None
    errors = om.validate_order_input(order_in, now=when)
    if errors:
        return None, errors
    currency = str(order_in.get("currency") or shop.currency)
    math_lines, display, errors = _normalise_lines(shop, order_in, currency)
    if errors:
        return None, errors
    shipping_address = _address(shop, order_in.get("shippingAddress"))
    billing_address = _address(shop, order_in.get("billingAddress"))
    customer, errors = _resolve_customer(shop, order_in, shipping_address or billing_address)
    if errors:
        return None, errors

    math_input = dict(order_in, lineItems=math_lines)
    cur = om.currencies_for(math_input, shop_currency=shop.currency, rates=_exchange_rates(shop))
    taxes_included = bool(order_in.get("taxesIncluded", False))
    calc = om.compute_order(math_input, currencies=cur, taxes_included=taxes_included)

    ts = shop.now_iso()
    gid = shop.new_gid("Order")
    number = max((o["number"] for o in shop.orders.values()), default=ORDER_NUMBER_START) + 1
    lines = []
    for i, (li_in, info) in enumerate(zip(math_lines, display, strict=True)):
        title = info["title"]
        vtitle = info["variantTitle"]
        lines.append(
            {
                "__typename": "LineItem",
                "id": shop.new_gid("LineItem"),
                "_index": i,
                "_orderId": gid,
                "_fulfilled": 0,
                "_committed": {},
                "_inventoryItemId": info["inventoryItemId"],
                "title": title,
                "name": f"{title} - {vtitle}" if vtitle else title,
                "variantTitle": vtitle,
                "sku": info["sku"],
                "vendor": info["vendor"],
                "variantId": info["variantId"],
                "productId": info["productId"],
                "taxable": bool(li_in.get("taxable", True)),
                "requiresShipping": bool(li_in.get("requiresShipping", False)),
                "isGiftCard": bool(li_in.get("giftCard", False)),
                "customAttributes": [
                    {"key": p["name"], "value": p["value"]} for p in li_in.get("properties") or []
                ],
            }
        )
    shipping_lines = [
        {
            "__typename": "ShippingLine",
            "id": shop.new_gid("ShippingLine"),
            "_index": i,
            "_orderId": gid,
            "title": s.get("title"),
            "code": s.get("code"),
            "source": s.get("source"),
            "carrierIdentifier": None,
            "custom": True,
            "deliveryCategory": None,
            "isRemoved": False,
            "phone": None,
            "shippingRateHandle": None,
        }
        for i, s in enumerate(order_in.get("shippingLines") or [])
    ]
    record: dict[str, Any] = {
        "__typename": "Order",
        "id": gid,
        "legacyResourceId": str(gid_number(gid)),
        "number": number,
        "name": f"#{number}",
        "email": order_in.get("email") or (customer or {}).get("email"),
        "phone": order_in.get("phone"),
        "note": order_in.get("note"),
        "poNumber": order_in.get("poNumber"),
        "tags": sorted(dict.fromkeys(order_in.get("tags") or []), key=str.lower),
        "test": bool(order_in.get("test", False)),
        "sourceName": order_in.get("sourceName") or "api",
        "sourceIdentifier": order_in.get("sourceIdentifier"),
        "createdAt": ts,
        "updatedAt": ts,
        "processedAt": _utc(order_in.get("processedAt")) or ts,
        "cancelledAt": None,
        "cancelReason": None,
        "cancellation": None,
        "closed": False,
        "closedAt": None,
        "confirmed": True,
        "edited": False,
        "estimatedTaxes": False,
        "taxExempt": False,
        "dutiesIncluded": False,
        "merchantEditable": True,
        "currencyCode": cur.shop,
        "presentmentCurrencyCode": cur.presentment,
        "taxesIncluded": taxes_included,
        "customAttributes": [
            {"key": a["key"], "value": a["value"]} for a in order_in.get("customAttributes") or []
        ],
        "billingAddress": billing_address,
        "shippingAddress": shipping_address,
        "customerId": (customer or {}).get("id"),
        "metafields": [],
        "lineItems": lines,
        "shippingLines": shipping_lines,
        "transactions": [],
        "refunds": [],
        "fulfillments": [],
        "fulfillmentOrders": [],
        "_calc": {
            "input": math_input,
            "currencies": [cur.shop, cur.presentment, str(cur.rate)],
            "taxesIncluded": taxes_included,
            "financialStatus": order_in.get("financialStatus"),
        },
        "_refunded": {"lineQty": {}, "shipping": {}, "adjustments": ["0", "0"]},
    }
    for meta in order_in.get("metafields") or []:
        _set_metafield(shop, record, meta)
    for t in om.transactions_from_input(order_in, cur):
        _add_transaction(shop, record, t["kind"], t["status"], t["amount"], t["gateway"],
                         test=t["test"], processed_at=t["processedAt"])  # fmt: skip
    if not record["transactions"] and order_in.get("financialStatus") == "PAID":
        # A PAID order without transactions gets the manual sale that makes it paid.
        _add_transaction(shop, record, "SALE", "SUCCESS", calc.total_price, "manual")
    refresh(shop, record)
    record["fulfillmentOrders"] = [_new_fulfillment_order(shop, record)]
    refresh(shop, record)

    behaviour = (options or {}).get("inventoryBehaviour") or "BYPASS"
    if behaviour != "BYPASS":
        errors = _claim_inventory(shop, record, behaviour)
        if errors:
            return None, errors
    shop.orders[gid] = record
    if customer is not None:
        customer["numberOfOrders"] = str(int(customer["numberOfOrders"]) + 1)
    if order_in.get("fulfillmentStatus") == "FULFILLED":
        _fulfill_lines(shop, record, None, {})
    refresh(shop, record)
    _maybe_close(shop, record, ts)
    payload = webhook_payload(shop, record)
    shop.emit("orders/create", payload)
    if record["displayFinancialStatus"] == "PAID":
        shop.emit("orders/paid", payload)
    if record["displayFulfillmentStatus"] == "FULFILLED":
        shop.emit("orders/fulfilled", payload)
    return record, []


def _add_transaction(
    shop: ShopState,
    order: dict[str, Any],
    kind: str,
    status: str,
    amount: om.Bag,
    gateway: str,
    *,
    test: bool | None = None,
    parent_id: str | None = None,
    processed_at: str | None = None,
) -> dict[str, Any]:
    ts = shop.now_iso()
    cur = _currencies(order)
    txn = {
        "__typename": "OrderTransaction",
        "id": shop.new_gid("OrderTransaction"),
        "_orderId": order["id"],
        "_amount": amount.to_json(),
        "kind": kind,
        "status": status,
        "gateway": gateway,
        "formattedGateway": gateway.replace("_", " ").title() if gateway else None,
        "manualPaymentGateway": gateway == "manual",
        "test": order["test"] if test is None else test,
        "createdAt": ts,
        "processedAt": processed_at or ts,
        "authorizationCode": None,
        "errorCode": None,
        "amountSet": cur.bag(amount),
        "parentTransactionId": parent_id,
    }
    order["transactions"].append(txn)
    return txn


def _new_fulfillment_order(shop: ShopState, order: dict[str, Any]) -> dict[str, Any]:
    """One fulfillment order at the shop's first active location holding every line."""
    loc = shop.primary_location() or {}
    addr = loc.get("address") or {}
    ts = order["createdAt"]
    return {
        "__typename": "FulfillmentOrder",
        "id": shop.new_gid("FulfillmentOrder"),
        "_orderId": order["id"],
        "status": "OPEN",
        "requestStatus": "UNSUBMITTED",
        "createdAt": ts,
        "updatedAt": ts,
        "fulfillAt": ts,
        "fulfillBy": None,
        "orderId": order["id"],
        "orderName": order["name"],
        "orderProcessedAt": order["processedAt"],
        "assignedLocation": {
            "name": loc.get("name") or "Shop location",
            "locationId": loc.get("id"),
            "address1": addr.get("address1"),
            "address2": addr.get("address2"),
            "city": addr.get("city"),
            "countryCode": addr.get("countryCode") or "DK",
            "phone": addr.get("phone"),
            "province": addr.get("province"),
            "zip": addr.get("zip"),
        },
        "lineItems": [
            {
                "__typename": "FulfillmentOrderLineItem",
                "id": shop.new_gid("FulfillmentOrderLineItem"),
                "lineItemId": li["id"],
                "_orderId": order["id"],
                "totalQuantity": li["quantity"],
                "remainingQuantity": li["quantity"],
                "productTitle": li["title"],
                "variantTitle": li["variantTitle"],
                "sku": li["sku"],
                "vendor": li["vendor"],
                "requiresShipping": li["requiresShipping"],
                "inventoryItemId": li["_inventoryItemId"],
                "variantId": li["variantId"],
            }
            for li in order["lineItems"]
        ],
        "supportedActions": [
            {"action": "CREATE_FULFILLMENT", "externalUrl": None},
            {"action": "MOVE", "externalUrl": None},
            {"action": "HOLD", "externalUrl": None},
            {"action": "SPLIT", "externalUrl": None},
        ],
        "fulfillmentIds": [],
    }


def _set_metafield(shop: ShopState, order: dict[str, Any], meta: Mapping[str, Any]) -> None:
    """Create or replace an order metafield from a ``MetafieldInput`` (the core's record shape)."""
    if not meta.get("key"):
        return
    set_metafield(
        shop, order, "ORDER", meta.get("namespace"), str(meta["key"]),
        str(meta.get("value") or ""), meta.get("type"),
    )  # fmt: skip


# -- state changes ---------------------------------------------------------------------------------


def _order_or_none(shop: ShopState, gid: Any) -> dict[str, Any] | None:
    return shop.orders.get(str(gid)) if gid else None


def mark_as_paid(
    shop: ShopState, order_gid: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """``orderMarkAsPaid``: record a manual payment of what is outstanding.

    An authorization still open is captured first. The payment is the presentment outstanding;
    its shop side is converted at the market rate (:func:`set_exchange_rate`).

    Returns:
        (order or None, UserError dicts).
    """
    order = _order_or_none(shop, order_gid)
    if order is None:
        return None, [_error(["id"], "Order does not exist")]
    if order["cancelledAt"] or (not order["canMarkAsPaid"] and not order["capturable"]):
        return order, [_error(["id"], "Order cannot be marked as paid.")]
    before = order["displayFinancialStatus"]
    cur = _currencies(order)
    rate = _market_rate_to_shop(shop, order)
    if order["capturable"]:
        auth = next(
            (t for t in order["transactions"]
             if t["kind"] == "AUTHORIZATION" and t["status"] == "SUCCESS"),
            None,
        )  # fmt: skip
        amount = om.Bag.from_json(
            [order["totalCapturableSet"]["shopMoney"]["amount"],
             order["totalCapturableSet"]["presentmentMoney"]["amount"]]
        )  # fmt: skip
        _add_transaction(shop, order, "CAPTURE", "SUCCESS", amount,
                         auth["gateway"] if auth else "manual",
                         parent_id=auth["id"] if auth else None)  # fmt: skip
        refresh(shop, order)
    outstanding = Decimal(order["totalOutstandingSet"]["presentmentMoney"]["amount"])
    if outstanding > 0:
        _add_transaction(
            shop, order, "SALE", "SUCCESS", cur.from_presentment(outstanding, rate), "manual"
        )
    refresh(shop, order)
    topics = ["orders/paid"] if order["displayFinancialStatus"] == "PAID" != before else []
    _changed(shop, order, *topics)
    return order, []


def _job(shop: ShopState) -> dict[str, Any]:
    return {
        "__typename": "Job",
        "id": f"gid://shopify/Job/{uuid.UUID(int=shop.next_id('Job'))}",
        "done": False,
    }


def cancel_order(
    shop: ShopState,
    order_gid: str,
    *,
    reason: str = "OTHER",
    refund: bool | None = None,
    refund_method: Mapping[str, Any] | None = None,
    restock: bool = True,
    staff_note: str | None = None,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """``orderCancel`` (2025+ signature): cancel, optionally refund and restock.

    Returns:
        (Job dict or None, OrderCancelUserError dicts).
    """
    if staff_note is not None and len(staff_note) > 255:
        return None, [
            _error(["staffNote"], "Staff note is too long. Maximum length is 255 characters.",
                   "INVALID")
        ]  # fmt: skip
    if refund is not None and refund_method is not None:
        return None, [
            _error(["refund"], "Only one of the arguments `refund` or `refund_method` is allowed.",
                   "INVALID")
        ]  # fmt: skip
    order = _order_or_none(shop, order_gid)
    if order is None:
        return None, [_error(["orderId"], "Order does not exist", "NOT_FOUND")]
    if order["cancelledAt"]:
        return None, [
            _error(["orderId"], "Cannot cancel an order that has already been canceled", "INVALID")
        ]
    if any(f["status"] == "SUCCESS" for f in order["fulfillments"]):
        return None, [
            _error(["orderId"], "Cannot cancel an order that has outstanding fulfillments",
                   "INVALID")
        ]  # fmt: skip
    do_refund = bool(refund) or bool((refund_method or {}).get("originalPaymentMethodsRefund"))
    ts = shop.now_iso()
    topics = ["orders/cancelled"]
    for li in order["lineItems"]:
        _release_inventory(shop, li, li["currentQuantity"], restock=restock)
    if do_refund:
        if order["capturable"]:
            auth = next(t for t in order["transactions"]
                        if t["kind"] == "AUTHORIZATION" and t["status"] == "SUCCESS")  # fmt: skip
            amount = om.Bag.from_json(auth["_amount"])
            _add_transaction(shop, order, "VOID", "SUCCESS", amount, auth["gateway"],
                             parent_id=auth["id"])  # fmt: skip
        lines = {
            li["id"]: li["currentQuantity"] for li in order["lineItems"] if li["currentQuantity"]
        }
        refund_rec, _errors = create_refund(
            shop, order, lines=lines, shipping="full", transactions=None, note=None,
            restock_type="CANCEL" if restock else "NO_RESTOCK", emit=False,
        )  # fmt: skip
        if refund_rec is not None:
            topics.append("refunds/create")
    order["cancelledAt"] = ts
    order["cancelReason"] = reason
    order["cancellation"] = {"staffNote": staff_note}
    for fo in order["fulfillmentOrders"]:
        if fo["status"] not in ("CLOSED", "CANCELLED"):
            fo["status"] = "CLOSED"
            fo["updatedAt"] = ts
    refresh(shop, order)
    # A cancelled order stays open while it still holds the customer's money.
    if order["displayFinancialStatus"] not in ("PAID", "PARTIALLY_PAID", "PARTIALLY_REFUNDED"):
        order["closed"] = True
        order["closedAt"] = ts
    payload_topics = [t for t in topics if t != "refunds/create"]
    _changed(shop, order, *payload_topics)
    if "refunds/create" in topics:
        shop.emit("refunds/create", _refund_payload(order, order["refunds"][-1]))
    return _job(shop), []


def _fulfillment_order(shop: ShopState, gid: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    for order in shop.orders.values():
        for fo in order["fulfillmentOrders"]:
            if fo["id"] == gid:
                return order, fo
    return None


def _fulfill_lines(
    shop: ShopState,
    order: dict[str, Any],
    requests: list[tuple[dict[str, Any], dict[str, int] | None]] | None,
    tracking: Mapping[str, Any],
) -> dict[str, Any]:
    """Fulfil FO line items (all remaining when a request names none) and record a fulfillment."""
    if requests is None:
        requests = [(fo, None) for fo in order["fulfillmentOrders"] if fo["status"] == "OPEN"]
    ts = shop.now_iso()
    fulfilled: dict[str, int] = {}
    location_id = None
    for fo, wanted in requests:
        location_id = location_id or fo["assignedLocation"].get("locationId")
        for fli in fo["lineItems"]:
            qty = fli["remainingQuantity"] if wanted is None else wanted.get(fli["id"], 0)
            if qty <= 0:
                continue
            fli["remainingQuantity"] -= qty
            fulfilled[fli["lineItemId"]] = fulfilled.get(fli["lineItemId"], 0) + qty
        if all(fli["remainingQuantity"] == 0 for fli in fo["lineItems"]):
            fo["status"] = "CLOSED"
        fo["updatedAt"] = ts
    numbers = list(
        tracking.get("numbers") or ([tracking["number"]] if tracking.get("number") else [])
    )
    urls = list(tracking.get("urls") or ([tracking["url"]] if tracking.get("url") else []))
    tracking_info = [
        {"number": n, "url": urls[i] if i < len(urls) else None, "company": tracking.get("company")}
        for i, n in enumerate(numbers)
    ]
    if not numbers and (tracking.get("company") or urls):
        tracking_info = [{"number": None, "url": urls[0] if urls else None,
                          "company": tracking.get("company")}]  # fmt: skip
    fid = shop.new_gid("Fulfillment")
    cur = _currencies(order)
    calc = _calc(order)
    fli_records = []
    by_id = {li["id"]: li for li in order["lineItems"]}
    for line_id, qty in fulfilled.items():
        li = by_id[line_id]
        li["_fulfilled"] += qty
        _ship_inventory(shop, li, qty)
        lc = calc.lines[li["_index"]]
        fli_records.append(
            {
                "__typename": "FulfillmentLineItem",
                "id": shop.new_gid("FulfillmentLineItem"),
                "lineItemId": line_id,
                "_orderId": order["id"],
                "quantity": qty,
                "originalTotalSet": cur.bag(lc.unit_price.times(qty)),
                "discountedTotalSet": cur.bag(om.share(lc.discounted_total, qty, lc.quantity, cur)),
            }
        )
    record = {
        "__typename": "Fulfillment",
        "id": fid,
        "legacyResourceId": str(gid_number(fid)),
        "_orderId": order["id"],
        "name": f"{order['name']}-F{len(order['fulfillments']) + 1}",
        "status": "SUCCESS",
        "displayStatus": "FULFILLED",
        "createdAt": ts,
        "updatedAt": ts,
        "deliveredAt": None,
        "inTransitAt": None,
        "estimatedDeliveryAt": None,
        "locationId": location_id,
        "requiresShipping": any(by_id[i]["requiresShipping"] for i in fulfilled),
        "totalQuantity": sum(fulfilled.values()),
        "trackingInfo": tracking_info,
        "fulfillmentLineItems": fli_records,
        "fulfillmentOrderIds": [fo["id"] for fo, _ in requests],
    }
    order["fulfillments"].append(record)
    for fo, _ in requests:
        fo["fulfillmentIds"].append(fid)
    return record


def _ship_inventory(shop: ShopState, li: dict[str, Any], qty: int) -> None:
    """Shipped units leave committed (and on hand)."""
    _release_inventory(shop, li, qty, restock=False)


def create_fulfillment(
    shop: ShopState, fulfillment_input: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """``fulfillmentCreate``: fulfil whole fulfillment orders or given FO line items.

    Returns:
        (fulfillment record or None, UserError dicts on ``["fulfillment"]``).
    """
    groups = fulfillment_input.get("lineItemsByFulfillmentOrder") or []
    if not groups:
        return None, [_error(["fulfillment"], "Line items by fulfillment order can't be blank")]
    requests: list[tuple[dict[str, Any], dict[str, int] | None]] = []
    order: dict[str, Any] | None = None
    for group in groups:
        found = _fulfillment_order(shop, str(group.get("fulfillmentOrderId")))
        if found is None:
            return None, [_error(["fulfillment"], "Fulfillment order does not exist.")]
        fo_order, fo = found
        if order is not None and fo_order is not order:
            return None, [
                _error(["fulfillment"], "All fulfillment orders must belong to the same order.")
            ]
        order = fo_order
        if fo["status"] not in ("OPEN", "IN_PROGRESS"):
            return None, [
                _error(
                    ["fulfillment"],
                    f"Fulfillment order {gid_number(fo['id'])} has an unfulfillable status= "
                    f"{fo['status'].lower()}.",
                )
            ]
        items = group.get("fulfillmentOrderLineItems")
        if items is None:
            if all(fli["remainingQuantity"] == 0 for fli in fo["lineItems"]):
                return None, [
                    _error(
                        ["fulfillment"], "Invalid fulfillment order line item quantity requested."
                    )
                ]
            requests.append((fo, None))
            continue
        wanted: dict[str, int] = {}
        by_id = {fli["id"]: fli for fli in fo["lineItems"]}
        for item in items:
            fli = by_id.get(str(item.get("id")))
            qty = int(item.get("quantity") or 0)
            if fli is None or qty <= 0 or wanted.get(fli["id"], 0) + qty > fli["remainingQuantity"]:
                return None, [
                    _error(
                        ["fulfillment"], "Invalid fulfillment order line item quantity requested."
                    )
                ]
            wanted[fli["id"]] = wanted.get(fli["id"], 0) + qty
        requests.append((fo, wanted))
    assert order is not None
    before = order["displayFulfillmentStatus"]
    record = _fulfill_lines(shop, order, requests, fulfillment_input.get("trackingInfo") or {})
    refresh(shop, order)
    topics = (
        ["orders/fulfilled"] if order["displayFulfillmentStatus"] == "FULFILLED" != before else []
    )
    _changed(shop, order, *topics)
    return record, []


def _find_fulfillment(shop: ShopState, gid: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    for order in shop.orders.values():
        for f in order["fulfillments"]:
            if f["id"] == gid:
                return order, f
    return None


def create_refund(
    shop: ShopState,
    order: dict[str, Any],
    *,
    lines: Mapping[str, int],
    shipping: om.Bag | str | None,
    transactions: Sequence[Mapping[str, Any]] | None,
    note: str | None,
    restock_type: str = "NO_RESTOCK",
    restock_types: Mapping[str, str] | None = None,
    location_ids: Mapping[str, str | None] | None = None,
    allow_over_refunding: bool = False,
    emit: bool = True,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Create a refund: take back units and/or shipping, and refund money.

    Args:
        shop: The shop.
        order: The order record.
        lines: Line item gid -> quantity (validated here).
        shipping: ``"full"``, a pre-tax amount (:class:`~.ordermath.Bag`), or ``None``.
        transactions: ``OrderTransactionInput``-like dicts with ``amount`` in presentment
            currency (``gateway``, ``kind``, ``parentId``); ``None`` refunds the suggested amount
            from the first successful payment.
        note: The refund note.
        restock_type: Restock type for lines not in ``restock_types``.
        restock_types: Per line gid restock type.
        location_ids: Per line gid restock location.
        allow_over_refunding: Skip the net-payment check.
        emit: Emit ``refunds/create`` and ``orders/updated`` (``orderCancel`` emits its own).

    Returns:
        (refund record or None, UserError dicts).
    """
    calc = _calc(order)
    cur = calc.currencies
    before = _refunded(order)
    by_id = {li["id"]: li for li in order["lineItems"]}
    qty_by_index: dict[int, int] = {}
    for n, (line_id, qty) in enumerate(lines.items()):
        li = by_id.get(line_id)
        if li is None:
            return None, [_error(["refundLineItems", n, "lineItemId"], "Line item does not exist")]
        already = qty_by_index.get(li["_index"], 0)
        if qty < 0 or already + qty > li["refundableQuantity"]:
            return None, [
                _error(["refundLineItems", n, "quantity"],
                       "Quantity cannot refund more items than were purchased")
            ]  # fmt: skip
        if qty:
            qty_by_index[li["_index"]] = already + qty
    if isinstance(shipping, om.Bag):
        left = om.bag_sum(
            (s.discounted_price - before.shipping.get(s.index, om.Bag())).clamp_min_zero()
            for s in calc.shipping_lines
        )
        if shipping.presentment > left.presentment:
            return None, [
                _error(["shipping", "amount"],
                       "Shipping refund amount is greater than the refundable shipping")
            ]  # fmt: skip
    amounts = om.refund_amounts(calc, before, qty_by_index, shipping)
    suggested = om.suggested_refund_total(calc, amounts)
    rate = _market_rate_to_shop(shop, order)
    succ = [t for t in order["transactions"] if t["status"] == "SUCCESS"]
    payments = [t for t in succ if t["kind"] in ("SALE", "CAPTURE")]
    if transactions is None:
        net = Decimal(order["netPaymentSet"]["presentmentMoney"]["amount"])
        money = min(suggested.presentment, max(net, Decimal(0)))
        parent = payments[0] if payments else None
        txn_inputs: list[dict[str, Any]] = []
        if money > 0 and parent is not None:
            txn_inputs = [{"amount": money, "gateway": parent["gateway"], "kind": "REFUND",
                           "parentId": parent["id"]}]  # fmt: skip
    else:
        txn_inputs = [dict(t) for t in transactions]
    money_bags = []
    for n, t in enumerate(txn_inputs):
        kind = t.get("kind") or "REFUND"
        if kind not in ("REFUND", "VOID"):
            return None, [_error(["transactions", n, "kind"], "Kind must be refund or void")]
        parent_id = t.get("parentId")
        if parent_id and not any(p["id"] == parent_id for p in order["transactions"]):
            return None, [
                _error(["transactions", n, "parentId"], "Parent transaction does not exist")
            ]
        amount = om.dec(t.get("amount") or 0)
        bag = (
            suggested
            if amount == suggested.presentment and transactions is None
            else cur.from_presentment(amount, rate)
        )
        money_bags.append(bag)
    refunding = om.bag_sum(money_bags)
    net_payment = Decimal(order["netPaymentSet"]["presentmentMoney"]["amount"])
    if refunding.presentment > net_payment and not allow_over_refunding:
        return None, [
            _error(
                None,
                f"Refund amount {_fmt_money(refunding.presentment, cur.presentment)} is greater "
                f"than net payment received {_fmt_money(net_payment, cur.presentment)}",
            )
        ]

    ts = shop.now_iso()
    rid = shop.new_gid("Refund")
    txn_ids = []
    for t, bag in zip(txn_inputs, money_bags, strict=True):
        parent = next((p for p in order["transactions"] if p["id"] == t.get("parentId")), None)
        gateway = t.get("gateway") or (parent or {}).get("gateway") or "manual"
        rec = _add_transaction(shop, order, t.get("kind") or "REFUND", "SUCCESS", bag, gateway,
                               parent_id=t.get("parentId"))  # fmt: skip
        txn_ids.append(rec["id"])
    refund_lines = []
    index_to_id = {li["_index"]: li["id"] for li in order["lineItems"]}
    for rl in amounts.lines:
        line_id = index_to_id[rl.line_index]
        rtype = (restock_types or {}).get(line_id) or restock_type
        li = by_id[line_id]
        if rtype in _RESTOCKING:
            _release_inventory(shop, li, rl.quantity, restock=True)
        refund_lines.append(
            {
                "__typename": "RefundLineItem",
                "id": shop.new_gid("RefundLineItem"),
                "_orderId": order["id"],
                "lineItemId": line_id,
                "locationId": (location_ids or {}).get(line_id),
                "quantity": rl.quantity,
                "restockType": rtype,
                "restocked": rtype in _RESTOCKING,
                "priceSet": cur.bag(rl.unit_price),
                # Recorded (refund-create-full-parity): a NO_RESTOCK line of a 10.00 item
                # answers subtotalSet 0.0 though its money is refunded. Other restock types
                # answer the line's subtotal (docs/sandbox-shopify.md, choices).
                "subtotalSet": cur.bag(om.Bag() if rtype == "NO_RESTOCK" else rl.subtotal),
                "totalTaxSet": cur.bag(rl.total_tax),
            }
        )
    ship_index_to_id = {s["_index"]: s["id"] for s in order["shippingLines"]}
    refund_shipping = []
    for idx, amount_bag in amounts.shipping.items():
        refund_shipping.append(
            {
                "__typename": "RefundShippingLine",
                "id": shop.new_gid("RefundShippingLine"),
                "_orderId": order["id"],
                "shippingLineId": ship_index_to_id[idx],
                "subtotalAmountSet": cur.bag(amount_bag),
                "taxAmountSet": cur.bag(
                    amounts.shipping_tax if len(amounts.shipping) == 1 else om.Bag()
                ),
            }
        )
    record = {
        "__typename": "Refund",
        "id": rid,
        "legacyResourceId": str(gid_number(rid)),
        "_orderId": order["id"],
        "note": note,
        "createdAt": ts,
        "updatedAt": ts,
        "processedAt": ts,
        "totalRefundedSet": cur.bag(refunding),
        "refundLineItems": refund_lines,
        "refundShippingLines": refund_shipping,
        "transactionIds": txn_ids,
    }
    order["refunds"].append(record)
    after = om.RefundedSoFar(
        line_qty={**before.line_qty},
        shipping={**before.shipping},
        adjustments=before.adjustments,
    )
    for idx, qty in qty_by_index.items():
        after.line_qty[idx] = after.line_qty.get(idx, 0) + qty
    for idx, bag in amounts.shipping.items():
        after.shipping[idx] = after.shipping.get(idx, om.Bag()) + bag
    # Money refunded beyond what the refund takes back is an order adjustment (the current total
    # drops with it); items taken back without money leave a balance owed to the customer.
    excess = refunding - suggested
    if excess.presentment > 0:
        after.adjustments = after.adjustments + excess
    _store_refunded(order, after)
    refresh(shop, order)
    _shrink_fulfillment_orders(shop, order, ts)
    refresh(shop, order)
    if emit:
        _changed(shop, order)
        shop.emit("refunds/create", _refund_payload(order, record))
    return record, []


def _shrink_fulfillment_orders(shop: ShopState, order: dict[str, Any], ts: str) -> None:
    """Refunded units leave the open fulfillment orders (remaining never exceeds unfulfilled)."""
    for li in order["lineItems"]:
        excess = (
            sum(
                fli["remainingQuantity"]
                for fo in order["fulfillmentOrders"]
                if fo["status"] in ("OPEN", "IN_PROGRESS")
                for fli in fo["lineItems"]
                if fli["lineItemId"] == li["id"]
            )
            - li["unfulfilledQuantity"]
        )
        for fo in reversed(order["fulfillmentOrders"]):
            if excess <= 0 or fo["status"] not in ("OPEN", "IN_PROGRESS"):
                continue
            for fli in fo["lineItems"]:
                if fli["lineItemId"] == li["id"] and excess > 0:
                    take = min(excess, fli["remainingQuantity"])
                    fli["remainingQuantity"] -= take
                    excess -= take
                    fo["updatedAt"] = ts
    for fo in order["fulfillmentOrders"]:
        if fo["status"] in ("OPEN", "IN_PROGRESS") and all(
            fli["remainingQuantity"] == 0 for fli in fo["lineItems"]
        ):
            fo["status"] = "CLOSED"
            fo["updatedAt"] = ts


def update_order(
    shop: ShopState, data: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """``orderUpdate``: email, phone, note, tags, shipping address, attributes, metafields."""
    data = _plain(dict(data))
    order = _order_or_none(shop, data.get("id"))
    if order is None:
        return None, [_error(["id"], "Order does not exist")]
    for key in ("email", "phone", "note", "poNumber"):
        if key in data:
            order[key] = data[key]
    if "tags" in data and data["tags"] is not None:
        order["tags"] = sorted(dict.fromkeys(data["tags"]), key=str.lower)
    if data.get("shippingAddress"):
        order["shippingAddress"] = _address(shop, data["shippingAddress"])
    if data.get("customAttributes") is not None:
        order["customAttributes"] = [
            {"key": a["key"], "value": a["value"]} for a in data["customAttributes"]
        ]
    for meta in data.get("metafields") or []:
        _set_metafield(shop, order, meta)
    refresh(shop, order)
    _changed(shop, order)
    return order, []


def set_closed(
    shop: ShopState, order_gid: str, closed: bool
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """``orderClose`` / ``orderOpen`` (a no-op when already so)."""
    order = _order_or_none(shop, order_gid)
    if order is None:
        return None, [_error(["id"], "Order does not exist")]
    if order["closed"] == closed:
        return order, []
    if not closed and order["cancelledAt"]:
        return order, [_error(["id"], "Cannot reopen a cancelled order")]
    order["closed"] = closed
    order["closedAt"] = shop.now_iso() if closed else None
    _changed(shop, order, auto_close=False)
    return order, []


# -- reads -----------------------------------------------------------------------------------------


def _fulfillment_aliases(order: Mapping[str, Any]) -> list[str]:
    return {
        "UNFULFILLED": ["unfulfilled", "unshipped"],
        "PARTIALLY_FULFILLED": ["partial", "unfulfilled"],
        "FULFILLED": ["fulfilled", "shipped"],
    }.get(order["displayFulfillmentStatus"], [order["displayFulfillmentStatus"].lower()])


def _status_aliases(order: Mapping[str, Any]) -> list[str]:
    out = ["closed"] if order["closed"] else ["open", "not_closed"]
    if order["cancelledAt"]:
        out = [s for s in out if s != "open"] + ["cancelled"]
    return out


def _order_fields(query: str | None) -> dict[str, Field]:
    fields: dict[str, Field] = {
        "updated_at": Field(lambda o: o["updatedAt"], "time"),
        "created_at": Field(lambda o: o["createdAt"], "time"),
        "processed_at": Field(lambda o: o["processedAt"], "time"),
        "financial_status": Field(lambda o: (o["displayFinancialStatus"] or "").lower() or None),
        "fulfillment_status": Field(_fulfillment_aliases),
        "status": Field(_status_aliases),
        "tag": Field(lambda o: o["tags"], "tag"),
        "tag_not": Field(lambda o: o["tags"], "tag", negate=True),
        "name": Field(lambda o: [o["name"], o["name"].lstrip("#")]),
        "email": Field(lambda o: o["email"]),
        "test": Field(lambda o: o["test"], "boolean"),
        "id": Field(lambda o: o["id"], "id"),
        "sku": Field(lambda o: [li["sku"] for li in o["lineItems"] if li["sku"]]),
        "customer_id": Field(lambda o: o["customerId"], "id"),
        "source_name": Field(lambda o: o["sourceName"]),
        "source_identifier": Field(lambda o: o["sourceIdentifier"]),
        "gateway": Field(lambda o: o["paymentGatewayNames"]),
        "discount_code": Field(lambda o: o["discountCodes"]),
        "po_number": Field(lambda o: o["poNumber"]),
        "current_total_price": Field(
            lambda o: o["currentTotalPriceSet"]["shopMoney"]["amount"], "number"
        ),
    }
    # metafields.{namespace}.{key} filters: one field per name the query uses.
    try:
        names = {t.field for t in terms(parse(query or "")) if t.field}
    except ValueError:
        names = set()
    for name in names:
        if name.startswith("metafields.") and name.count(".") >= 2:
            _, ns, key = name.split(".", 2)
            fields[name] = Field(_metafield_getter(ns, key))
    return fields


def _metafield_getter(ns: str, key: str) -> Callable[[Mapping[str, Any]], Any]:
    def get(o: Mapping[str, Any]) -> Any:
        for mf in o.get("metafields") or []:
            if mf["namespace"] == ns and mf["key"] == key:
                return mf["value"]
        return None

    return get


def _order_text(o: Mapping[str, Any]) -> list[str]:
    words = [o["name"], o["email"] or "", o["note"] or ""]
    words += [li["title"] for li in o["lineItems"]] + [li["sku"] or "" for li in o["lineItems"]]
    return words


_SORTS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "UPDATED_AT": lambda o: o["updatedAt"],
    "CREATED_AT": lambda o: o["createdAt"],
    "PROCESSED_AT": lambda o: o["processedAt"],
    "ID": lambda o: gid_number(o["id"]),
    "RELEVANCE": lambda o: gid_number(o["id"]),
    "ORDER_NUMBER": lambda o: o["number"],
    "TOTAL_PRICE": lambda o: Decimal(o["totalPriceSet"]["shopMoney"]["amount"]),
    "CURRENT_TOTAL_PRICE": lambda o: Decimal(o["currentTotalPriceSet"]["shopMoney"]["amount"]),
    "FINANCIAL_STATUS": lambda o: o["displayFinancialStatus"] or "",
    "FULFILLMENT_STATUS": lambda o: o["displayFulfillmentStatus"],
    "TOTAL_ITEMS_QUANTITY": lambda o: o["subtotalLineItemsQuantity"],
    "PO_NUMBER": lambda o: o["poNumber"] or "",
    "CUSTOMER_NAME": lambda o: (
        (o["billingAddress"] or o["shippingAddress"] or {}).get("name") or ""
    ),
    "DESTINATION": lambda o: (o["shippingAddress"] or {}).get("country") or "",
}


def matching_orders(
    shop: ShopState, query: str | None, warn: Callable[[list[dict[str, str]]], None] | None = None
) -> list[dict[str, Any]]:
    """The shop's orders a ``query:`` string selects (ignored fields reported through ``warn``)."""
    compiled = compile_search(query, _order_fields(query), default=_order_text)
    if compiled.warnings and warn is not None:
        warn(compiled.warnings)
    if not query:
        return list(shop.orders.values())
    return [o for o in shop.orders.values() if consistency.searchable(shop, o, compiled.matches)]


def _warn_into(
    info: GraphQLResolveInfo, query: str | None
) -> Callable[[list[dict[str, str]]], None]:
    def warn(warnings: list[dict[str, str]]) -> None:
        sink = getattr(info.context, "search_warnings", None)
        if isinstance(sink, list):
            entry: dict[str, Any] = {"path": list(info.path.as_list()), "query": query}
            parsed = parsed_term(query)
            if parsed is not None:
                entry["parsed"] = parsed
            entry["warnings"] = warnings
            sink.append(entry)

    return warn


def _sorted_page(
    records: list[dict[str, Any]], args: Mapping[str, Any], sort_key: str | None
) -> dict[str, Any]:
    value = _SORTS.get(sort_key or "ID", _SORTS["ID"])

    def key(r: Mapping[str, Any]) -> tuple[Any, int]:
        return (value(r), gid_number(r["id"]))

    ordered = sorted(records, key=key)

    def cursor_value(r: dict[str, Any]) -> Any:
        v = value(r)
        return str(v) if isinstance(v, Decimal) else v

    return connection(
        ordered,
        first=args.get("first"),
        after=args.get("after"),
        last=args.get("last"),
        before=args.get("before"),
        reverse=bool(args.get("reverse")),
        sort_value=cursor_value,
    )


def _page(items: Sequence[dict[str, Any]], args: Mapping[str, Any]) -> dict[str, Any]:
    return connection(
        list(items),
        first=args.get("first"),
        after=args.get("after"),
        last=args.get("last"),
        before=args.get("before"),
        reverse=bool(args.get("reverse")),
    )


def _q_order(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _shop_of(info).orders.get(id)


def _q_orders(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    shop = _shop_of(info)
    query = args.get("query")
    records = matching_orders(shop, query, _warn_into(info, query))
    return _sorted_page(records, args, args.get("sortKey") or "PROCESSED_AT")


def _q_orders_count(
    _: Any, info: GraphQLResolveInfo, query: str | None = None, limit: int | None = None, **__: Any
) -> dict[str, Any]:
    n = len(matching_orders(_shop_of(info), query, _warn_into(info, query)))
    if limit is not None and n > limit:
        return {"count": limit, "precision": "AT_LEAST"}
    return {"count": n, "precision": "EXACT"}


def _q_fulfillment_order(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    found = _fulfillment_order(_shop_of(info), id)
    return found[1] if found else None


def _q_customer(_: Any, info: GraphQLResolveInfo, id: str) -> Any:
    return _customers(_shop_of(info)).get(id)


# -- resolvers: fields -----------------------------------------------------------------------------


def _parent_order(obj: Mapping[str, Any], info: GraphQLResolveInfo) -> dict[str, Any] | None:
    return _shop_of(info).orders.get(obj.get("_orderId") or "")


def _line_by_id(order: Mapping[str, Any] | None, gid: str | None) -> dict[str, Any] | None:
    if order is None:
        return None
    return next((li for li in order["lineItems"] if li["id"] == gid), None)


def _o_line_items(o: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _page(o["lineItems"], args)


def _o_shipping_lines(o: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    lines = (
        o["shippingLines"]
        if args.get("includeRemovals")
        else [s for s in o["shippingLines"] if not s["isRemoved"]]
    )
    return _page(lines, args)


def _o_discount_applications(
    o: dict[str, Any], _: GraphQLResolveInfo, **args: Any
) -> dict[str, Any]:
    return _page(o["discountApplications"], args)


def _o_fulfillment_orders(o: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    fos = o["fulfillmentOrders"]
    if args.get("displayable"):
        fos = [fo for fo in fos if fo["status"] not in ("CANCELLED", "INCOMPLETE")]
    return _page(fos, args)


def _first(items: Sequence[Any], first: int | None) -> list[Any]:
    return list(items) if first is None else list(items)[:first]


def _o_fulfillments(
    o: dict[str, Any], _: GraphQLResolveInfo, first: int | None = None, **__: Any
) -> list[Any]:
    return _first(o["fulfillments"], first)


def _o_refunds(o: dict[str, Any], _: GraphQLResolveInfo, first: int | None = None) -> list[Any]:
    return _first(o["refunds"], first)


def _o_transactions(
    o: dict[str, Any], _: GraphQLResolveInfo, first: int | None = None,
    capturable: bool | None = None, **__: Any,
) -> list[Any]:  # fmt: skip
    txns = o["transactions"]
    if capturable:
        txns = [t for t in txns if t["kind"] == "AUTHORIZATION" and t["status"] == "SUCCESS"
                and o["capturable"]]  # fmt: skip
    return _first(txns, first)


def _o_customer(o: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _customers(_shop_of(info)).get(o.get("customerId") or "")


def _li_variant(li: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop_of(info).variants.get(li.get("variantId") or "")


def _li_product(li: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop_of(info).products.get(li.get("productId") or "")


def _li_discounted_total(
    li: dict[str, Any], _: GraphQLResolveInfo, withCodeDiscounts: bool = False
) -> Any:
    return li["discountedTotalWithCodesSet"] if withCodeDiscounts else li["discountedTotalSet"]


def _tax_lines(obj: dict[str, Any], _: GraphQLResolveInfo, first: int | None = None) -> list[Any]:
    return _first(obj["taxLines"], first)


def _owning_order(r: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _parent_order(r, info)


def _refund_lines(r: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _page(r["refundLineItems"], args)


def _refund_shipping(r: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _page(r["refundShippingLines"], args)


def _refund_transactions(
    r: dict[str, Any], info: GraphQLResolveInfo, **args: Any
) -> dict[str, Any]:
    order = _parent_order(r, info) or {"transactions": []}
    return _page([t for t in order["transactions"] if t["id"] in r["transactionIds"]], args)


def _rli_line(rli: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _line_by_id(_parent_order(rli, info), rli["lineItemId"])


def _location(obj: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop_of(info).locations.get(obj.get("locationId") or "")


def _rsl_shipping(rsl: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    order = _parent_order(rsl, info) or {"shippingLines": []}
    return next((s for s in order["shippingLines"] if s["id"] == rsl["shippingLineId"]), None)


def _f_tracking(f: dict[str, Any], _: GraphQLResolveInfo, first: int | None = None) -> list[Any]:
    return _first(f["trackingInfo"], first)


def _f_line_items(f: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _page(f["fulfillmentLineItems"], args)


def _fli_line(fli: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _line_by_id(_parent_order(fli, info), fli["lineItemId"])


def _fo_line_items(fo: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    return _page(fo["lineItems"], args)


def _fo_fulfillments(fo: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    order = _parent_order(fo, info) or {"fulfillments": []}
    return _page([f for f in order["fulfillments"] if f["id"] in fo["fulfillmentIds"]], args)


def _fo_location(assigned: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop_of(info).locations.get(assigned.get("locationId") or "")


def _foli_variant(foli: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return _shop_of(info).variants.get(foli.get("variantId") or "")


def _txn_parent(t: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    order = _parent_order(t, info) or {"transactions": []}
    return next((p for p in order["transactions"] if p["id"] == t.get("parentTransactionId")), None)


def _legacy_id(rec: dict[str, Any], _: GraphQLResolveInfo) -> str:
    return str(gid_number(rec["id"]))


def _by_typename(value: Any, _info: GraphQLResolveInfo, _type: Any) -> str | None:
    name = value.get("__typename") if isinstance(value, Mapping) else None
    return str(name) if name else None


# -- resolvers: mutations --------------------------------------------------------------------------


def _m_order_create(
    _: Any, info: GraphQLResolveInfo, order: dict[str, Any], options: dict[str, Any] | None = None
) -> dict[str, Any]:
    record, errors = create_order(_shop_of(info), order, options)
    return {"order": record, "userErrors": errors}


def _m_mark_as_paid(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    order, errors = mark_as_paid(_shop_of(info), input["id"])
    return {"order": order, "userErrors": _uncoded(errors)}


def _m_order_cancel(_: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    job, errors = cancel_order(
        _shop_of(info),
        args["orderId"],
        reason=args["reason"],
        refund=args.get("refund"),
        refund_method=args.get("refundMethod"),
        restock=bool(args["restock"]),
        staff_note=args.get("staffNote"),
    )
    return {"job": job, "orderCancelUserErrors": errors, "userErrors": _uncoded(errors)}


def _m_order_update(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    order, errors = update_order(_shop_of(info), input)
    return {"order": order, "userErrors": errors}


def _m_order_close(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    order, errors = set_closed(_shop_of(info), input["id"], True)
    return {"order": order, "userErrors": errors}


def _m_order_open(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    order, errors = set_closed(_shop_of(info), input["id"], False)
    return {"order": order, "userErrors": errors}


def _m_fulfillment_create(
    _: Any, info: GraphQLResolveInfo, fulfillment: dict[str, Any], message: str | None = None
) -> dict[str, Any]:
    record, errors = create_fulfillment(_shop_of(info), _plain(fulfillment))
    return {"fulfillment": record, "userErrors": errors}


def _m_tracking_update(
    _: Any, info: GraphQLResolveInfo, fulfillmentId: str, trackingInfoInput: dict[str, Any],
    notifyCustomer: bool | None = None,
) -> dict[str, Any]:  # fmt: skip
    shop = _shop_of(info)
    found = _find_fulfillment(shop, fulfillmentId)
    if found is None:
        missing = _error(["fulfillmentId"], "Fulfillment does not exist.")
        return {"fulfillment": None, "userErrors": [missing]}
    order, record = found
    t = _plain(trackingInfoInput)
    numbers = list(t.get("numbers") or ([t["number"]] if t.get("number") else []))
    urls = list(t.get("urls") or ([t["url"]] if t.get("url") else []))
    record["trackingInfo"] = [
        {"number": n, "url": urls[i] if i < len(urls) else None, "company": t.get("company")}
        for i, n in enumerate(numbers)
    ]
    record["updatedAt"] = shop.now_iso()
    _changed(shop, order)
    return {"fulfillment": record, "userErrors": []}


def _refund_args(shop: ShopState, order: dict[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    cur = _currencies(order)
    lines: dict[str, int] = {}
    restock_types: dict[str, str] = {}
    locations: dict[str, str | None] = {}
    for rl in data.get("refundLineItems") or []:
        lines[rl["lineItemId"]] = lines.get(rl["lineItemId"], 0) + int(rl["quantity"])
        restock_types[rl["lineItemId"]] = rl.get("restockType") or "NO_RESTOCK"
        locations[rl["lineItemId"]] = rl.get("locationId")
    shipping: om.Bag | str | None = None
    ship_in = data.get("shipping") or {}
    if ship_in.get("fullRefund"):
        shipping = "full"
    elif ship_in.get("amount") is not None:
        shipping = cur.from_presentment(
            om.dec(ship_in["amount"]), _market_rate_to_shop(shop, order)
        )
    return {
        "lines": lines,
        "shipping": shipping,
        "transactions": data.get("transactions") or [],
        "note": data.get("note"),
        "restock_types": restock_types,
        "location_ids": locations,
        "allow_over_refunding": bool(data.get("allowOverRefunding")),
    }


def _m_refund_create(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    shop = _shop_of(info)
    data = _plain(input)

    def run() -> dict[str, Any]:
        order = _order_or_none(shop, data.get("orderId"))
        if order is None:
            return {"refund": None, "order": None,
                    "userErrors": [_error(["orderId"], "Order does not exist")]}  # fmt: skip
        record, errors = create_refund(shop, order, **_refund_args(shop, order, data))
        return {"refund": record, "order": order, "userErrors": errors}

    def mismatch() -> dict[str, Any]:
        return {
            "refund": None,
            "order": _order_or_none(shop, data.get("orderId")),
            "userErrors": [
                _error(None, "The same idempotency key was used with different parameters.")
            ],
        }

    return idempotent(info, {"input": data}, run, mismatch)


# -- registration ----------------------------------------------------------------------------------


def _set(schema: GraphQLSchema, type_name: str, field: str, fn: Callable[..., Any]) -> None:
    t = schema.type_map.get(type_name)
    if isinstance(t, GraphQLObjectType) and field in t.fields:
        t.fields[field].resolve = fn


def register(schema: GraphQLSchema) -> None:
    """Attach the order resolvers to the twin's schema (built from ``schema_orders.graphql``)."""
    queries: dict[str, Callable[..., Any]] = {
        "order": _q_order,
        "orders": _q_orders,
        "ordersCount": _q_orders_count,
        "fulfillmentOrder": _q_fulfillment_order,
        "customer": _q_customer,
    }
    for name, fn in queries.items():
        _set(schema, "Query", name, fn)
    mutations: dict[str, Callable[..., Any]] = {
        "orderCreate": _m_order_create,
        "orderMarkAsPaid": _m_mark_as_paid,
        "orderCancel": _m_order_cancel,
        "orderUpdate": _m_order_update,
        "orderClose": _m_order_close,
        "orderOpen": _m_order_open,
        "fulfillmentCreate": _m_fulfillment_create,
        "fulfillmentTrackingInfoUpdate": _m_tracking_update,
        "refundCreate": _m_refund_create,
    }
    for name, fn in mutations.items():
        _set(schema, "Mutation", name, fn)
    fields: dict[str, dict[str, Callable[..., Any]]] = {
        "Order": {
            "lineItems": _o_line_items,
            "shippingLines": _o_shipping_lines,
            "discountApplications": _o_discount_applications,
            "fulfillmentOrders": _o_fulfillment_orders,
            "fulfillments": _o_fulfillments,
            "refunds": _o_refunds,
            "transactions": _o_transactions,
            "customer": _o_customer,
            "metafield": resolve_metafield,
            "metafields": resolve_metafields,
            "taxLines": _tax_lines,
        },
        "LineItem": {
            "variant": _li_variant,
            "product": _li_product,
            "discountedTotalSet": _li_discounted_total,
            "taxLines": _tax_lines,
        },
        "Refund": {
            "order": _owning_order,
            "refundLineItems": _refund_lines,
            "refundShippingLines": _refund_shipping,
            "transactions": _refund_transactions,
        },
        "RefundLineItem": {"lineItem": _rli_line, "location": _location},
        "RefundShippingLine": {"shippingLine": _rsl_shipping},
        "Fulfillment": {
            "order": _owning_order,
            "trackingInfo": _f_tracking,
            "fulfillmentLineItems": _f_line_items,
            "location": _location,
        },
        "FulfillmentLineItem": {"lineItem": _fli_line},
        "FulfillmentOrder": {
            "order": _owning_order,
            "lineItems": _fo_line_items,
            "fulfillments": _fo_fulfillments,
        },
        "FulfillmentOrderAssignedLocation": {"location": _fo_location},
        "FulfillmentOrderLineItem": {"lineItem": _fli_line, "variant": _foli_variant},
        "OrderTransaction": {"parentTransaction": _txn_parent},
    }
    for type_name, resolvers in fields.items():
        for field, fn in resolvers.items():
            _set(schema, type_name, field, fn)
    for type_name in ("Order", "Customer", "Refund", "Fulfillment"):
        _set(schema, type_name, "legacyResourceId", _legacy_id)
    for abstract in ("DiscountApplication", "PricingValue"):
        t = schema.type_map.get(abstract)
        if t is not None:
            t.resolve_type = _by_typename  # type: ignore[attr-defined]


# -- Python helpers for seeding and tests ----------------------------------------------------------


def place_order(twin_or_shop: Any, input: Mapping[str, Any], *, shop_name: str | None = None,
                options: Mapping[str, Any] | None = None) -> str:  # fmt: skip
    """Create an order through the same code path as ``orderCreate``; returns its gid.

    Args:
        twin_or_shop: A ``ShopState``, or the twin (with ``shop_name`` unless it has one shop).
        input: An ``OrderCreateOrderInput`` dict (GraphQL names; amounts as strings).
        shop_name: The shop, when a twin is given.
        options: An ``OrderCreateOptionsInput`` dict.

    Raises:
        ValueError: The input was refused (the userErrors are in the message).
    """
    shop = _as_shop(twin_or_shop, shop_name)
    with shop.twin.lock:  # the webhook thread reads shop state under this lock
        record, errors = create_order(shop, input, options)
    if record is None:
        raise ValueError(f"orderCreate refused the order: {json.dumps(errors)}")
    gid: str = record["id"]
    return gid


def _ok(result: tuple[Any, list[dict[str, Any]]], what: str) -> Any:
    value, errors = result
    if errors:
        raise ValueError(f"{what} failed: {json.dumps(errors)}")
    return value


def mark_paid(shop: ShopState, order_gid: str) -> dict[str, Any]:
    """``orderMarkAsPaid`` for seeding; returns the order record.

    Raises:
        ValueError: Shopify would refuse it.
    """
    with shop.twin.lock:
        order: dict[str, Any] = _ok(mark_as_paid(shop, order_gid), "orderMarkAsPaid")
    return order


def fulfill(
    shop: ShopState,
    order_gid: str,
    lines: Mapping[str, int] | None = None,
    *,
    tracking_number: str | None = None,
    tracking_company: str | None = None,
) -> dict[str, Any]:
    """Fulfil an order (every remaining unit, or ``{line gid or sku: qty}``); returns the
    fulfillment record.

    Raises:
        ValueError: Nothing to fulfil, or more than remains.
    """
    order = shop.orders[order_gid]
    groups: list[dict[str, Any]] = []
    for fo in order["fulfillmentOrders"]:
        if fo["status"] not in ("OPEN", "IN_PROGRESS"):
            continue
        if lines is None:
            if any(fli["remainingQuantity"] for fli in fo["lineItems"]):
                groups.append({"fulfillmentOrderId": fo["id"]})
            continue
        items = []
        for key, qty in lines.items():
            line = _line_for(order, key)
            for fli in fo["lineItems"]:
                if fli["lineItemId"] == line["id"] and qty:
                    items.append({"id": fli["id"], "quantity": qty})
        if items:
            groups.append({"fulfillmentOrderId": fo["id"], "fulfillmentOrderLineItems": items})
    tracking: dict[str, Any] = {}
    if tracking_number:
        tracking["number"] = tracking_number
    if tracking_company:
        tracking["company"] = tracking_company
    with shop.twin.lock:
        record: dict[str, Any] = _ok(
            create_fulfillment(
                shop, {"lineItemsByFulfillmentOrder": groups, "trackingInfo": tracking}
            ),
            "fulfillmentCreate",
        )
    return record


def cancel(
    shop: ShopState,
    order_gid: str,
    *,
    reason: str = "CUSTOMER",
    refund: bool = False,
    restock: bool = True,
    staff_note: str | None = None,
) -> dict[str, Any]:
    """``orderCancel`` for seeding; returns the order record.

    Raises:
        ValueError: Shopify would refuse it.
    """
    method = {"originalPaymentMethodsRefund": True} if refund else None
    with shop.twin.lock:
        _ok(
            cancel_order(shop, order_gid, reason=reason, refund_method=method, restock=restock,
                         staff_note=staff_note),
            "orderCancel",
        )  # fmt: skip
    return shop.orders[order_gid]


def _line_for(order: Mapping[str, Any], key: str) -> dict[str, Any]:
    for li in order["lineItems"]:
        if key in (li["id"], li["sku"]):
            line: dict[str, Any] = li
            return line
    raise ValueError(f"order {order['name']} has no line item {key!r}")


def refund(
    shop: ShopState,
    order_gid: str,
    lines: Mapping[str, int] | None = None,
    shipping: bool = False,
    *,
    note: str | None = None,
    restock: bool = False,
) -> dict[str, Any]:
    """Refund units (``{line gid or sku: qty}``) and/or all remaining shipping, returning the
    money Shopify would suggest (items, their taxes, shipping) to the first payment.

    Returns:
        The refund record.

    Raises:
        ValueError: Unknown line, more than refundable, or nothing paid to refund from.
    """
    order = shop.orders[order_gid]
    by_id: dict[str, int] = {}
    for key, qty in (lines or {}).items():
        line = _line_for(order, key)
        by_id[line["id"]] = by_id.get(line["id"], 0) + qty
    with shop.twin.lock:
        record: dict[str, Any] = _ok(
            create_refund(
                shop, order, lines=by_id, shipping="full" if shipping else None,
                transactions=None, note=note,
                restock_type="RETURN" if restock else "NO_RESTOCK",
            ),
            "refundCreate",
        )  # fmt: skip
    return record
