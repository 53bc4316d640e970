"""Pure value rules of the product transforms: money and VAT, rounding and currency, weights, HTML
<-> text, names, SKU keys and hashes. No I/O, no clock.

Prices both ways
----------------
:func:`shopify_price` (Rackbeat -> Shopify) rounds to cents. :func:`rackbeat_price`
(Shopify -> Rackbeat) keeps the *fewest* decimals (2 to 6; Rackbeat accepts 6) with which adding
the VAT back reproduces the Shopify price, so both round trips hold to the cent: Rackbeat ->
Shopify -> Rackbeat (for prices in cents) and Shopify -> Rackbeat -> Shopify. One exception,
inherent in the numbers: when Rackbeat's prices include VAT and the shop's exclude it, VAT is
*removed* on the way to Shopify, and Shopify's cents cannot tell every gross cent apart (2.73 and
2.74 at 6 % are both 2.58), so the way back may land one cent off.

:func:`stable_hash` hashes canonical JSON, for echo-proofing (see :mod:`rackshop.sync.product_map`).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from html.parser import HTMLParser
from typing import Any, TypeVar

T = TypeVar("T")

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


def split_shared(holders: Mapping[str, list[T]]) -> tuple[dict[str, T], dict[str, list[T]]]:
    """SKU keys held by one record (key -> that record) apart from the keys several records
    share (key -> all of them, duplicates that nothing is synced to)."""
    unique = {key: held[0] for key, held in holders.items() if len(held) == 1}
    shared = {key: held for key, held in holders.items() if len(held) > 1}
    return unique, shared


def stable_hash(value: Any) -> str:
    """A short, stable hash of a JSON-able value (canonical JSON, SHA-256, 16 hex digits)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


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


def show_value(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


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


_GID_RE = re.compile(r"^gid://shopify/(\w+)/(\d+)$")


def gid_number(gid: str) -> str:
    """The numeric part of a Shopify gid (``gid://shopify/Product/12`` -> ``12``)."""
    m = _GID_RE.match(gid or "")
    return m.group(2) if m else gid
