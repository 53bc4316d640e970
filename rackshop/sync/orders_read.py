"""sync-orders' reads of a shop's orders: the list by last change, the search (``query:``
syntax), orders by id, every page of an order's lines and shipping lines, and the quantities
its lines take from stock."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from rackshop.shopify.client import ShopifyClient

ORDERS_PER_PAGE = 10
LINES_PER_PAGE = 50
#: Orders per OrdersByIds call.
IDS_PER_CALL = 50


def search_orders(shopify: ShopifyClient, query: str) -> Iterator[dict[str, Any]]:
    """Every order the search ``query`` finds, with the first page of its lines."""
    yield from shopify.paginate("Orders", {"query": query, "lines": LINES_PER_PAGE},
                                ("orders",), page_size=ORDERS_PER_PAGE)


def orders_changed_since(shopify: ShopifyClient, since: datetime) -> list[dict[str, Any]]:
    """The ``id`` and ``updatedAt`` of the orders changed at or after ``since``, oldest change
    first, from the orders list by last change (not an ``updated_at:>=`` search: it lags a
    refund or an edit by seconds)."""
    return shopify.changed_since("OrdersChanged", None, ("orders",), since)


def orders_by_ids(shopify: ShopifyClient, ids: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The orders with these ids that still exist, with the first page of their lines."""
    for i in range(0, len(ids), IDS_PER_CALL):
        data = shopify.query("OrdersByIds", {"ids": list(ids[i:i + IDS_PER_CALL]),
                                             "lines": LINES_PER_PAGE})
        yield from (n for n in data.get("nodes") or [] if n)


def complete_order(shopify: ShopifyClient, order: Mapping[str, Any]) -> dict[str, Any]:
    """The order with every line and shipping line (the first pages came with the order; the
    rest is read from where they end)."""
    whole = dict(order)
    for key, document in (("lineItems", "OrderLines"), ("shippingLines", "OrderShippingLines")):
        conn = order.get(key) or {}
        info = conn.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            continue
        nodes = list(conn.get("nodes") or [])
        nodes += shopify.paginate(document, {"id": order["id"], "after": info.get("endCursor")},
                                  ("order", key), page_size=LINES_PER_PAGE)
        whole[key] = {"nodes": nodes, "pageInfo": {"hasNextPage": False, "endCursor": None}}
    return whole


def name_filter(name: str) -> str:
    """The search filter for an order named on the command line: ``#1001`` (the ``#`` may be
    left out) or its numeric id (all digits)."""
    name = name.strip()
    if name.isdigit():
        return f"id:{name}"
    return f"name:{name if name.startswith('#') else '#' + name}"


def line_quantities(order: Mapping[str, Any],
                    items: Sequence[Mapping[str, Any]] | None = None) -> dict[str, int]:
    """SKU -> current quantity of an order's lines (what the order takes from stock)."""
    if items is None:
        items = (order.get("lineItems") or {}).get("nodes") or []
    quantities: dict[str, int] = {}
    for li in items:
        sku = (li.get("sku") or "").strip()
        current = li.get("currentQuantity")
        qty = int(current if current is not None else li.get("quantity") or 0)
        if sku and qty > 0:
            quantities[sku] = quantities.get(sku, 0) + qty
    return quantities
