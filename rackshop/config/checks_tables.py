"""The rules inside a shop's ``[shops.orders]``, ``[shops.products]``, ``[shops.stock]`` and
``[shops.initial]`` tables (see :mod:`.checks`)."""

from __future__ import annotations

import datetime as dt

from rackshop.config.tree import Ctx, Node
from rackshop.config.values import SHOPIFY_ORDER_HISTORY_DAYS


def _enabled(node: Node) -> bool:
    # A wrong enabled is reported once; the table's other rules read it as the default, on.
    enabled = node.get("enabled")
    return True if enabled is None else bool(enabled)


def orders(ctx: Ctx, node: Node) -> None:
    """Go-live date, shipping item and customer defaults when enabled; what has no effect."""
    customer, shop = node.children["customer"], node.parent
    enabled = _enabled(node)
    if enabled:
        if not node.has("since"):
            ctx.problem(
                node.key("since"),
                "required when orders are enabled: the go-live date, e.g. since = "
                "2026-11-01; orders placed before it are never imported (this keeps old "
                "orders from being booked twice)",
            )
        if not node.has("shipping_item"):
            ctx.problem(
                node.key("shipping_item"),
                "required when orders are enabled: the number of the Rackbeat "
                'item used for shipping lines, e.g. shipping_item = "FREIGHT"',
            )
        _customer_required(ctx, customer)
        since = node.get("since")
        # The 60-day window is the real Shopify's; a base_url points at a sandbox.
        horizon = ctx.now - dt.timedelta(days=SHOPIFY_ORDER_HISTORY_DAYS)
        sandbox = shop is not None and shop.has("base_url")
        if since is not None and not sandbox and since < horizon:
            ctx.warn(
                node.key("since"),
                f"{since:%Y-%m-%d} is more than {SHOPIFY_ORDER_HISTORY_DAYS} days "
                "ago: Shopify only shows older orders to apps with the read_all_orders scope",
            )
        currency = customer.get("currency")
        if node.get("currency") == "presentment" and currency is not None:
            ctx.warn(
                customer.key("currency"),
                f'with currency = "presentment" each order '
                f"keeps the currency the buyer paid in; customer.currency = "
                f'"{currency}" only sets the currency of newly created customers, '
                "never the order's",
            )
    write_back = node.get("write_back")
    if node.has("tag") and write_back in ("metafield", "off"):
        ctx.warn(
            node.key("tag"),
            f'has no effect with write_back = "{write_back}"; set write_back = '
            '"tag" or "both" to tag orders',
        )


def _customer_required(ctx: Ctx, customer: Node) -> None:
    if not customer.present:
        ctx.problem(
            customer.path,
            "required when orders are enabled: add a [shops.orders.customer] table with "
            "group = <customer group number> and payment_terms = <payment terms number>, "
            "the Rackbeat defaults for customers created from Shopify orders",
        )
        return
    if customer.model is None:
        return
    if not customer.has("group"):
        ctx.problem(
            customer.key("group"),
            "required when orders are enabled: the Rackbeat customer group "
            "number for customers created from Shopify orders, e.g. group = 1 under "
            "[shops.orders.customer]",
        )
    if not customer.has("payment_terms"):
        ctx.problem(
            customer.key("payment_terms"),
            "required when orders are enabled: the Rackbeat payment "
            "terms number for new customers, e.g. payment_terms = 1 under "
            "[shops.orders.customer]",
        )


# Keys that only apply to one direction. With master = "shopify" they are a contradiction (the
# user believes something syncs that does not); with "off" the shop is merely paused.
_RACKBEAT_ONLY = ("fields", "include_boms", "create_missing", "recreate_deleted",
                  "sales_channels", "price_rounding")


def products(ctx: Ctx, node: Node) -> None:
    """Keys of the other direction; what a Shopify master needs."""
    vat_rate = node.get("vat_rate")
    if vat_rate is not None and 0 < vat_rate < 1:
        ctx.warn(
            node.key("vat_rate"),
            f"{vat_rate:g} looks like a fraction; vat_rate is a percentage (25 means 25 %)",
        )
    master = node.get("master")
    if master in ("shopify", "off"):
        for key in _RACKBEAT_ONLY:
            if node.has(key):
                _no_effect(ctx, node, key, master, error=master == "shopify", owner="rackbeat")
    if master in ("rackbeat", "off") and node.has("shopify_fields"):
        _no_effect(ctx, node, "shopify_fields", master, error=master == "rackbeat",
                   owner="shopify")
    if master == "shopify" and not node.has("default_group"):
        ctx.problem(
            node.key("default_group"),
            'required when master = "shopify": the Rackbeat product group '
            "number for items created from Shopify products, e.g. default_group = 1",
        )
    if master in ("rackbeat", "off") and node.has("rename_numbers"):
        ctx.warn(node.key("rename_numbers"), 'has no effect unless master = "shopify"')


def _no_effect(ctx: Ctx, node: Node, key: str, master: str, *, error: bool, owner: str) -> None:
    side = "Rackbeat" if owner == "rackbeat" else "Shopify"
    text = (
        f'has no effect because master = "{master}" ({key} applies only when {side} '
        f'is the product master); remove it, or set master = "{owner}"'
    )
    if error:
        ctx.problem(node.key(key), text)
    else:
        ctx.warn(node.key(key), text)


def stock(ctx: Ctx, node: Node) -> None:
    """One Shopify location or a map of them, not both; one of them when enabled."""
    has_single, has_map = node.has("shopify_location"), node.has("location_map")
    if has_single and has_map:
        ctx.problem(
            node.key("location_map"),
            "give either shopify_location (with rackbeat_locations) or "
            "location_map, not both: location_map maps every Shopify location to its Rackbeat "
            "locations by itself",
        )
    elif has_map and node.has("rackbeat_locations"):
        ctx.problem(
            node.key("rackbeat_locations"),
            "has no effect with location_map, which names the Rackbeat "
            "locations for each Shopify location; remove it",
        )
    elif _enabled(node) and not has_single and not has_map:
        ctx.problem(
            node.key("shopify_location"),
            "required when stock is enabled: the Shopify location to "
            'update, e.g. shopify_location = "Main warehouse" (or its gid), or several with '
            'location_map = { "Main warehouse" = [1, 2], "Outlet" = [3] }',
        )


def initial(ctx: Ctx, node: Node) -> None:
    """Two Shopify locations importing into one Rackbeat location: allowed, but said."""
    seen: dict[int, str] = {}
    for key, number in (node.get("location_map") or {}).items():
        if number in seen:
            ctx.warn(
                f'{node.key("location_map")}["{key}"]',
                f'"{seen[number]}" and "{key}" both import into Rackbeat location '
                f"{number}; their quantities are added together",
            )
        seen.setdefault(number, key)
