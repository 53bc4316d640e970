"""Where the listener receives and what it listens to: its URL paths, the Shopify topic that
triggers a shop's transfer, the order topics it acknowledges, and the Rackbeat events it acts on.
Shared by the server and ``rackshop webhooks register``."""

from __future__ import annotations

from rackshop.listen.queue import Kind

SHOPIFY_PATH = "/webhooks/shopify"
RACKBEAT_PATH = "/webhooks/rackbeat"
HEALTH_PATH = "/healthz"

#: ``orders.transfer_on`` -> the Shopify topic that triggers the transfer.
TRIGGER_TOPICS: dict[str, str] = {
    "created": "orders/create",
    "paid": "orders/paid",
    "fulfilled": "orders/fulfilled",
}
#: Shopify topics acknowledged (200) and ignored when they are not the shop's trigger: every
#: order topic a merchant may point at the listener.
ACKNOWLEDGED_PREFIXES = ("orders/", "order_transactions/", "refunds/", "fulfillments/",
                         "fulfillment_orders/", "draft_orders/")
#: Rackbeat event -> what the worker does with it (see :mod:`.worker`).
RACKBEAT_EVENTS: dict[str, Kind] = {
    "item.stock_updated": "stock",
    "product.created": "product",
    "product.updated": "product",
    "lot.created": "product",
    "lot.updated": "product",
    "order.booked": "rb_order",
    "order.updated": "rb_order",
}
