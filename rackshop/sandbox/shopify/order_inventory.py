"""Stock an order moves: units claimed when it is placed, released when cancelled or refunded with
restock, shipped when fulfilled; the order's fulfilment orders and the lines a fulfilment takes
from them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import ordermath as om
from .order_totals import _calc, _currencies
from .order_values import _error
from .state import ShopState, gid_number


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
