"""sync-products' reads: Shopify's products changed since the cursor (bulk or paged), variants by
id, Rackbeat's items (the feed), and the price conversion between the two currencies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from rackshop.config import ShopConfig
from rackshop.rackbeat.client import RackbeatClient
from rackshop.runtime import Runtime
from rackshop.shopify.bulk import bulk_query_text, run_bulk_query
from rackshop.shopify.client import ShopifyClient
from rackshop.sync.moments import iso_z
from rackshop.sync.product_state import (
    ProductState,
    RackbeatItem,
    VariantState,
    product_state,
    variant_state,
)
from rackshop.sync.product_values import sku_key
from rackshop.sync.runner import ProgressSink

#: Re-read what changed this long before the cursor (clock skew, Shopify's search index lag).
OVERLAP = timedelta(minutes=10)

#: Variants read with each product of a ProductsSince page (20 products: requested cost ~870,
#: under Shopify's 1,000 per query); a product with more gets ProductVariantsPage calls.
VARIANTS_PER_PRODUCT = 10

VARIANTS_PER_PAGE = 100

#: Variants per ProductVariantsByIds call.
NODES_PER_CALL = 100

#: Rackbeat items per list page.
RACKBEAT_PAGE = 1000


@dataclass(frozen=True)
class Tuning:
    """Batch sizes and thresholds (defaults suit real shops; tests and benchmarks vary them).

    Attributes:
        bulk_threshold: More changed products than this are read by a bulk operation.
        products_per_page: Products per ProductsSince page.
        single_lookup_limit: More single Rackbeat lookups than this read the whole list instead.
        overlap: How far before the cursor changes are read again.
    """

    bulk_threshold: int = 100
    products_per_page: int = 20
    single_lookup_limit: int = 50
    overlap: timedelta = OVERLAP


def read_shopify_products(client: ShopifyClient, since: datetime | None, *, allow_bulk: bool,
                          progress: ProgressSink | None = None,
                          tuning: Tuning | None = None) -> list[ProductState]:
    """Products changed since ``since`` (all when ``None``), each with all its variants.

    Few changes: pages of ``tuning.products_per_page``; many (more than
    ``tuning.bulk_threshold``) and ``allow_bulk``: one bulk operation, a few calls whatever the
    size.
    """
    tuning = tuning or Tuning()
    query = None if since is None else f"updated_at:>='{iso_z(since)}'"
    count = int(((client.query("ProductsCount", {"query": query}).get("productsCount") or {})
                 .get("count")) or 0)
    if progress:
        progress.start(f"{client.shop}: reading Shopify products", count)
    if count > tuning.bulk_threshold and allow_bulk:
        products = _bulk_products(client, query)
    else:
        products = list(_paged_products(client, since, tuning.products_per_page))
    if progress:
        progress.finish()
    return products


def _bulk_products(client: ShopifyClient, query: str | None) -> list[ProductState]:
    nodes: dict[str, dict[str, Any]] = {}
    children: dict[str, list[dict[str, Any]]] = {}
    for line in run_bulk_query(client, bulk_query_text("BulkProducts", {"query": query})):
        parent = line.get("__parentId")
        if parent is None:
            nodes[str(line["id"])] = line
        else:
            children.setdefault(str(parent), []).append(line)
    out = []
    for pid, node in nodes.items():
        variants = sorted(children.get(pid, []), key=lambda v: int(v.get("position") or 0))
        out.append(product_state(node, variants, variant_count=len(variants)))
    return out


def _paged_products(client: ShopifyClient, since: datetime | None,
                    per_page: int) -> Iterator[ProductState]:
    """Products changed since ``since`` (all when ``None``), oldest change first, from the list
    by last change: current at once, where a search lags a merchant's edit by seconds."""
    for node in client.changed_since("ProductsSince", {"variants": VARIANTS_PER_PRODUCT},
                                     ("products",), since, page_size=per_page):
        conn = node.get("variants") or {}
        variants = list(conn.get("nodes") or [])
        if (conn.get("pageInfo") or {}).get("hasNextPage"):
            variants = list(client.paginate("ProductVariantsPage", {"id": node["id"]},
                                            ("product", "variants"), page_size=VARIANTS_PER_PAGE))
        yield product_state(node, variants, variant_count=len(variants))


