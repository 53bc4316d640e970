"""Pure product transforms Shopify -> Rackbeat (``products.master = "shopify"``): no I/O, no clock.

:func:`rackbeat_fields_from_variant` is the one mapping from a Shopify variant to a Rackbeat
product (used by ``sync-products`` and ``init-sync``); :func:`diff_for_rackbeat` compares it with
the Rackbeat item; :func:`shopify_source_hash` is what the echo hash of this direction
covers.

The mapping, field by field:

* ``number`` = the variant SKU (trimmed). Always set: it is the key.
* ``name`` = the product title, plus ``" - "`` and the variant title when the product has
  several variants (``"Tee - Red / M"``); a name longer than Rackbeat allows is shortened
  (:func:`shorten`).
* ``description`` = the product's ``descriptionHtml`` as plain text (:func:`html_to_text`).
* ``sales_price`` = the variant price with VAT removed when the shop's prices include tax and
  Rackbeat's exclude it (``vat_rate`` in percent; a non-taxable variant's price is taken as
  is), kept to the fewest decimals that reproduce the Shopify price (:func:`rackbeat_price`).
* ``physical`` = ``{"weight", "weight_unit"}``: the inventory item's weight converted to
  ``weight_unit`` (``kg``, ``g``, ``lb``, ``oz``), 3 decimals.
* ``group`` = ``default_group`` (the product group for new items; leave it out of updates so
  an item's group in Rackbeat is never moved).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rackshop.sync.product_state import (
    ProductState,
    RackbeatItem,
    VariantState,
    product_state,
    variant_state,
)
from rackshop.sync.product_values import (
    GRAMS_PER_UNIT,
    ZERO,
    cents,
    convert_weight,
    group_for_type,
    html_to_text,
    json_number,
    normalize_text,
    rackbeat_price,
    same_price,
    shorten,
    show_value,
    sku_key,
    stable_hash,
    variant_name,
    vat_factor,
)


@dataclass(frozen=True)
class RackbeatFields:
    """The Rackbeat product values a Shopify variant calls for (Shopify master).

    ``None`` means the field is not synced (not in ``products.shopify_fields``).
    """

    number: str
    name: str | None
    description: str | None
    sales_price: Decimal | None
    weight: Decimal | None
    weight_unit: str | None
    group: int | None = None
    barcode: str | None = None
    notes: tuple[str, ...] = ()

    def payload(self, *, include_group: bool = True) -> dict[str, Any]:
        """The JSON body for ``POST /products`` (or, without the group, a full ``PUT``)."""
        body: dict[str, Any] = {"number": self.number}
        if self.name is not None:
            body["name"] = self.name
        if self.barcode:
            body["barcode"] = self.barcode
        if self.description is not None:
            body["description"] = self.description
        if self.sales_price is not None:
            body["sales_price"] = json_number(self.sales_price)
        if self.weight is not None and self.weight_unit is not None:
            body["physical"] = {"weight": json_number(self.weight),
                                "weight_unit": self.weight_unit}
        if include_group and self.group is not None:
            body["group"] = self.group
        return body


def _variant_count(product: Mapping[str, Any]) -> int:
    count = (product.get("variantsCount") or {}).get("count")
    if count is not None:
        return int(count)
    nodes = (product.get("variants") or {}).get("nodes")
    return len(nodes) if nodes else 1


def rackbeat_fields_from_variant(
    product: Mapping[str, Any] | ProductState,
    variant: Mapping[str, Any] | VariantState,
    *,
    prices_include_tax: bool,
    vat_rate: Decimal | float | int,
    default_group: int | None,
    weight_unit: str,
    fields: Iterable[str],
    rackbeat_prices_include_vat: bool = False,
    variant_count: int | None = None,
    barcode: bool = False,
    groups: Mapping[str, int] | None = None,
    currency_rate: Decimal = Decimal(1),
) -> RackbeatFields:
    """The Rackbeat product values for one Shopify variant (``.payload()``: the
    ``POST /products`` body; Decimals, for diffing with :func:`diff_for_rackbeat`): the one
    Shopify -> Rackbeat product mapping, field by field in the module's docstring.

    Args:
        product: The Shopify product: a GraphQL/JSONL node with ``title``, ``descriptionHtml`` and
            ``variantsCount { count }`` (or ``variants { nodes }``), or a :class:`ProductState`.
        variant: The variant node: ``sku``, ``title``, ``price``, ``taxable``,
            ``inventoryItem { measurement { weight { value unit } } }``, or a
            :class:`VariantState`.
        prices_include_tax: The shop's ``prices_include_tax``.
        vat_rate: VAT in percent: the Rackbeat group's rate for an existing item, the default
            group's (or ``products.vat_rate``) for a new one.
        default_group: The Rackbeat product group number for new items (``None``: leave out).
        weight_unit: Rackbeat's weight unit (``products.weight_unit``).
        fields: Which of ``name``, ``description``, ``sales_price``, ``weight`` to fill
            (``products.shopify_fields``); the number is always set.
        rackbeat_prices_include_vat: ``rackbeat.prices_include_vat``.
        variant_count: How many variants the product has, when ``product`` does not say.
        barcode: Carry the variant's barcode (init-sync).
        groups: Rackbeat group numbers by case-folded name: the product type picks the group
            (init-sync); ``None`` puts every item in ``default_group``.
        currency_rate: Units of Rackbeat's base currency per unit of the shop's currency.

    Raises:
        ValueError: The variant has no SKU, or a weight unit is unknown.
    """
    p = product if isinstance(product, ProductState) else product_state(
        product, [], variant_count=variant_count if variant_count is not None
        else _variant_count(product))
    v = variant if isinstance(variant, VariantState) else variant_state(variant)
    count = variant_count if variant_count is not None else p.variant_count
    f = set(fields)
    sku = (v.sku or "").strip()
    if not sku:
        raise ValueError(f"variant {v.id} has no SKU; it cannot become a Rackbeat product")
    price = None
    if "sales_price" in f and currency_rate != 1:
        # Another currency: converted exactly, VAT removed, kept to the cent (half up) in
        # Rackbeat's base currency (a round trip through two currencies cannot be exact).
        base = v.price * currency_rate
        rate = Decimal(str(vat_rate)) if v.taxable else ZERO
        if rackbeat_prices_include_vat != prices_include_tax:
            base = base / vat_factor(rate) if prices_include_tax else base * vat_factor(rate)
        price = cents(base)
    elif "sales_price" in f:
        price = rackbeat_price(v.price, vat_rate=Decimal(str(vat_rate)),
                               shop_includes_tax=prices_include_tax,
                               rackbeat_includes_vat=rackbeat_prices_include_vat,
                               taxable=v.taxable)
    weight = None
    if "weight" in f and v.weight is not None and v.weight_unit:
        weight = convert_weight(v.weight, v.weight_unit, weight_unit)
    name, cut = shorten(variant_name(p.title, v.title, count)) if "name" in f else (None, None)
    return RackbeatFields(
        number=sku,
        name=name,
        description=html_to_text(p.description_html) if "description" in f else None,
        sales_price=price,
        weight=weight,
        weight_unit=weight_unit if weight is not None else None,
        group=group_for_type(p.product_type, groups, default_group),
        barcode=(v.barcode or None) if barcode else None,
        notes=(cut,) if cut else (),
    )


@dataclass(frozen=True)
class RackbeatChange:
    """One Rackbeat product field that differs (Shopify master)."""

    field: str
    old: str
    new: str


def diff_for_rackbeat(wanted: RackbeatFields, current: RackbeatItem) -> tuple[
        dict[str, Any], tuple[RackbeatChange, ...]]:
    """The ``PUT /products/{number}`` body with only the fields that differ, and the changes.

    The group is never part of an update (an existing item keeps its group).
    """
    body: dict[str, Any] = {}
    changes: list[RackbeatChange] = []
    if wanted.name is not None and wanted.name != current.name:
        body["name"] = wanted.name
        changes.append(RackbeatChange("name", current.name, wanted.name))
    if wanted.description is not None and \
            normalize_text(current.description) != wanted.description:
        body["description"] = wanted.description
        changes.append(RackbeatChange("description", show_value(current.description),
                                      show_value(wanted.description)))
    if wanted.sales_price is not None and not same_price(wanted.sales_price,
                                                         current.sales_price):
        body["sales_price"] = json_number(wanted.sales_price)
        changes.append(RackbeatChange("sales_price", f"{current.sales_price.normalize():f}",
                                      f"{wanted.sales_price:f}"))
    if wanted.weight is not None and wanted.weight_unit is not None:
        now = None
        if current.weight is not None and current.weight_unit in GRAMS_PER_UNIT:
            now = convert_weight(current.weight, current.weight_unit, wanted.weight_unit)
        if now != wanted.weight:
            body["physical"] = {"weight": json_number(wanted.weight),
                                "weight_unit": wanted.weight_unit}
            old = "" if current.weight is None else \
                f"{current.weight.normalize():f} {current.weight_unit}"
            changes.append(RackbeatChange("weight", old,
                                          f"{wanted.weight:f} {wanted.weight_unit}"))
    return body, tuple(changes)


def shopify_source_hash(product: ProductState, variant: VariantState, *, fields: Iterable[str],
                        prices_include_tax: bool, weight_unit: str,
                        currency_rate: Decimal = Decimal(1)) -> str:
    """Hash of the Shopify values that feed a Rackbeat product (Shopify master).

    Covers what :func:`rackbeat_fields_from_variant` reads for the synced fields, so a product
    that changed in ways rackshop does not sync (inventory, tags, the stock job's own writes) is
    recognised without a call to Rackbeat.
    """
    f = sorted(set(fields))
    state: dict[str, Any] = {"d": "sf", "fields": f, "sku": sku_key(variant.sku),
                             "incl": prices_include_tax, "unit": weight_unit}
    if "name" in f:
        state["name"] = variant_name(product.title, variant.title, product.variant_count)
    if "description" in f:
        state["description"] = html_to_text(product.description_html)
    if "sales_price" in f:
        state["price"] = str(cents(variant.price))
        state["taxable"] = variant.taxable
        if currency_rate != 1:
            state["rate"] = str(currency_rate)
    if "weight" in f:
        state["weight"] = None if variant.weight is None else str(variant.weight)
        state["weight_unit"] = variant.weight_unit
    return stable_hash(state)
