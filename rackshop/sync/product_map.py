"""Pure product transforms between Rackbeat items and Shopify products: no I/O, no clock.

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

Shopify -> Rackbeat (``products.master = "shopify"``)
-----------------------------------------------------
:func:`rackbeat_product_from_variant` is the one mapping from a Shopify variant to a Rackbeat
product payload (used by ``sync-products`` and ``init-sync``).

Prices both ways
----------------
:func:`shopify_price` (Rackbeat -> Shopify) rounds to cents. :func:`rackbeat_price`
(Shopify -> Rackbeat) keeps the *fewest* decimals (2 to 6; Rackbeat accepts 6) with which adding
the VAT back reproduces the Shopify price, so both round trips hold to the cent: Rackbeat ->
Shopify -> Rackbeat (for prices in cents) and Shopify -> Rackbeat -> Shopify. One exception,
inherent in the numbers: when Rackbeat's prices include VAT and the shop's exclude it, VAT is
*removed* on the way to Shopify, and Shopify's cents cannot tell every gross cent apart (2.73 and
2.74 at 6 % are both 2.58), so the way back may land one cent off.

Echo-proofing
-------------
:func:`stable_hash` hashes canonical JSON. The job records, per shop and SKU, a hash of what it
last wrote (or verified); a change that comes back with the same hash is its own echo and causes
no write. :func:`rackbeat_source_hash`, :func:`shopify_state_hash` and
:func:`shopify_source_hash` define what each hash covers.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from html.parser import HTMLParser
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal(0)
HUNDRED = Decimal(100)
MAX_PRICE_DECIMALS = 6
"""Rackbeat accepts prices with up to 6 decimals."""
WEIGHT_PLACES = Decimal("0.001")
NAME_SEPARATOR = " - "
"""Between product title and variant title in a Rackbeat name (``Tee - Red / M``)."""
NAME_LIMIT = 255
"""The longest name Rackbeat (and title Shopify) accepts."""

#: Grams per unit, for Shopify's and Rackbeat's weight units.
GRAMS_PER_UNIT: dict[str, Decimal] = {
    "KILOGRAMS": Decimal(1000),
    "GRAMS": Decimal(1),
    "POUNDS": Decimal("453.59237"),
    "OUNCES": Decimal("28.349523125"),
    "kg": Decimal(1000),
    "g": Decimal(1),
    "lb": Decimal("453.59237"),
    "oz": Decimal("28.349523125"),
}

PRODUCT_FIELDS = ("title", "description", "product_type", "status")
"""Shopify product-level fields rackshop may write (by ``productUpdate``)."""
VARIANT_FIELDS = ("sku", "price", "barcode")
"""Shopify variant-level fields rackshop may write (by ``productVariantsBulkUpdate``)."""

BARRED_STATUS = {"draft": "DRAFT", "archive": "ARCHIVED"}


# -- small helpers ---------------------------------------------------------------------------


def dec(value: Any) -> Decimal:
    """A JSON amount (string, int or float) as a Decimal; ``None`` and ``""`` are 0.

    Floats go through ``repr`` so ``614.1`` is ``Decimal("614.1")``, not its binary expansion.
    """
    if value is None or value == "":
        return ZERO
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc


def cents(value: Decimal) -> Decimal:
    """Round to cents, half away from zero."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def json_number(value: Decimal) -> int | float:
    """A Decimal for JSON: an int when whole, else a float (exact for <= 15 significant digits)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def sku_key(sku: str | None) -> str:
    """The matching key of a SKU / item number: trimmed and case-folded ("" when none).

    Rackbeat looks numbers up case-insensitively (and trims input), so ``abc-1`` in Shopify and
    ``ABC-1`` in Rackbeat are the same item, and two Shopify variants that differ only in case are
    duplicates.
    """
    return (sku or "").strip().casefold()


def stable_hash(value: Any) -> str:
    """A short, stable hash of a JSON-able value (canonical JSON, SHA-256, 16 hex digits)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# -- prices ------------------------------------------------------------------------------------


def vat_factor(rate: Decimal) -> Decimal:
    """``1 + rate/100`` for a rate in percent."""
    return 1 + rate / HUNDRED


def shopify_price(sales_price: Decimal, *, vat_rate: Decimal, rackbeat_includes_vat: bool,
                  shop_includes_tax: bool) -> Decimal:
    """The Shopify variant price for a Rackbeat sales price (Rackbeat -> Shopify).

    Args:
        sales_price: Rackbeat's ``sales_price`` (up to 6 decimals).
        vat_rate: The VAT rate in percent (25 for 25 %).
        rackbeat_includes_vat: ``rackbeat.prices_include_vat``.
        shop_includes_tax: The shop's ``prices_include_tax`` (Shopify's "taxes included").

    Returns:
        The price in cents (half up): VAT added, removed or neither, as the two settings say.
    """
    if rackbeat_includes_vat == shop_includes_tax:
        return cents(sales_price)
    if shop_includes_tax:
        return cents(sales_price * vat_factor(vat_rate))
    return cents(sales_price / vat_factor(vat_rate))