def read_variants_by_id(client: ShopifyClient, ids: Sequence[str]
                        ) -> dict[str, tuple[ProductState, VariantState]]:
    """Current state of variants by id (absent: the variant no longer exists)."""
    out: dict[str, tuple[ProductState, VariantState]] = {}
    for i in range(0, len(ids), NODES_PER_CALL):
        data = client.query("ProductVariantsByIds", {"ids": list(ids[i:i + NODES_PER_CALL])})
        for node in data.get("nodes") or []:
            if not node or not node.get("id") or not node.get("product"):
                continue
            v = variant_state(node)
            p = product_state(node["product"], [])
            out[v.id] = (p, v)
    return out


class RackbeatFeed:
    """Rackbeat items, read once per run and shared by the shops of the run."""

    def __init__(self, client: RackbeatClient, tuning: Tuning) -> None:
        self.client = client
        self.tuning = tuning
        self._changed: dict[tuple[str | None, str], list[RackbeatItem]] = {}
        self._all: dict[str, dict[str, RackbeatItem]] = {}
        self._single: dict[str, RackbeatItem | None] = {}
        self._groups: dict[int, Decimal | None] = {}

    def changed(self, since: datetime | None, kind: str) -> list[RackbeatItem]:
        """Products (``kind = "products"``) or BOMs (``"lots"``) changed since ``since``."""
        key = (None if since is None else iso_z(since), kind)
        if key not in self._changed:
            if since is None:
                self._changed[key] = list(self.all(kind).values())
            else:
                # Rackbeat's documented filter format, read in the account's time zone. Sent in
                # UTC: for an account east of UTC (Rackbeat's market) that only widens the window.
                params = {"updated_at_from": since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")}
                self._changed[key] = [RackbeatItem.from_json(d) for d in
                                      self.client.iter_list(kind, params, page_size=RACKBEAT_PAGE)]
        return self._changed[key]

    def all(self, kind: str) -> dict[str, RackbeatItem]:
        """Every product or BOM, by SKU key."""
        if kind not in self._all:
            self._all[kind] = {sku_key(i.number): i for i in (
                RackbeatItem.from_json(d)
                for d in self.client.iter_list(kind, page_size=RACKBEAT_PAGE))}
        return self._all[kind]

    def get(self, number: str) -> RackbeatItem | None:
        """One item (product or BOM) by number, or ``None``."""
        key = sku_key(number)
        for items in self._all.values():
            if key in items:
                return items[key]
        if key not in self._single:
            found = self.client.find_one("items", number)
            self._single[key] = RackbeatItem.from_json(found) if found else None
        return self._single[key]

    def lookup(self, numbers: Iterable[str], kinds: Sequence[str], *, many: bool = False
               ) -> dict[str, RackbeatItem]:
        """Items by SKU key for ``numbers``: single lookups, or whole lists when there are many
        (more than ``tuning.single_lookup_limit``, or ``many``: a first, full pass)."""
        wanted = {sku_key(n): n for n in numbers}
        if not wanted:
            return {}
        out: dict[str, RackbeatItem] = {}
        if many or len(wanted) > self.tuning.single_lookup_limit:
            for kind in kinds:
                for key, item in self.all(kind).items():
                    if key in wanted:
                        out[key] = item
            return out
        for key, number in wanted.items():
            found = self.get(number)
            if found is not None:
                out[key] = found
        return out

    def base_currency(self) -> str | None:
        """Rackbeat's base currency (``GET /self``), read once."""
        if not hasattr(self, "_base"):
            account = self.client.self_info().get("user_account") or {}
            code = account.get("base_currency")
            self._base: str | None = str(code).upper() if code else None
        return self._base

    def currency_rate(self, code: str) -> Decimal | None:
        """Units of the base currency per unit of ``code`` from Rackbeat's currency table
        (``GET /currencies``: ``rate`` is base units per 100 units), or ``None``."""
        if not hasattr(self, "_rates"):
            self._rates: dict[str, Decimal] = {}
            for c in self.client.list_all("currencies"):
                if c.get("code") and c.get("rate"):
                    self._rates[str(c["code"]).upper()] = Decimal(str(c["rate"])) / 100
        return self._rates.get(code.upper())

    def group_vat(self, number: int) -> Decimal | None:
        """The domestic VAT rate of a product group (``None`` if it has none or is unknown)."""
        if number not in self._groups:
            found = self.client.find_one("product-groups", number)
            vat = (found or {}).get("vat_domestic")
            self._groups[number] = Decimal(str(vat)) if vat is not None else None
        return self._groups[number]


@dataclass(frozen=True)
class PriceConversion:
    """How a shop's prices relate to Rackbeat's.

    Attributes:
        shop_currency: The shop's currency (Shopify's ``shop.currencyCode``).
        base_currency: Rackbeat's base currency.
        rate: Units of the base currency per unit of the shop's currency (1 when they are the
            same); ``None`` when no rate is known: prices are not written for the shop.
        source: ``same``, ``config`` (``products.currency_rate``) or ``rackbeat``
            (``GET /currencies``).
        reason: Why prices are not written (``rate is None``).
    """

    shop_currency: str
    base_currency: str
    rate: Decimal | None
    source: str
    reason: str = ""


def price_conversion(shop: ShopConfig, shop_currency: str,
                     feed: RackbeatFeed) -> PriceConversion:
    """The conversion between a shop's prices and Rackbeat's (see docs/products.md)."""
    base = feed.base_currency() or shop_currency
    cur = shop_currency.upper()
    if cur == base:
        return PriceConversion(cur, base, Decimal(1), "same")
    if shop.products.currency_rate is not None:
        return PriceConversion(cur, base, Decimal(str(shop.products.currency_rate)), "config")
    rate = feed.currency_rate(cur)
    if rate is not None:
        return PriceConversion(cur, base, rate, "rackbeat")
    return PriceConversion(cur, base, None, "none", (
        f"prices are not written for this shop: its currency {cur} differs from Rackbeat's "
        f"base currency {base}, and neither Rackbeat's currency table (GET /currencies) nor "
        f"shops.{shop.name}.products.currency_rate gives a rate; add {cur} to Rackbeat's "
        "currencies or set currency_rate"))


def currency_check(runtime: Runtime, shop: ShopConfig, currency: str) -> tuple[str, str]:
    """For ``rackshop check``: ``("ok" | "warn", text)`` on how the shop's product prices are
    converted, or why none are written."""
    conv = price_conversion(shop, currency, RackbeatFeed(runtime.rackbeat(), Tuning()))
    if conv.rate is None:
        return "warn", conv.reason
    if conv.source == "same":
        return "ok", f"prices in {conv.base_currency}, Rackbeat's base currency"
    origin = {"config": f"shops.{shop.name}.products.currency_rate",
              "rackbeat": "Rackbeat's currency table"}[conv.source]
    return "ok", (f"prices converted {conv.base_currency} <-> {conv.shop_currency} at "
                  f"{conv.rate:f} {conv.base_currency} per {conv.shop_currency} ({origin}; "
                  f"rounding: {shop.products.price_rounding})")


def shop_currency(client: ShopifyClient) -> str:
    """The shop's currency code (one small read)."""
    data = client.query("ShopInfo", {"first": 1})
    return str((data.get("shop") or {}).get("currencyCode") or "")
