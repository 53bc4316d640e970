"""sync-stock's orders on their way: every unit Shopify has taken that Rackbeat does not hold yet.

Read before Rackbeat's stock, in this order: each shop's orders newer than ``sync-orders`` has
seen (Shopify), then the order journal in one snapshot. An order booked while a pass runs is
then counted here (it was not booked when the journal was read) or in Rackbeat's stock report
(read after), never in neither. Every order is counted at Shopify's current quantities (refunded,
removed and cancelled units released), every line paged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from rackshop.config import ShopConfig
from rackshop.errors import RackshopError
from rackshop.runtime import Runtime
from rackshop.shopify.client import ShopifyClient
from rackshop.store import Store
from rackshop.sync.product_values import sku_key

log = logging.getLogger("rackshop.stock")

ORDERS_PAGE = 10
#: Orders read by id per call (each with its first 50 lines: the query's cost stays < 1,000).
IDS_PAGE = 10
#: Journal states whose orders Rackbeat has not booked (sync-orders writes them).
UNBOOKED_STATES = ("new", "waiting", "failed", "creating", "created", "held")


def _order_lines(client: ShopifyClient, order: Mapping[str, Any]) -> dict[str, int]:
    """SKU -> units an order takes now (``currentQuantity``), every line, paged to its end."""
    conn = order.get("lineItems") or {}
    nodes = list(conn.get("nodes") or [])
    info = conn.get("pageInfo") or {}
    if info.get("hasNextPage") and info.get("endCursor"):
        nodes += client.paginate("StockOrderLines", {"id": order["id"],
                                                     "after": info["endCursor"]},
                                 ("order", "lineItems"))
    out: dict[str, int] = {}
    for li in nodes:
        if li.get("sku") and li.get("currentQuantity"):
            out[li["sku"]] = out.get(li["sku"], 0) + int(li["currentQuantity"])
    return out


def count_in_flight(runtime: Runtime, store: Store | None, *,
                     dry_run: bool) -> tuple[dict[str, int], dict[str, str]]:
    """SKU key -> units taken by orders, in any shop, that Rackbeat does not hold yet.

    Shopify first, the journal second (see the module docstring for why that order), each
    order at Shopify's current quantities. A shop whose orders cannot be read (its token
    refused, Shopify down) is named in the second result; its journalled orders are counted
    from the journal's lines instead, and the other shops go on.
    """
    counts: dict[str, int] = {}
    unread: dict[str, str] = {}

    def add(lines: Mapping[str, Any]) -> None:
        for sku, qty in lines.items():
            key = sku_key(sku)
            counts[key] = counts.get(key, 0) + int(qty)

    shops = {s.name: s for s in runtime.config.shops if s.enabled}
    recent: dict[tuple[str, str], dict[str, int]] = {}  # orders newer than sync-orders saw
    for shop in shops.values():
        if not (shop.orders.enabled and shop.orders.since):
            continue
        try:
            recent.update(_recent_orders(runtime, store, shop))
        except RackshopError as exc:
            unread[shop.name] = exc.message
            log.warning("sync-stock: the orders of shop %s could not be read: %s", shop.name,
                        exc.message)
    # After Shopify, in one snapshot: which orders are on their way, which are journalled.
    journal, settled = _journal_in_flight(runtime, store, recent, dry_run=dry_run)
    by_shop: dict[str, list[str]] = {}
    for shop_name, oid in journal:
        if (shop_name, oid) not in recent and shop_name in shops and shop_name not in unread:
            by_shop.setdefault(shop_name, []).append(oid)
    current = dict(recent)
    for shop_name, ids in by_shop.items():
        try:
            current.update(_orders_by_id(runtime.shopify(shops[shop_name]), shop_name, ids))
        except RackshopError as exc:
            unread[shop_name] = exc.message
    for (shop_name, oid), lines in journal.items():
        if (shop_name, oid) in current:
            add(current[(shop_name, oid)])
        elif shop_name in unread or shop_name not in shops:
            add(lines)  # Shopify cannot tell: the lines as the journal holds them
        # else: Shopify no longer has the order: nothing is on its way
    for key, lines in recent.items():
        if key not in journal and key not in settled:
            add(lines)  # not journalled yet: Shopify's figure is the only one
    return counts, unread


def _recent_orders(runtime: Runtime, store: Store | None,
                   shop: ShopConfig) -> dict[tuple[str, str], dict[str, int]]:
    """Open orders of one shop updated since ``sync-orders``' cursor (less its overlap)."""
    assert shop.orders.since is not None
    cursor = store.get_cursor(shop.name, "sync-orders") if store else None
    since = shop.orders.since
    if cursor:
        since = max(since, datetime.fromisoformat(cursor.replace("Z", "+00:00"))
                    - timedelta(minutes=shop.orders.overlap_minutes))
    query = f"updated_at:>='{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    client = runtime.shopify(shop)
    out: dict[tuple[str, str], dict[str, int]] = {}
    for order in client.paginate("StockOrders", {"query": query}, ("orders",),
                                 page_size=ORDERS_PAGE):
        processed = order.get("processedAt")
        if processed and datetime.fromisoformat(processed.replace("Z", "+00:00")) < \
                shop.orders.since:
            continue  # before go-live: never transferred, never counted
        out[(shop.name, str(order["id"]))] = ({} if order.get("cancelledAt")
                                              else _order_lines(client, order))
    return out


