"""Orders in the Shopify twin: creating an order and every state change after it.

The arithmetic is in :mod:`.ordermath` (pure); this module owns the order records in
``ShopState.orders`` and the changes to them; :mod:`.order_schema` is their GraphQL face (the
``orders`` query, field resolvers, the mutations), built on the functions here. Beside it:
:mod:`.order_totals` (refresh: the figures on the record), :mod:`.order_inventory` (claims,
releases, fulfilment-order lines), :mod:`.order_customers`, :mod:`.order_payloads` (REST webhook
bodies) and :mod:`.order_values` (small shared values). Records are plain dicts keyed by
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
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from . import ordermath as om
from .metafields import set_metafield
from .order_customers import _address, _find_customer, _upsert_customer
from .order_inventory import (
    _claim_inventory,
    _fulfill_lines,
    _new_fulfillment_order,
    _release_inventory,
)
from .order_payloads import _refund_payload, webhook_payload
from .order_totals import (
    _calc,
    _currencies,
    _exchange_rates,
    _market_rate_to_shop,
    _refunded,
    _store_refunded,
    refresh,
    set_exchange_rate,
)
from .order_values import ORDER_NUMBER_START, _as_shop, _error, _fmt_money, _plain, _utc
from .state import ShopState, gid_number

__all__ = [
    "cancel",
    "create_order",
    "fulfill",
    "mark_paid",
    "order_tags_changed",
    "place_order",
    "refresh",
    "refund",
    "set_exchange_rate",
    "webhook_payload",
]


IDEMPOTENT_REQUIRED_FROM = "2026-04"
"""``refundCreate`` requires ``@idempotent`` from this API version on (its SDL description)."""

_RESTOCKING = ("RETURN", "CANCEL", "LEGACY_RESTOCK")


# -- materialising ---------------------------------------------------------------------------------


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


# -- creation --------------------------------------------------------------------------------------


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


def _in_orders(shop: ShopState, key: str, gid: str
               ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The record ``gid`` of an order's list ``key`` (``fulfillments``...), with its order."""
    for order in shop.orders.values():
        for record in order[key]:
            if record["id"] == gid:
                return order, record
    return None


def _fulfillment_order(shop: ShopState, gid: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    return _in_orders(shop, "fulfillmentOrders", gid)


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
    return _in_orders(shop, "fulfillments", gid)


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
