"""Fulfilment operations beside ``orders.py``: ``fulfillmentTrackingInfoUpdateV2``, holds on
fulfillment orders (``fulfillmentOrderHold`` / ``fulfillmentOrderReleaseHold``,
``FulfillmentOrder.fulfillmentHolds``), ``FulfillmentOrder.merchantRequests``,
``Order.returns`` (empty) and ``orderDelete``.

Recorded: fulfillment-multi-tracking-info (V2 replaces every tracking number as V1 does; a fresh
fulfillment order answers ``fulfillmentHolds: []`` and no merchant requests; ``orderDelete``
answers the deleted id). A held fulfillment order is ``ON_HOLD`` (``fulfillmentCreate`` refuses it
through its status check) until every hold is released; the rest is the twin's reading of
Shopify's reference (docs/sandbox-shopify.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLResolveInfo, GraphQLSchema

from . import orders
from .order_schema import _m_tracking_update
from .order_values import _error, _plain, _shop_of
from .state import connection_from_args, set_resolvers

#: The app the twin's API clients are (holds answer it as ``heldByApp``).
TWIN_APP = {"__typename": "App", "id": "gid://shopify/App/1", "title": "rackshop"}

DISPLAY_REASONS = {
    "AWAITING_PAYMENT": "Awaiting payment",
    "HIGH_RISK_OF_FRAUD": "High risk of fraud",
    "INCORRECT_ADDRESS": "Incorrect address",
    "INVENTORY_OUT_OF_STOCK": "Inventory out of stock",
    "UNKNOWN_DELIVERY_DATE": "Unknown delivery date",
    "ONLINE_STORE_POST_PURCHASE_CROSS_SELL": "Online store post purchase cross sell",
    "AWAITING_RETURN_ITEMS": "Awaiting return items",
    "OTHER": "Other",
}
OPEN_ACTIONS = ("CREATE_FULFILLMENT", "MOVE", "HOLD", "SPLIT")
HELD_ACTIONS = ("RELEASE_HOLD", "HOLD", "MOVE")


def _actions(names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"action": a, "externalUrl": None} for a in names]


def _m_tracking_update_v2(
    root: Any,
    info: GraphQLResolveInfo,
    fulfillmentId: str,
    trackingInfoInput: dict[str, Any],
    notifyCustomer: bool | None = None,
) -> dict[str, Any]:
    """Recorded: the same answer and effect as ``fulfillmentTrackingInfoUpdate``."""
    return _m_tracking_update(root, info, fulfillmentId, trackingInfoInput, notifyCustomer)


def _not_found(field: str, code: str) -> dict[str, Any]:
    return _error([field], "Fulfillment order does not exist.", code)


def _m_hold(
    _: Any, info: GraphQLResolveInfo, id: str, fulfillmentHold: dict[str, Any]
) -> dict[str, Any]:
    shop = _shop_of(info)
    empty = {"fulfillmentHold": None, "fulfillmentOrder": None, "remainingFulfillmentOrder": None}
    found = orders._fulfillment_order(shop, id)
    if found is None:
        return {**empty, "userErrors": [_not_found("id", "FULFILLMENT_ORDER_NOT_FOUND")]}
    order, fo = found
    data = _plain(fulfillmentHold)
    holds = fo.setdefault("fulfillmentHolds", [])
    handle = data.get("handle") or ""
    if any(h["handle"] == handle for h in holds):
        return {
            **empty,
            "userErrors": [
                _error(
                    ["fulfillmentHold", "handle"],
                    f"The handle provided for the fulfillment hold is already in use by this app "
                    f"for another hold on this fulfillment order: {handle!r}.",
                    "DUPLICATE_FULFILLMENT_HOLD_HANDLE",
                )
            ],
        }
    if fo["status"] not in ("OPEN", "ON_HOLD", "SCHEDULED"):
        return {
            **empty,
            "userErrors": [
                _error(
                    ["id"],
                    f"Fulfillment order {fo['id'].rsplit('/', 1)[1]} cannot be put on hold in its "
                    f"current status ({fo['status'].lower()}).",
                    "FULFILLMENT_ORDER_NOT_FOUND",
                )
            ],
        }
    hold = {
        "__typename": "FulfillmentHold",
        "id": shop.new_gid("FulfillmentHold"),
        "handle": handle,
        "reason": data["reason"],
        "reasonNotes": data.get("reasonNotes"),
        "displayReason": DISPLAY_REASONS.get(data["reason"], data["reason"].title()),
        "heldByApp": TWIN_APP,
        "heldByRequestingApp": True,
    }
    holds.append(hold)
    fo["status"] = "ON_HOLD"
    fo["supportedActions"] = _actions(HELD_ACTIONS)
    fo["updatedAt"] = shop.now_iso()
    orders.refresh(shop, order)
    orders._changed(shop, order, auto_close=False)
    return {**empty, "fulfillmentHold": hold, "fulfillmentOrder": fo, "userErrors": []}


def _m_release(
    _: Any,
    info: GraphQLResolveInfo,
    id: str,
    holdIds: list[str] | None = None,
    externalId: str | None = None,
) -> dict[str, Any]:
    shop = _shop_of(info)
    found = orders._fulfillment_order(shop, id)
    if found is None:
        return {
            "fulfillmentOrder": None,
            "userErrors": [_not_found("id", "FULFILLMENT_ORDER_NOT_FOUND")],
        }
    order, fo = found
    holds = fo.setdefault("fulfillmentHolds", [])
    keep = [h for h in holds if holdIds is not None and h["id"] not in holdIds]
    fo["fulfillmentHolds"] = keep
    if not keep and fo["status"] == "ON_HOLD":
        fo["status"] = "OPEN"
        fo["supportedActions"] = _actions(OPEN_ACTIONS)
    fo["updatedAt"] = shop.now_iso()
    orders.refresh(shop, order)
    orders._changed(shop, order, auto_close=False)
    return {"fulfillmentOrder": fo, "userErrors": []}


def _fo_holds(fo: dict[str, Any], _: GraphQLResolveInfo) -> list[dict[str, Any]]:
    return list(fo.get("fulfillmentHolds") or [])


def _fo_requests(fo: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    items = [r for r in fo.get("merchantRequests") or [] if args.get("kind") in (None, r["kind"])]
    return connection_from_args(items, args)


def _order_returns(order: dict[str, Any], _: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    """``Order.returns``: the twin makes no returns yet (recorded: an empty connection after a
    refund without a return)."""
    return connection_from_args(list(order.get("returns") or []), args)


def _m_order_delete(_: Any, info: GraphQLResolveInfo, orderId: str) -> dict[str, Any]:
    shop = _shop_of(info)
    if shop.orders.pop(orderId, None) is None:
        return {
            "deletedId": None,
            "userErrors": [_error(["orderId"], "Order does not exist", "NOT_FOUND")],
        }
    shop.emit("orders/delete", {"id": int(orderId.rsplit("/", 1)[1])})
    return {"deletedId": orderId, "userErrors": []}


def register(schema: GraphQLSchema) -> None:
    """Attach the resolvers (``schema_fulfilment_ops.graphql``)."""
    set_resolvers(schema, "Mutation", {
        "fulfillmentTrackingInfoUpdateV2": _m_tracking_update_v2,
        "fulfillmentOrderHold": _m_hold,
        "fulfillmentOrderReleaseHold": _m_release,
        "orderDelete": _m_order_delete,
    })  # fmt: skip
    set_resolvers(schema, "Order", {"returns": _order_returns})
    fo: dict[str, Callable[..., Any]] = {
        "fulfillmentHolds": _fo_holds, "merchantRequests": _fo_requests}
    set_resolvers(schema, "FulfillmentOrder", fo)
