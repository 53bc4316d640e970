"""sync-stock's view of a shop: its inventory items by SKU and their levels, as Shopify has them.

Read every pass (one bulk operation for the whole catalogue, a search for a few items), never
taken from the store: a deleted listing leaves, a re-listed SKU is seen, a hand edit is seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rackshop.shopify.bulk import bulk_query_text, run_bulk_query
from rackshop.shopify.client import ShopifyClient
from rackshop.sync.product_values import sku_key, split_shared

#: Items named per Shopify search (``id:1 OR id:2 ...``).
SEARCH_TERMS = 50


@dataclass(frozen=True)
class Listed:
    """One inventory item of a shop, as Shopify has it now."""

    sku: str
    inventory_item_id: str
    tracked: bool


@dataclass
class ShopView:
    """A shop's inventory items by SKU key, and their levels, as read in this pass.

    Attributes:
        unique: SKU key -> the one item with that SKU.
        duplicates: SKU key -> the items sharing it (no stock is pushed to any of them).
        levels: (location gid, item gid) -> available, for every level that is stocked.
    """

    unique: dict[str, Listed] = field(default_factory=dict)
    duplicates: dict[str, list[Listed]] = field(default_factory=dict)
    levels: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def build(cls, items: Iterable[tuple[Listed, Mapping[str, int]]]) -> ShopView:
        """The view of ``(item, location gid -> available)`` pairs (items without SKU dropped)."""
        view = cls()
        by_key: dict[str, list[Listed]] = {}
        for item, levels in items:
            for loc, qty in levels.items():
                view.levels[(loc, item.inventory_item_id)] = qty
            if sku_key(item.sku):
                by_key.setdefault(sku_key(item.sku), []).append(item)
        view.unique, view.duplicates = split_shared(by_key)
        return view


def _levels_of(node: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for level in (node.get("inventoryLevels") or {}).get("nodes") or []:
        qty = next((q["quantity"] for q in level.get("quantities") or []
                    if q.get("name") == "available"), 0)
        out[str((level.get("location") or {}).get("id"))] = int(qty)
    return out


def _listed(node: Mapping[str, Any]) -> Listed:
    return Listed(str(node.get("sku") or ""), str(node["id"]), bool(node.get("tracked")))


def read_view(client: ShopifyClient, *, skus: Iterable[str] | None = None,
              item_ids: Iterable[str] | None = None) -> ShopView:
    """Shopify's inventory items and levels: all of them (one bulk operation), or a few.

    Args:
        client: The shop's client.
        skus: Read only the items with these SKUs (matched like SKUs, by :func:`sku_key`).
        item_ids: Read only these inventory items.
    """
    if skus is None and item_ids is None:
        return ShopView.build(_bulk_items(client))
    terms = ([f"sku:{_quoted(s)}" for s in sorted(set(skus or ()))]
             + [f"id:{str(i).rsplit('/', 1)[-1]}" for i in sorted(set(item_ids or ()))])
    wanted = {sku_key(s) for s in skus or ()}
    pairs: dict[str, tuple[Listed, Mapping[str, int]]] = {}
    for i in range(0, len(terms), SEARCH_TERMS):
        query = " OR ".join(terms[i:i + SEARCH_TERMS])
        for node in client.paginate("StockLevels", {"query": query}, ("inventoryItems",)):
            listed = _listed(node)
            if skus is not None and item_ids is None and sku_key(listed.sku) not in wanted:
                continue  # Shopify's search matched more loosely than a SKU key does
            pairs[listed.inventory_item_id] = (listed, _levels_of(node))
    return ShopView.build(pairs.values())


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _bulk_items(client: ShopifyClient) -> Iterator[tuple[Listed, dict[str, int]]]:
    """Every inventory item with its levels, from one bulk operation (levels follow items)."""
    item: Listed | None = None
    levels: dict[str, int] = {}
    for line in run_bulk_query(client, bulk_query_text("BulkInventoryLevels")):
        parent = line.get("__parentId")
        if parent is None:
            if item is not None:
                yield item, levels
            item, levels = _listed(line), {}
            continue
        if item is None or str(parent) != item.inventory_item_id:
            continue  # a level whose item line was not just read (Shopify keeps them after)
        qty = next((q["quantity"] for q in line.get("quantities") or []
                    if q.get("name") == "available"), 0)
        levels[str((line.get("location") or {}).get("id"))] = int(qty)
    if item is not None:
        yield item, levels
