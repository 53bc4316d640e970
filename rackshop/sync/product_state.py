"""What the product transforms read: a Shopify product and its variants (:class:`ProductState`,
:class:`VariantState`), a Rackbeat item (:class:`RackbeatItem`), and the SKU index of a shop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rackshop.sync.product_values import dec, sku_key, split_shared


@dataclass(frozen=True)
class VariantState:
    """A Shopify variant as rackshop reads it."""

    id: str
    sku: str | None
    title: str
    price: Decimal
    barcode: str | None
    taxable: bool = True
    inventory_item_id: str | None = None
    tracked: bool = False
    weight: Decimal | None = None
    weight_unit: str | None = None
    position: int = 0


@dataclass(frozen=True)
class ProductState:
    """A Shopify product as rackshop reads it.

    Attributes:
        variant_count: How many variants the product has (``variants`` may hold fewer when the
            product was read through one of its variants).
    """

    id: str
    title: str
    status: str
    description_html: str
    product_type: str
    updated_at: str
    variant_count: int
    variants: tuple[VariantState, ...] = ()

    @property
    def single_variant(self) -> bool:
        return self.variant_count == 1


def variant_state(node: Mapping[str, Any]) -> VariantState:
    """Parse a ``ProductVariant`` node (GraphQL page or bulk JSONL line)."""
    item = node.get("inventoryItem") or {}
    weight = ((item.get("measurement") or {}).get("weight")) or {}
    value = weight.get("value")
    return VariantState(
        id=str(node["id"]),
        sku=node.get("sku"),
        title=str(node.get("title") or ""),
        price=dec(node.get("price")),
        barcode=node.get("barcode") or None,
        taxable=bool(node.get("taxable", True)),
        inventory_item_id=item.get("id"),
        tracked=bool(item.get("tracked", False)),
        weight=dec(value) if value is not None else None,
        weight_unit=weight.get("unit"),
        position=int(node.get("position") or 0),
    )


def product_state(node: Mapping[str, Any], variants: Iterable[Mapping[str, Any]] | None = None,
                  *, variant_count: int | None = None) -> ProductState:
    """Parse a ``Product`` node with its variants.

    Args:
        node: The product (``variants.nodes`` inside it are used when ``variants`` is None).
        variants: The variant nodes, when they come separately (bulk JSONL, extra pages).
        variant_count: Overrides ``variantsCount.count`` / the number of variants given.
    """
    if variants is None:
        variants = ((node.get("variants") or {}).get("nodes")) or []
    parsed = tuple(variant_state(v) for v in variants)
    count = variant_count
    if count is None:
        count = int(((node.get("variantsCount") or {}).get("count")) or len(parsed))
    return ProductState(
        id=str(node["id"]),
        title=str(node.get("title") or ""),
        status=str(node.get("status") or ""),
        description_html=str(node.get("descriptionHtml") or ""),
        product_type=str(node.get("productType") or ""),
        updated_at=str(node.get("updatedAt") or ""),
        variant_count=count,
        variants=parsed,
    )


@dataclass(frozen=True)
class RackbeatItem:
    """A Rackbeat product or BOM (lot), as read from ``/products``, ``/lots`` or ``/items``."""

    number: str
    type: str
    name: str
    description: str
    sales_price: Decimal
    barcode: str | None
    is_barred: bool
    group_number: int | None
    group_name: str
    vat_rate: Decimal | None
    weight: Decimal | None
    weight_unit: str | None
    updated_at: str
    id: str = ""
    keeps_stock: bool = True

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RackbeatItem:
        """Parse Rackbeat's JSON (``group`` embedded; ``group_id`` carries the group number)."""
        group = data.get("group") or {}
        physical = data.get("physical") or {}
        vat = group.get("vat_domestic") if isinstance(group, Mapping) else None
        number = group.get("number") if isinstance(group, Mapping) else None
        weight = physical.get("weight")
        return cls(
            number=str(data["number"]),
            type=str(data.get("type") or "product"),
            name=str(data.get("name") or ""),
            description=str(data.get("description") or ""),
            sales_price=dec(data.get("sales_price")),
            barcode=(str(data["barcode"]) if data.get("barcode") else None),
            is_barred=bool(data.get("is_barred")),
            group_number=int(number if number is not None else data.get("group_id") or 0) or None,
            group_name=str(group.get("name") or "") if isinstance(group, Mapping) else "",
            vat_rate=dec(vat) if vat is not None else None,
            weight=dec(weight) if weight is not None else None,
            weight_unit=physical.get("weight_unit"),
            updated_at=str(data.get("updated_at") or ""),
            id=str(data.get("id") or ""),
            keeps_stock=bool(data.get("inventory_enabled", True)),
        )


@dataclass
class SkuIndex:
    """Which Shopify variants hold which SKU, with duplicates and variants without SKU apart.

    Attributes:
        unique: SKU key -> (product, variant) for SKUs held by exactly one variant.
        duplicates: SKU key -> the variants sharing it (two or more).
        without_sku: (product, variant) pairs whose SKU is empty.
    """

    unique: dict[str, tuple[ProductState, VariantState]] = field(default_factory=dict)
    duplicates: dict[str, list[tuple[ProductState, VariantState]]] = field(default_factory=dict)
    without_sku: list[tuple[ProductState, VariantState]] = field(default_factory=list)


def index_skus(products: Iterable[ProductState]) -> SkuIndex:
    """Index the variants of ``products`` by SKU key (see :func:`sku_key`)."""
    holders: dict[str, list[tuple[ProductState, VariantState]]] = {}
    out = SkuIndex()
    for p in products:
        for v in p.variants:
            key = sku_key(v.sku)
            if not key:
                out.without_sku.append((p, v))
                continue
            holders.setdefault(key, []).append((p, v))
    out.unique, out.duplicates = split_shared(holders)
    return out
