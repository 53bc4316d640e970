"""The Shopify writes of a Rackbeat-master pass, as the per-call path and the bulk path
(``products_bulk``) both send them: one product's update writes, their variables, and where
their answers are gathered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rackshop.sync.product_map import (
    FieldChange,
    ShopifyDiff,
    product_update_input,
    variant_update_input,
)

#: Shopify input arrays hold at most 250 entries.
VARIANTS_PER_WRITE = 250


@dataclass
class ProductWrite:
    """The changed fields of one product and of its variants (key, diff, Rackbeat hash)."""

    product_id: str
    product_changes: list[FieldChange] = field(default_factory=list)
    variants: list[tuple[str, ShopifyDiff, str]] = field(default_factory=list)
    product_key: str = ""


@dataclass
class UpdateAnswers:
    """What Shopify answered to one product's update writes: per SKU key its item number, the
    product and variants as answered, and the SKU keys whose variant was refused."""

    number: dict[str, str]
    product: dict[str, Any] | None = None
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)


def product_update_variables(w: ProductWrite) -> dict[str, Any]:
    """The variables of ``ProductUpdate`` for a product's changed fields."""
    return {"product": product_update_input(w.product_id, w.product_changes)}


def variant_chunks(w: ProductWrite) -> list[list[tuple[str, ShopifyDiff]]]:
    """A product's changed variants, 250 to a write (Shopify's input limit)."""
    inputs = [(k, d) for k, d, _ in w.variants if d.variant_changes]
    return [inputs[i:i + VARIANTS_PER_WRITE] for i in range(0, len(inputs), VARIANTS_PER_WRITE)]


def variants_variables(w: ProductWrite, chunk: Sequence[tuple[str, ShopifyDiff]]
                       ) -> dict[str, Any]:
    """The variables of ``ProductVariantsBulkUpdate`` for one chunk of a product's variants."""
    return {"productId": w.product_id,
            "variants": [variant_update_input(d.variant_id, d.variant_changes) for _, d in chunk]}


def publish_variables(product_id: str, publications: Sequence[str]) -> dict[str, Any]:
    """The variables of ``PublishablePublish`` for one product."""
    return {"id": product_id, "input": [{"publicationId": p} for p in publications]}