def rackbeat_price(price: Decimal, *, vat_rate: Decimal, shop_includes_tax: bool,
                   rackbeat_includes_vat: bool = False, taxable: bool = True) -> Decimal:
    """The Rackbeat sales price for a Shopify variant price (Shopify -> Rackbeat).

    The exact conversion is rounded to the fewest decimals (2 to 6) with which
    :func:`shopify_price` gives back ``price``: ``125.00`` at 25 % is ``100.00``, but ``10.02`` is
    ``8.016`` because ``8.02`` would come back as ``10.03``.

    Args:
        price: The Shopify variant price.
        vat_rate: VAT in percent (the Rackbeat item's group rate, or the configured one).
        shop_includes_tax: The shop's ``prices_include_tax``.
        rackbeat_includes_vat: ``rackbeat.prices_include_vat``.
        taxable: The variant's ``taxable``; a non-taxable variant's price carries no tax, so
            its price is taken as it is (rate 0).
    """
    rate = vat_rate if taxable else ZERO
    if rackbeat_includes_vat == shop_includes_tax:
        exact = price
    elif shop_includes_tax:
        exact = price / vat_factor(rate)
    else:
        exact = price * vat_factor(rate)
    for places in range(2, MAX_PRICE_DECIMALS + 1):
        candidate = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        back = shopify_price(candidate, vat_rate=rate, rackbeat_includes_vat=rackbeat_includes_vat,
                             shop_includes_tax=shop_includes_tax)
        if back == cents(price):
            return candidate
    return exact.quantize(Decimal(1).scaleb(-MAX_PRICE_DECIMALS), rounding=ROUND_HALF_UP)


def same_price(a: Decimal | None, b: Decimal | None) -> bool:
    """Equal to 6 decimals (Rackbeat's precision; hides float noise from JSON)."""
    if a is None or b is None:
        return a is b
    q = Decimal(1).scaleb(-MAX_PRICE_DECIMALS)
    return a.quantize(q, rounding=ROUND_HALF_UP) == b.quantize(q, rounding=ROUND_HALF_UP)


# -- weights -----------------------------------------------------------------------------------


def convert_weight(value: Decimal, from_unit: str, to_unit: str) -> Decimal:
    """Convert a weight between Shopify's (``KILOGRAMS``...) and Rackbeat's (``kg``...) units.

    Rounded half up to 3 decimals of the target unit (a gram in kg), trailing zeros dropped.

    Raises:
        ValueError: An unknown unit.
    """
    try:
        grams = value * GRAMS_PER_UNIT[from_unit]
        out = grams / GRAMS_PER_UNIT[to_unit]
    except KeyError as exc:
        raise ValueError(f"unknown weight unit {exc.args[0]!r}") from None
    out = out.quantize(WEIGHT_PLACES, rounding=ROUND_HALF_UP)
    return out.normalize() + ZERO if out else ZERO


# -- text and HTML -------------------------------------------------------------------------------

_BLOCKS = frozenset({
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "blockquote", "pre", "section", "article", "header", "footer", "hr", "dd", "dt",
})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def normalize_text(text: str | None) -> str:
    """Whitespace-normalised plain text: each line's runs of spaces collapsed, lines trimmed,
    blank lines dropped (so text from HTML and typed text compare equal)."""
    lines = (" ".join(line.split()) for line in (text or "").replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def html_to_text(markup: str | None) -> str:
    """Shopify ``descriptionHtml`` as plain text for Rackbeat.

    Tags are dropped, entities decoded, block elements (``p``, ``br``, ``li``...) become line
    breaks, scripts and styles disappear; whitespace is normalised (:func:`normalize_text`).
    """
    if not markup:
        return ""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return normalize_text("".join(parser.parts))


def text_to_html(text: str | None) -> str:
    """Rackbeat's plain-text description as Shopify HTML: one ``<p>`` per line, escaped."""
    lines = normalize_text(text).split("\n")
    return "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in lines if line)


# -- the Shopify side ----------------------------------------------------------------------------


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


# -- the Rackbeat side ---------------------------------------------------------------------------


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


# -- Rackbeat -> Shopify -------------------------------------------------------------------------


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


def round_price(value: Decimal, rounding: str) -> Decimal:
    """Round a price converted into the shop's currency.

    ``cent``: half up to the cent. ``whole``: half up to whole units. ``95``: to the nearest
    price ending in .95 (81.25 -> 80.95, 81.60 -> 81.95; ties go up), never below 0.95 unless the
    price is 0.
    """
    if rounding == "whole":
        return value.quantize(Decimal(1), rounding=ROUND_HALF_UP).quantize(CENT)
    if rounding == "95":
        if value <= 0:
            return cents(value)
        out = (value + Decimal("0.05")).quantize(Decimal(1), rounding=ROUND_HALF_UP) \
            - Decimal("0.05")
        return max(out, Decimal("0.95")).quantize(CENT)
    return cents(value)


def to_shop_currency(price: Decimal, rate: Decimal, rounding: str) -> Decimal:
    """A price in Rackbeat's base currency in the shop's currency (``rate``: base units per shop
    unit); the base currency itself (rate 1) is always to the cent."""
    if rate == 1:
        return cents(price)
    return round_price(price / rate, rounding)


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


def _show(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
            "description", _show(html_to_text(product.description_html)),
            _show(desired.description), text_to_html(desired.description)))
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
        out.append(FieldChange("description", "", _show(desired.description), None))
    if desired.product_type:
        out.append(FieldChange("product_type", "", desired.product_type, None))
    out.append(FieldChange("status", "", desired.create_status, None))
    return tuple(out)


