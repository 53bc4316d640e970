"""An order's figures: its currencies and exchange rates, the ordermath calculation of lines,
discounts, taxes, refunds and transactions, and refresh(), which writes every derived total and
status back onto the order record."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from . import ordermath as om
from .state import ShopState

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


def exchange_rates(shop: ShopState) -> dict[tuple[str, str], Decimal]:
    """A copy of the shop's market rates (``(from, to) -> to per from``)."""
    return dict(_exchange_rates(shop))


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
