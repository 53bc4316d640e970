"""Orders and refunds as Shopify's REST webhooks carry them (``orders/*``, ``refunds/create``)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .order_customers import _customers
from .order_values import ORDER_NUMBER_START, _rest_money
from .state import ShopState, gid_number


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