# -- hashes (echo-proofing) ----------------------------------------------------------------------


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


# -- Shopify -> Rackbeat -------------------------------------------------------------------------


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


def variant_name(product_title: str, variant_title: str | None, variant_count: int) -> str:
    """The Rackbeat name of a variant: the product title, plus `` - <variant title>`` when the
    product has several variants (``Tee - Red / M``)."""
    title = product_title.strip()
    vt = (variant_title or "").strip()
    if variant_count > 1 and vt and vt != "Default Title":
        return f"{title}{NAME_SEPARATOR}{vt}"
    return title


def shorten(text: str, limit: int = NAME_LIMIT) -> tuple[str, str | None]:
    """``text`` cut to ``limit`` characters (ending in an ellipsis), and a warning when cut."""
    if len(text) <= limit:
        return text, None
    out = text[:limit - 1].rstrip() + "\u2026"
    return out, (f"name of {len(text)} characters shortened to {len(out)} (the limit is "
                 f"{limit}): {out[:40]!r}...")


def group_for_type(product_type: str | None, groups: Mapping[str, int] | None,
                   default: int | None) -> int | None:
    """The Rackbeat group for a Shopify product type: the group whose name matches it (trimmed,
    ignoring case), else ``default``."""
    key = (product_type or "").strip().casefold()
    if key and groups and key in groups:
        return groups[key]
    return default


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
    """Like :func:`rackbeat_product_from_variant`, returning Decimals (for diffing).

    Args:
        barcode: Carry the variant's barcode (init-sync).
        groups: Rackbeat group numbers by case-folded name: the product type picks the group
            (init-sync); ``None`` puts every item in ``default_group``.
        currency_rate: Units of Rackbeat's base currency per unit of the shop's currency.
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


def rackbeat_product_from_variant(
    product: Mapping[str, Any] | ProductState,
    variant: Mapping[str, Any] | VariantState,
    *,
    prices_include_tax: bool,
    vat_rate: Decimal | float | int,
    default_group: int | None,
    weight_unit: str,
    fields: Iterable[str] = ("name", "description", "sales_price", "weight"),
    rackbeat_prices_include_vat: bool = False,
    variant_count: int | None = None,
    barcode: bool = False,
    groups: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The Rackbeat product payload for one Shopify variant (``POST /products`` body).

    (``barcode`` and ``groups``: see :func:`rackbeat_fields_from_variant`; a name longer than
    Rackbeat allows is shortened, see :func:`shorten`.)

    This is the one Shopify -> Rackbeat product mapping, shared by ``sync-products`` (Shopify
    master) and ``init-sync``.

    * ``number`` = the variant SKU (trimmed). Always set: it is the key.
    * ``name`` = the product title, plus ``" - "`` and the variant title when the product has
      several variants (``"Tee - Red / M"``).
    * ``description`` = the product's ``descriptionHtml`` as plain text (:func:`html_to_text`).
    * ``sales_price`` = the variant price with VAT removed when the shop's prices include tax and
      Rackbeat's exclude it (``vat_rate`` in percent; a non-taxable variant's price is taken as
      is), kept to the fewest decimals that reproduce the Shopify price (:func:`rackbeat_price`).
    * ``physical`` = ``{"weight", "weight_unit"}``: the inventory item's weight converted to
      ``weight_unit`` (``kg``, ``g``, ``lb``, ``oz``), 3 decimals.
    * ``group`` = ``default_group`` (the product group for new items; leave it out of updates so
      an item's group in Rackbeat is never moved).

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

    Returns:
        A JSON-ready dict (numbers as int/float).

    Raises:
        ValueError: The variant has no SKU, or a weight unit is unknown.
    """
    return rackbeat_fields_from_variant(
        product, variant, prices_include_tax=prices_include_tax, vat_rate=vat_rate,
        default_group=default_group, weight_unit=weight_unit, fields=fields,
        rackbeat_prices_include_vat=rackbeat_prices_include_vat, variant_count=variant_count,
        barcode=barcode, groups=groups,
    ).payload()


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
        changes.append(RackbeatChange("description", _show(current.description),
                                      _show(wanted.description)))
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


# -- the catalogue index -------------------------------------------------------------------------


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
    for key, pairs in holders.items():
        if len(pairs) == 1:
            out.unique[key] = pairs[0]
        else:
            out.duplicates[key] = pairs
    return out


_GID_RE = re.compile(r"^gid://shopify/(\w+)/(\d+)$")


def gid_number(gid: str) -> str:
    """The numeric part of a Shopify gid (``gid://shopify/Product/12`` -> ``12``)."""
    m = _GID_RE.match(gid or "")
    return m.group(2) if m else gid