def _orders_by_id(client: ShopifyClient, shop: str,
                  ids: Sequence[str]) -> dict[tuple[str, str], dict[str, int]]:
    """The current lines of journalled orders (an order Shopify no longer has is left out)."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for i in range(0, len(ids), IDS_PAGE):
        data = client.query("StockOrdersByIds", {"ids": list(ids[i:i + IDS_PAGE])})
        for node in data.get("nodes") or []:
            if node and node.get("id"):
                out[(shop, str(node["id"]))] = ({} if node.get("cancelledAt")
                                                else _order_lines(client, node))
    return out


def _journal_in_flight(runtime: Runtime, store: Store | None,
                       recent: Mapping[tuple[str, str], Any], *, dry_run: bool
                       ) -> tuple[dict[tuple[str, str], dict[str, int]], set[tuple[str, str]]]:
    """Journalled orders Rackbeat does not hold yet (with their journalled lines), and which
    of the ``recent`` orders the journal had already settled, both from one snapshot."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    settled: set[tuple[str, str]] = set()
    if store is None:
        return out, settled
    marks = ",".join("?" for _ in UNBOOKED_STATES)
    with store.snapshot() as conn:
        # Only rows that may still be on their way: not the years of booked orders.
        rows = conn.execute(
            "SELECT shop, shopify_order_id, state, rackbeat_number, steps_done, detail "
            f"FROM order_journal WHERE state IN ({marks}) OR (state = 'done' AND "
            "steps_done NOT LIKE '%book%' AND CASE WHEN json_valid(detail) THEN "
            "json_extract(detail, '$.booked') END IS NOT 1)",
            UNBOOKED_STATES).fetchall()
        for shop_name, oid in recent:
            if conn.execute("SELECT 1 FROM order_journal WHERE shop = ? AND "
                            "shopify_order_id = ?", (shop_name, oid)).fetchone():
                settled.add((shop_name, oid))
    for row in rows:
        detail = json.loads(row["detail"] or "{}")
        lines = {str(k): int(v) for k, v in (detail.get("lines") or {}).items()}
        booked = "book" in (row["steps_done"] or "").split(",") or detail.get("booked")
        key = (row["shop"], row["shopify_order_id"])
        if row["state"] in UNBOOKED_STATES and not booked:
            out[key] = lines
        elif row["state"] == "done" and not booked and row["rackbeat_number"]:
            # Transferred as a draft (process_to = draft): on its way until someone books
            # it in Rackbeat; one read tells, and a booked answer is remembered.
            order = runtime.rackbeat().find_one("orders", int(row["rackbeat_number"]))
            if order is not None and (order.get("is_booked") or order.get("is_shipped")):
                if not dry_run:
                    store.journal_put(row["shop"], row["shopify_order_id"],
                                      detail={"booked": True})
            elif order is not None:
                out[key] = lines
    return out, settled
