"""Pure product transforms Rackbeat -> Shopify: no I/O, no clock.

Both directions of ``sync-products`` and the go-live import (``init-sync``) build on these
functions. Money is :class:`~decimal.Decimal` throughout; floats appear only at the JSON boundary.

Rackbeat -> Shopify (``products.master = "rackbeat"``)
------------------------------------------------------
:func:`desired_from_rackbeat` turns a Rackbeat item into the Shopify values it calls for, and
:func:`diff_for_shopify` compares them with a Shopify product/variant, field by field:

* ``name`` -> product title, **only for single-variant products**. The title of a product with
  several variants is shared by all of them while each Rackbeat item has its own name, so it is
  left alone; so are the other product-level fields (description, product type, status).
* ``number`` -> variant SKU (it is also the key: the Rackbeat number matches the SKU ignoring case
  and surrounding spaces, as Rackbeat itself looks numbers up; a SKU that differs only that way is
  rewritten to the Rackbeat spelling).
* ``sales_price`` -> variant price: VAT is added when Rackbeat's prices exclude it
  (``rackbeat.prices_include_vat = false``) and the shop enters prices with tax
  (``prices_include_tax = true``), and removed in the opposite case; the rate is the item's
  product group's domestic VAT, or ``products.vat_rate`` when the group gives none. Rounded half
  up to cents.
* ``barcode`` -> variant barcode; ``description`` -> product description (plain text as HTML
  paragraphs, compared as text so Shopify's HTML normalisation causes no writes);
  ``group`` -> product type (the group's name).
* barred items: ``products.barred = "draft"`` / ``"archive"`` set the product status (single-variant
  products only), ``"ignore"`` leaves barred items out of the sync altogether.

The other direction is :mod:`rackshop.sync.product_map_rackbeat`; the value rules both use
(prices both ways, VAT, weights, HTML <-> text) are in :mod:`rackshop.sync.product_values`, and
what they read in :mod:`rackshop.sync.product_state`.

Echo-proofing
-------------
:func:`stable_hash` hashes canonical JSON. The job records, per shop and SKU, a hash of what it
last wrote (or verified); a change that comes back with the same hash is its own echo and causes
no write. :func:`rackbeat_source_hash`, :func:`shopify_state_hash` and
:func:`shopify_source_hash` define what each hash covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from rackshop.sync.product_state import ProductState, RackbeatItem, VariantState
from rackshop.sync.product_values import (
    ZERO,
    cents,
    html_to_text,
    normalize_text,
    shopify_price,
    show_value,
    stable_hash,
    text_to_html,
    to_shop_currency,
    vat_factor,
)

PRODUCT_FIELDS = ("title", "description", "product_type", "status")
"""Shopify product-level fields rackshop may write (by ``productUpdate``)."""

VARIANT_FIELDS = ("sku", "price", "barcode")
"""Shopify variant-level fields rackshop may write (by ``productVariantsBulkUpdate``)."""

BARRED_STATUS = {"draft": "DRAFT", "archive": "ARCHIVED"}


@dataclass(frozen=True)
class PushSettings:
    """The settings of a Rackbeat-master shop that shape what is pushed.

    Attributes:
        fields: ``products.fields``: which of name, number, sales_price, barcode, description,
            group are synced.
        rackbeat_prices_include_vat: ``rackbeat.prices_include_vat``.
        shop_prices_include_tax: The shop's ``prices_include_tax``.
        default_vat_rate: ``products.vat_rate`` (used when the item's group gives no rate).
        barred: ``products.barred``: draft, archive or ignore.
        new_product_status: ``products.new_product_status`` for products rackshop creates.
    """

    fields: tuple[str, ...]
    rackbeat_prices_include_vat: bool = False
    shop_prices_include_tax: bool = True
    default_vat_rate: Decimal = Decimal(25)
    barred: str = "draft"
    new_product_status: str = "draft"
    currency_rate: Decimal | None = Decimal(1)
    """Units of Rackbeat's base currency per unit of the shop's currency (1: the same currency;
    ``None``: no rate known, so prices are not written)."""
    price_rounding: str = "cent"


@dataclass(frozen=True)
class DesiredShopify:
    """What a Rackbeat item calls for in Shopify. ``None`` means "not synced" for that field.

    Attributes:
        sku: The Rackbeat number (always: it is the key).
        set_sku: Whether the SKU's spelling is synced (``number`` in fields).
        barcode: ``""`` when Rackbeat has none (clears Shopify's), ``None`` when not synced.
        description: Plain text (compared as text, written as HTML).
        status: ``DRAFT``/``ARCHIVED`` for a barred item, else ``None`` (status not managed).
        skip: A barred item with ``barred = "ignore"``: nothing is done with it.
    """

    sku: str
    set_sku: bool
    title: str | None
    price: Decimal | None
    barcode: str | None
    description: str | None
    product_type: str | None
    status: str | None
    barred: bool
    skip: bool
    create_title: str = ""
    create_status: str = "DRAFT"
    vat_rate: Decimal = ZERO

    def as_json(self) -> dict[str, Any]:
        """A JSON-able form (for hashing and listings)."""
        return {
            "sku": self.sku, "set_sku": self.set_sku, "title": self.title,
            "price": None if self.price is None else str(self.price),
            "barcode": self.barcode, "description": self.description,
            "product_type": self.product_type, "status": self.status, "barred": self.barred,
            "skip": self.skip, "create_title": self.create_title,
            "create_status": self.create_status,
        }


def item_vat_rate(item: RackbeatItem, default: Decimal) -> Decimal:
    """The item's VAT rate: its product group's domestic rate, else the configured one."""
    return item.vat_rate if item.vat_rate is not None else default


def desired_from_rackbeat(item: RackbeatItem, settings: PushSettings, *,
                          taxable: bool = True) -> DesiredShopify:
    """The Shopify values a Rackbeat item calls for (Rackbeat master).

    Args:
        item: The Rackbeat product or BOM.
        settings: The shop's push settings.
        taxable: The Shopify variant's ``taxable``: an untaxed variant's price carries no VAT
            (its price is Rackbeat's, converted to the shop's currency as needed).
    """
    f = set(settings.fields)
    rate = item_vat_rate(item, settings.default_vat_rate) if taxable else ZERO
    price: Decimal | None = None
    if settings.currency_rate is not None:
        gross = shopify_price(item.sales_price, vat_rate=rate,
                              rackbeat_includes_vat=settings.rackbeat_prices_include_vat,
                              shop_includes_tax=settings.shop_prices_include_tax)
        if settings.currency_rate != 1:
            # Convert the unrounded amount, then round once in the shop's currency.
            exact = item.sales_price
            if settings.rackbeat_prices_include_vat != settings.shop_prices_include_tax:
                exact = exact * vat_factor(rate) if settings.shop_prices_include_tax \
                    else exact / vat_factor(rate)
            gross = to_shop_currency(exact, settings.currency_rate, settings.price_rounding)
        price = gross
    status = BARRED_STATUS.get(settings.barred) if item.is_barred else None
    return DesiredShopify(
        sku=item.number.strip(),
        set_sku="number" in f,
        title=item.name if "name" in f else None,
        price=price if "sales_price" in f else None,
        barcode=(item.barcode or "") if "barcode" in f else None,
        description=normalize_text(item.description) if "description" in f else None,
        product_type=item.group_name if "group" in f else None,
        status=status,
        barred=item.is_barred,
        skip=item.is_barred and settings.barred == "ignore",
        create_title=item.name,
        create_status="ACTIVE" if settings.new_product_status == "active" else "DRAFT",
        vat_rate=rate,
    )


@dataclass(frozen=True)
class FieldChange:
    """One field rackshop will write (or, in a dry run, would write).

    Attributes:
        field: ``title``, ``description``, ``product_type``, ``status`` (product level) or
            ``sku``, ``price``, ``barcode`` (variant level).
        old: The current value, for display.
        new: The new value, for display.
        value: What is sent.
    """

    field: str
    old: str
    new: str
    value: Any

    @property
    def level(self) -> str:
        return "product" if self.field in PRODUCT_FIELDS else "variant"


@dataclass(frozen=True)
class ShopifyDiff:
    """The writes one Rackbeat item calls for on one Shopify variant (and its product)."""

    sku: str
    product_id: str
    variant_id: str
    changes: tuple[FieldChange, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def product_changes(self) -> tuple[FieldChange, ...]:
        return tuple(c for c in self.changes if c.level == "product")

    @property
    def variant_changes(self) -> tuple[FieldChange, ...]:
        return tuple(c for c in self.changes if c.level == "variant")


OWNABLE_FIELDS = ("barcode", "description", "product_type")
"""Shopify fields a shop may hold on its own: see :func:`owned_fields`."""


def owned_fields(desired: DesiredShopify, product: ProductState, variant: VariantState,
                 previous: Iterable[str] = ()) -> tuple[str, ...]:
    """The field ownership rule: which of :data:`OWNABLE_FIELDS` have held Rackbeat's value.

    A field becomes Rackbeat's once Shopify holds the same non-empty value as Rackbeat (written
    by rackshop or found equal) and stays Rackbeat's. Only a Rackbeat-owned field may be cleared
    by an empty Rackbeat value (barcode, description) or overwritten by a different product type
    (the group's name): a value the shop had before and Rackbeat never held is left as it is.
    """
    out = set(previous)
    if desired.barcode and (variant.barcode or "") == desired.barcode:
        out.add("barcode")
    if desired.description and html_to_text(product.description_html) == desired.description:
        out.add("description")
    if desired.product_type and \
            product.product_type.strip().casefold() == desired.product_type.strip().casefold():
        out.add("product_type")  # the group of that name (init-sync matches types that way)
    return tuple(sorted(out))


def diff_for_shopify(desired: DesiredShopify, product: ProductState,
                     variant: VariantState, *, owned: Iterable[str] | None = None) -> ShopifyDiff:
    """The fields that differ between what Rackbeat calls for and what Shopify has.

    Product-level fields (title, description, product type, status) are compared only for
    single-variant products; for a product with several variants they are left as they are and a
    note says so when one of them would have changed.

    Args:
        owned: The fields Rackbeat has owned for this link (:func:`owned_fields`); ``None``
            treats every field as Rackbeat's. A non-owned barcode or description is never
            cleared, a non-owned product type never replaced (a note says so).
    """
    changes: list[FieldChange] = []
    notes: list[str] = []
    if desired.skip:
        return ShopifyDiff(desired.sku, product.id, variant.id, (),
                           ("barred in Rackbeat; products.barred = \"ignore\" leaves it alone",))
    if owned is not None:
        mine = set(owned_fields(desired, product, variant, owned))
        keep: dict[str, Any] = {}
        if desired.barcode == "" and variant.barcode and "barcode" not in mine:
            keep["barcode"] = variant.barcode
        if desired.description == "" and product.description_html and "description" not in mine:
            keep["description"] = html_to_text(product.description_html)
        if desired.product_type is not None and product.product_type and \
                desired.product_type != product.product_type and "product_type" not in mine:
            keep["product_type"] = product.product_type
            notes.append(f"product type {product.product_type!r} is the shop's own (Rackbeat's "
                         f"group {desired.product_type!r} has never been it): left as it is")
        if keep:
            desired = replace(desired, **keep)
    product_level: list[FieldChange] = []
    if desired.title is not None and desired.title != product.title:
        product_level.append(FieldChange("title", product.title, desired.title, desired.title))
    if desired.description is not None and \
            desired.description != html_to_text(product.description_html):
        product_level.append(FieldChange(
            "description", show_value(html_to_text(product.description_html)),
            show_value(desired.description), text_to_html(desired.description)))
    if desired.product_type is not None and desired.product_type != product.product_type:
        product_level.append(FieldChange("product_type", product.product_type,
                                         desired.product_type, desired.product_type))
    if desired.status is not None and desired.status != product.status:
        product_level.append(FieldChange("status", product.status, desired.status,
                                         desired.status))
    if product.single_variant:
        changes += product_level
    elif product_level:
        names = ", ".join(c.field for c in product_level)
        notes.append(f"product has {product.variant_count} variants: its {names} "
                     "(product-level) is left as it is in Shopify")
    if desired.set_sku and (variant.sku or "") != desired.sku:
        changes.append(FieldChange("sku", variant.sku or "", desired.sku, desired.sku))
    if desired.price is not None and cents(variant.price) != desired.price:
        changes.append(FieldChange("price", f"{variant.price:.2f}", f"{desired.price:.2f}",
                                   f"{desired.price:.2f}"))
    if desired.barcode is not None and (variant.barcode or "") != desired.barcode:
        changes.append(FieldChange("barcode", variant.barcode or "", desired.barcode,
                                   desired.barcode or None))
    return ShopifyDiff(desired.sku, product.id, variant.id, tuple(changes), tuple(notes))


def product_update_input(product_id: str, changes: Sequence[FieldChange]) -> dict[str, Any]:
    """The ``ProductUpdateInput`` for product-level changes (only the fields that differ)."""
    out: dict[str, Any] = {"id": product_id}
    keys = {"title": "title", "description": "descriptionHtml", "product_type": "productType",
            "status": "status"}
    for c in changes:
        out[keys[c.field]] = c.value
    return out


def variant_update_input(variant_id: str, changes: Sequence[FieldChange]) -> dict[str, Any]:
    """One ``ProductVariantsBulkInput`` for variant-level changes (SKU via the inventory item)."""
    out: dict[str, Any] = {"id": variant_id}
    for c in changes:
        if c.field == "sku":
            out.setdefault("inventoryItem", {})["sku"] = c.value
        elif c.field == "price":
            out["price"] = c.value
        elif c.field == "barcode":
            out["barcode"] = c.value
    return out


def product_create_input(desired: DesiredShopify, location_ids: Sequence[str]) -> dict[str, Any]:
    """The ``ProductSetInput`` that creates a single-variant product for a Rackbeat item.

    Used only to *create* (never with an identifier: ``productSet`` on an existing product deletes
    what it is not given). The variant is tracked and stocked (0 available) at each of the shop's
    stock locations, so ``sync-stock`` can push to it at once. Fields not in ``products.fields``
    are still set on creation where Shopify needs a value (the title) and left empty otherwise.
    """
    variant: dict[str, Any] = {
        "optionValues": [{"optionName": "Title", "name": "Default Title"}],
        "sku": desired.sku,
        "inventoryItem": {"tracked": True},
        "inventoryQuantities": [{"locationId": loc, "name": "available", "quantity": 0}
                                for loc in location_ids],
    }
    if desired.price is not None:
        variant["price"] = f"{desired.price:.2f}"
    if desired.barcode:
        variant["barcode"] = desired.barcode
    product: dict[str, Any] = {
        "title": desired.title if desired.title is not None else desired.create_title,
        "status": desired.create_status,
        "productOptions": [{"name": "Title", "values": [{"name": "Default Title"}]}],
        "variants": [variant],
    }
    if desired.description:
        product["descriptionHtml"] = text_to_html(desired.description)
    if desired.product_type:
        product["productType"] = desired.product_type
    return product


def created_state_changes(desired: DesiredShopify) -> tuple[FieldChange, ...]:
    """The fields of a product rackshop creates, as changes from nothing (for listings)."""
    out = [FieldChange("title", "", desired.title or desired.create_title, None),
           FieldChange("sku", "", desired.sku, None)]
    if desired.price is not None:
        out.append(FieldChange("price", "", f"{desired.price:.2f}", None))
    if desired.barcode:
        out.append(FieldChange("barcode", "", desired.barcode, None))
    if desired.description:
        out.append(FieldChange("description", "", show_value(desired.description), None))
    if desired.product_type:
        out.append(FieldChange("product_type", "", desired.product_type, None))
    out.append(FieldChange("status", "", desired.create_status, None))
    return tuple(out)


def rackbeat_source_hash(desired: DesiredShopify) -> str:
    """Hash of what a Rackbeat item calls for in Shopify (changes when a synced value does)."""
    return stable_hash({"d": "rb", **desired.as_json()})


def shopify_state_hash(product: ProductState, variant: VariantState,
                       fields: Iterable[str]) -> str:
    """Hash of the Shopify values rackshop manages for one variant (Rackbeat master).

    Covers the variant's SKU, price and barcode, and for a single-variant product its title,
    description (as text), product type and status, restricted to ``products.fields``. After a
    write the job records this hash of the state Shopify answered with, so the write coming back
    as a "changed product" is recognised as its own echo.
    """
    f = set(fields)
    state: dict[str, Any] = {"d": "sh", "sku": variant.sku or ""}
    if "sales_price" in f:
        state["price"] = str(cents(variant.price))
    if "barcode" in f:
        state["barcode"] = variant.barcode or ""
    if not variant.taxable:
        state["untaxed"] = True  # the price carries no VAT: a change of it changes the price
    if product.single_variant:
        state["status"] = product.status
        if "name" in f:
            state["title"] = product.title
        if "description" in f:
            state["description"] = html_to_text(product.description_html)
        if "group" in f:
            state["product_type"] = product.product_type
    return stable_hash(state)
