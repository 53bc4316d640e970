"""``rackshop sync-products``: products one way per shop (Rackbeat -> Shopify, or the reverse).

Per shop (``products.master``), read -> plan -> apply -> report:

* **read.** Shopify products changed since the shop's cursor (minus an overlap): a handful of
  pages, or one bulk operation when many changed (the first pass reads the whole catalogue that
  way). They refresh the shop's SKU index in the store (SKU -> product, variant, inventory item).
  With Rackbeat as master, also the Rackbeat products (and BOMs with ``include_boms``) changed
  since the Rackbeat cursor: one list call per 1,000 items.
* **plan** (pure, :mod:`rackshop.sync.product_map`): only records whose synced values changed on
  either side are looked at. A change is recognised by hash: the job records, per SKU, a hash of
  what it last wrote or verified, so its own writes (and the stock job's) coming back as "changed
  products" cost nothing. For the rest: desired values vs current values -> the fields that differ.
* **apply.** Rackbeat master: per product, ``productUpdate`` with only the differing product
  fields and ``productVariantsBulkUpdate`` with only the differing variant fields (up to 250
  variants a call); a missing item becomes a new single-variant product (``productSet`` without
  identifier: create only) when ``create_missing``. Shopify master: ``PUT /products/{number}`` with
  only the differing fields, or ``POST /products`` for a new number. Each write is recorded
  (hash, mapping) in the store in the same step.
* **report.** Counters per shop, field-level rows (:meth:`ProductsReport.rows`) for the dry-run
  listing, skipped records (no SKU, duplicate SKU, conflicts) with reasons.

Shopify-master shops run before Rackbeat-master shops, so what the former bring into Rackbeat
reaches the latter in the same pass; among Shopify masters the first in the config wins a SKU.

Identity is the **link** (Rackbeat item id <-> Shopify variant id, kept per shop by
:mod:`~rackshop.sync.products_store`); the SKU only pairs an item with a variant the first
time. A SKU edited in Shopify is put back (Rackbeat master) or renames the item
(``rename_numbers``); a number renamed in Rackbeat renames the SKU; a linked item never gets a
second product (a deleted listing comes back only with ``recreate_deleted``). Fields the shop
holds on its own are never cleared by an empty Rackbeat value (:func:`~rackshop.sync.product_map.
owned_fields`). Prices are converted between the shop's currency and Rackbeat's base currency
(:func:`price_conversion`). Created products are published to ``sales_channels``.

Never deleted, never touched: products, variants (none is ever created on an existing product),
tags, taxonomy categories, options, media. Cursors are saved after the writes they cover; a
failed record is retried on the next pass (``failures`` table).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from rackshop.config import ShopConfig
from rackshop.errors import (
    NotFoundError,
    OutcomeUnknownError,
    RecordError,
    ShopifyUserErrors,
    ValidationError,
)
from rackshop.log import event
from rackshop.rackbeat.client import RackbeatClient, encode_number
from rackshop.runtime import Runtime
from rackshop.shopify.bulk import bulk_query_text, run_bulk_query
from rackshop.shopify.client import ShopifyClient, load_document, parse_user_errors
from rackshop.sync.product_map import (
    PRODUCT_FIELDS,
    DesiredShopify,
    FieldChange,
    ProductState,
    PushSettings,
    RackbeatChange,
    RackbeatItem,
    ShopifyDiff,
    VariantState,
    created_state_changes,
    desired_from_rackbeat,
    diff_for_rackbeat,
    diff_for_shopify,
    owned_fields,
    product_create_input,
    product_state,
    product_update_input,
    rackbeat_fields_from_variant,
    rackbeat_source_hash,
    shopify_source_hash,
    shopify_state_hash,
    sku_key,
    variant_state,
    variant_update_input,
)
from rackshop.sync.products_store import (
    JOB,
    Link,
    MappingRow,
    ProductsStore,
    ShopIndex,
    format_hash,
    parse_hash,
)
from rackshop.sync.runner import JobResult, ProgressSink, ShopResult, run_per_shop

log = logging.getLogger("rackshop.products")

#: Re-read what changed this long before the cursor (clock skew, Shopify's search index lag).
OVERLAP = timedelta(minutes=10)
#: Variants read with each product of a ProductsSince page (20 products: requested cost ~870,
#: under Shopify's 1,000 per query); a product with more gets ProductVariantsPage calls.
VARIANTS_PER_PRODUCT = 10
VARIANTS_PER_PAGE = 100
#: Variants per ProductVariantsByIds call.
NODES_PER_CALL = 100
#: Shopify input arrays hold at most 250 entries.
VARIANTS_PER_WRITE = 250
#: Rackbeat items per list page.
RACKBEAT_PAGE = 1000
#: Newest products read to find one whose create answer was lost (creates of one pass: a
#: lost answer is settled by the next pass, long before 100 other products are made).
NEWEST_PRODUCTS = 100


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductRow:
    """One line of the field-level listing.

    Attributes:
        action: ``create``, ``update``, ``conflict`` (not written: another shop wins), or, with
            ``field`` empty and the reason in ``new``: ``skip`` (not synced), ``note`` (synced,
            with a remark) or ``failed``.
    """

    shop: str
    sku: str
    field: str
    old: str
    new: str
    action: str


@dataclass
class ProductsReport:
    """Per shop, the field-level changes planned (dry run) or made, and what was skipped."""

    changes: dict[str, list[ProductRow]] = field(default_factory=dict)

    def add(self, row: ProductRow) -> None:
        self.changes.setdefault(row.shop, []).append(row)

    def rows(self, *, include_skipped: bool = True) -> list[tuple[str, str, str, str, str, str]]:
        """Rows ``(shop, sku, field, old, new, action)`` for the dry-run table, shop by shop."""
        return [(r.shop, r.sku, r.field, r.old, r.new, r.action)
                for rows in self.changes.values() for r in rows
                if include_skipped or r.action != "skip"]


def report_rows(report: ProductsReport) -> list[list[str]]:
    """The dry-run listing as table rows (for ``cli.py``): shop, sku, field, old, new, action."""
    return [list(r) for r in report.rows()]


# -- entry point -----------------------------------------------------------------------------


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


def sync_products(runtime: Runtime, shops: Sequence[ShopConfig], *, dry_run: bool = False,
                  report: ProductsReport | None = None,
                  progress: ProgressSink | None = None,
                  now: Callable[[], datetime] = lambda: datetime.now(UTC),
                  tuning: Tuning | None = None) -> JobResult:
    """Run one sync-products pass over ``shops``.

    Shopify-master shops run first, in config order (the first one wins a SKU several of them
    have), then the Rackbeat-master shops, in config order: so what a Shopify master brings into
    Rackbeat reaches the Rackbeat-master shops in the same pass, and the next pass has nothing
    left to do. Shops with ``products.master = "off"`` or ``enabled = false`` are passed over.

    Args:
        runtime: Clients and store.
        shops: The selected shops.
        dry_run: Plan only; write nothing anywhere (not the store either). The catalogue is read
            with pages, never with a bulk operation (which is a mutation).
        report: Receives the field-level rows (for the dry-run listing).
        progress: Progress bars, if any.
        now: Clock for the frozen pass start (the cursor).
        tuning: Batch sizes and thresholds.

    Returns:
        Per shop counters: ``created``, ``updated``, ``unchanged``, ``writes``, ``skipped`` (with
        ``skipped_no_sku``, ``skipped_duplicate_sku``, ``skipped_barred``...), ``conflicts``,
        ``missing_in_shop``, ``failed`` (``would_create`` / ``would_update`` in a dry run).
    """
    report = report if report is not None else ProductsReport()
    tuning = tuning or Tuning()
    order = {s.name: i for i, s in enumerate(runtime.config.shops)}
    ordered = sorted(shops, key=lambda s: (s.products.master != "shopify",
                                           order.get(s.name, len(order))))
    pstore = ProductsStore(runtime, dry_run=dry_run)
    shared: list[_RackbeatFeed] = []

    def body(shop: ShopConfig, result: ShopResult) -> None:
        master = shop.products.master
        if not shop.enabled or master == "off":
            result.details["note"] = "products not synced for this shop (products.master = off)"
            return
        if master == "rackbeat":
            # Rackbeat-master shops only read Rackbeat, after every Shopify master wrote: they
            # can share one read of it.
            if not shared:
                shared.append(_RackbeatFeed(runtime.rackbeat(), tuning))
            feed = shared[0]
        else:
            feed = _RackbeatFeed(runtime.rackbeat(), tuning)  # fresh: earlier shops wrote
        args = _PassArgs(runtime, shop, result, pstore, feed, report, progress, dry_run, now(),
                         tuning)
        if master == "rackbeat":
            _RackbeatMaster(args).run()
        else:
            _ShopifyMaster(args).run()

    return run_per_shop(runtime, JOB, ordered, body, dry_run=dry_run)


@dataclass
class _PassArgs:
    runtime: Runtime
    shop: ShopConfig
    result: ShopResult
    pstore: ProductsStore
    feed: _RackbeatFeed
    report: ProductsReport
    progress: ProgressSink | None
    dry_run: bool
    started: datetime
    tuning: Tuning


# -- reading -----------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_shopify_products(client: ShopifyClient, since: datetime | None, *, allow_bulk: bool,
                          progress: ProgressSink | None = None,
                          tuning: Tuning | None = None) -> list[ProductState]:
    """Products changed since ``since`` (all when ``None``), each with all its variants.

    Few changes: pages of ``tuning.products_per_page``; many (more than
    ``tuning.bulk_threshold``) and ``allow_bulk``: one bulk operation, a few calls whatever the
    size.
    """
    tuning = tuning or Tuning()
    query = None if since is None else f"updated_at:>='{_iso(since)}'"
    count = int(((client.query("ProductsCount", {"query": query}).get("productsCount") or {})
                 .get("count")) or 0)
    if progress:
        progress.start(f"{client.shop}: reading Shopify products", count)
    if count > tuning.bulk_threshold and allow_bulk:
        products = _bulk_products(client, query)
    else:
        products = list(_paged_products(client, query, tuning.products_per_page))
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


def _paged_products(client: ShopifyClient, query: str | None,
                    per_page: int) -> Iterator[ProductState]:
    for node in client.paginate("ProductsSince", {"query": query,
                                                  "variants": VARIANTS_PER_PRODUCT},
                                ("products",), page_size=per_page):
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


class _RackbeatFeed:
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
        key = (None if since is None else _iso(since), kind)
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


# -- currencies --------------------------------------------------------------------------------


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
                     feed: _RackbeatFeed) -> PriceConversion:
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
    conv = price_conversion(shop, currency, _RackbeatFeed(runtime.rackbeat(), Tuning()))
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


# -- shared pass machinery ---------------------------------------------------------------------


class _Pass:
    """What both directions share: reading Shopify, the index, counting and reporting."""

    def __init__(self, args: _PassArgs) -> None:
        self.args = args
        self.shop = args.shop
        self.name = args.shop.name
        self.result = args.result
        self.pstore = args.pstore
        self.feed = args.feed
        self.dry_run = args.dry_run
        self.started = args.started
        self.shopify = args.runtime.shopify(args.shop)
        self.rackbeat = args.runtime.rackbeat()
        self.progress = args.progress
        self.skipped: list[dict[str, str]] = []
        self.reported_duplicates: set[str] = set()

    @property
    def backfill(self) -> bool:
        """A store from before links (Rackbeat item id <-> Shopify variant id) existed: this
        pass reads and looks at everything once, so every matched pair gets its link."""
        return self.pstore.cursor(self.name, "links") is None and \
            self.pstore.cursor(self.name, "shopify_updated_at") is not None

    def since(self, name: str) -> datetime | None:
        if self.backfill:
            return None
        text = self.pstore.cursor(self.name, name)
        return _parse(text) - self.args.tuning.overlap if text else None

    def links_done(self) -> None:
        if not self.dry_run:
            self.pstore.set_cursor(self.name, "links", _iso(self.started))

    def read_shopify(self) -> tuple[list[ProductState], bool]:
        since = self.since("shopify_updated_at")
        products = read_shopify_products(self.shopify, since, allow_bulk=not self.dry_run,
                                         progress=self.progress, tuning=self.args.tuning)
        self.pstore.refresh(self.name, products, full=since is None)
        return products, since is None

    def row(self, sku: str, fld: str, old: str, new: str, action: str) -> None:
        self.args.report.add(ProductRow(self.name, sku, fld, old, new, action))

    def conversion(self) -> PriceConversion:
        """The shop's price conversion, said in the summary when prices are converted or
        not written."""
        conv = price_conversion(self.shop, shop_currency(self.shopify) or "", self.feed)
        if conv.rate is None:
            self.result.details["prices"] = conv.reason
            self.result.bump("prices_not_written")
            self.row("", "", "", conv.reason, "note")
            event(log, f"{self.name}: {conv.reason}", logging.WARNING, shop=self.name)
        elif conv.source != "same":
            self.result.details["prices"] = (
                f"converted {conv.base_currency} <-> {conv.shop_currency} at {conv.rate:f} "
                f"{conv.base_currency} per {conv.shop_currency} ({conv.source})")
        return conv

    def skip(self, sku: str, reason: str, counter: str) -> None:
        self.result.bump("skipped")
        self.result.bump(counter)
        self.row(sku, "", "", reason, "skip")
        if len(self.skipped) < 200:
            self.skipped.append({"record": sku, "reason": reason})
        event(log, f"{self.name}: {sku} skipped: {reason}", logging.WARNING, shop=self.name,
              sku=sku, reason=reason)

    def fail(self, sku: str, reason: str) -> None:
        self.result.fail(sku, reason)
        self.row(sku, "", "", reason, "failed")
        self.pstore.record_failure(self.name, sku, reason)
        event(log, f"{self.name}: {sku} failed: {reason}", logging.WARNING, shop=self.name,
              sku=sku, reason=reason)

    def succeeded(self, key: str) -> None:
        self.pstore.clear_failure(self.name, key)

    def report_index_problems(self, products: Sequence[ProductState], *, no_sku: bool) -> None:
        """Report duplicate SKUs (and, for Shopify master, variants without SKU) among
        ``products``: they are skipped."""
        idx = self.pstore.index(self.name)
        for p in products:
            for v in p.variants:
                key = sku_key(v.sku)
                if not key:
                    if no_sku:
                        label = f"{p.title} / {v.title}" if p.variant_count > 1 else p.title
                        self.skip(f"(no SKU) {label}",
                                  f"variant {v.id} has no SKU, so it cannot be matched to a "
                                  "Rackbeat item; give it one in Shopify", "skipped_no_sku")
                    continue
                if key in idx.duplicates and key not in self.reported_duplicates:
                    self.reported_duplicates.add(key)
                    holders = idx.duplicates[key]
                    self.skip((v.sku or "").strip(),
                              f"SKU used by {len(holders)} variants in this shop ("
                              + ", ".join(h.variant_id.rsplit("/", 1)[-1] for h in holders)
                              + "); make it unique in Shopify", "skipped_duplicate_sku")

    def finish(self) -> None:
        if self.skipped:
            self.result.details["skipped"] = self.skipped


# -- Rackbeat -> Shopify -----------------------------------------------------------------------


@dataclass
class _Candidate:
    key: str
    item: RackbeatItem | None = None
    target: tuple[ProductState, VariantState] | None = None
    rb_hash: str = ""
    link: Link | None = None
    gone: bool = False  # the linked variant no longer exists in Shopify


@dataclass
class _ProductWrite:
    product_id: str
    product_changes: list[FieldChange] = field(default_factory=list)
    variants: list[tuple[str, ShopifyDiff, str]] = field(default_factory=list)  # key, diff, rb
    product_key: str = ""


class _RackbeatMaster(_Pass):
    """One Rackbeat-master shop's pass."""

    def __init__(self, args: _PassArgs) -> None:
        super().__init__(args)
        cfg = self.shop.products
        self.settings = PushSettings(
            fields=tuple(cfg.fields),
            rackbeat_prices_include_vat=args.runtime.config.rackbeat.prices_include_vat,
            shop_prices_include_tax=self.shop.prices_include_tax,
            default_vat_rate=Decimal(str(cfg.vat_rate)),
            barred=cfg.barred,
            new_product_status=cfg.new_product_status,
        )
        self.kinds = ("products", "lots") if cfg.include_boms else ("products",)
        self._locations: list[str] | None = None
        self._publications: list[str] | None = None

    def run(self) -> None:
        conv = self.conversion()
        self.settings = replace(self.settings, currency_rate=conv.rate,
                                price_rounding=self.shop.products.price_rounding)
        products, _ = self.read_shopify()
        self.report_index_problems(products, no_sku=False)
        idx = self.pstore.index(self.name)
        since_rb = self.since("rackbeat_updated_at")
        changed: dict[str, RackbeatItem] = {}
        for kind in self.kinds:
            for item in self.feed.changed(since_rb, kind):
                changed[sku_key(item.number)] = item
        rb_full = since_rb is None

        # The link (Rackbeat item id <-> Shopify variant id) is the identity; the SKU only finds
        # a variant for an item that has no link yet.
        by_variant = idx.links_by_variant()
        link_by_key = {sku_key(lk.number): lk for lk in idx.links.values()}
        seen: dict[str, tuple[ProductState, VariantState]] = {}
        feed_targets: dict[str, tuple[ProductState, VariantState]] = {}
        for p in products:
            for v in p.variants:
                seen[v.id] = (p, v)
                link = by_variant.get(v.id)
                if link is not None:
                    feed_targets[sku_key(link.number)] = (p, v)
        for p in products:
            for v in p.variants:
                key = sku_key(v.sku)
                if v.id not in by_variant and key in idx.unique and \
                        idx.unique[key].variant_id == v.id and key not in feed_targets:
                    feed_targets[key] = (p, v)

        # Which records need a look: changed in Rackbeat, changed in Shopify, or failed before.
        cands: dict[str, _Candidate] = {}
        backfill = self.backfill
        for key, item in changed.items():
            desired = desired_from_rackbeat(item, self.settings)
            rb = rackbeat_source_hash(desired)
            if parse_hash(idx.hashes.get(key)).get("rb") != rb or \
                    (backfill and item.id not in idx.links):
                cands[key] = _Candidate(key, item, None, rb)
        for key, (p, v) in feed_targets.items():
            if key in cands:
                continue
            sh = shopify_state_hash(p, v, self.settings.fields)
            if parse_hash(idx.hashes.get(key)).get("sh") != sh:
                cands[key] = _Candidate(key, changed.get(key))
        for key in idx.failures:
            cands.setdefault(key, _Candidate(key, changed.get(key)))

        # The Rackbeat side of candidates that changed only in Shopify.
        missing = [k for k, c in cands.items() if c.item is None]
        if missing and not rb_full:
            numbers = []
            for k in missing:
                if k in link_by_key:
                    numbers.append(link_by_key[k].number)
                elif k in idx.unique:
                    numbers.append(idx.unique[k].sku)
                elif k in idx.failures:
                    numbers.append(idx.failures[k][0])
            found = self.feed.lookup(numbers, self.kinds)
            for k in missing:
                cands[k].item = found.get(k)
        # The Shopify side: the linked variant, else the one variant holding the SKU.
        want: dict[str, str] = {}
        for key, c in cands.items():
            if c.item is not None and c.item.id:
                c.link = idx.links.get(c.item.id)
            elif c.item is None:
                c.link = link_by_key.get(key)
            if c.link is not None:
                c.target = seen.get(c.link.variant_id)
                if c.target is None:
                    want[key] = c.link.variant_id
            else:
                c.target = feed_targets.get(key)
                if c.target is not None and c.target[1].id in by_variant:
                    c.target = None  # that variant is linked to another Rackbeat item
                elif c.target is None and key in idx.unique and \
                        idx.unique[key].variant_id not in by_variant:
                    want[key] = idx.unique[key].variant_id
        if want:
            current = read_variants_by_id(self.shopify, sorted(set(want.values())))
            for key, vid in want.items():
                c = cands[key]
                c.target = current.get(vid)
                if c.target is None:  # the variant is gone
                    if c.link is not None:
                        c.gone = True
                        self.pstore.forget_product(self.name, c.link.product_id)
                    elif key in idx.unique:
                        self.pstore.forget_product(self.name, idx.unique[key].product_id)

        self.plan_and_apply(cands)
        if not self.dry_run:
            # Every change up to the pass start is written or recorded as failed (retried).
            stamp = _iso(self.started)
            self.pstore.set_cursor(self.name, "shopify_updated_at", stamp)
            self.pstore.set_cursor(self.name, "rackbeat_updated_at", stamp)
            self.links_done()
        self.finish()

    def not_for_shopify(self, item: RackbeatItem) -> str | None:
        """Why an item is never created as a (tracked) Shopify product, or ``None``."""
        if item.number.strip().casefold() == (self.shop.orders.shipping_item or "").casefold():
            return ("the shipping item (orders.shipping_item) is not a product for sale; it is "
                    "not created in Shopify")
        if not item.keeps_stock:
            return (f"a non-stock item (its product group {item.group_name!r} keeps no "
                    "inventory) is not created as a tracked Shopify product")
        return None

    # -- plan ------------------------------------------------------------------------------

    def plan_and_apply(self, cands: Mapping[str, _Candidate]) -> None:
        idx = self.pstore.index(self.name)
        writes: dict[str, _ProductWrite] = {}
        creates: list[tuple[str, DesiredShopify, str, RackbeatItem]] = []
        for key in sorted(cands):
            c = cands[key]
            item = c.item
            if item is None or (item.type == "lot" and "lots" not in self.kinds):
                # Not a Rackbeat item (a Shopify-only product): nothing to push; remember the
                # Shopify state so the next change of it is recognised.
                if c.target is not None:
                    self.record(key, "none", c.target)
                self.succeeded(key)
                continue
            desired = desired_from_rackbeat(item, self.settings)
            rb = c.rb_hash or rackbeat_source_hash(desired)
            if key in idx.duplicates and c.link is None:
                if key not in self.reported_duplicates:
                    self.reported_duplicates.add(key)
                    self.skip(item.number, f"SKU used by {len(idx.duplicates[key])} variants "
                              "in this shop; make it unique in Shopify", "skipped_duplicate_sku")
                continue
            if desired.skip:
                self.skip(item.number, "barred in Rackbeat; products.barred = \"ignore\"",
                          "skipped_barred")
                self.record(key, rb, c.target)
                continue
            if c.target is None:
                if c.gone and not self.shop.products.recreate_deleted:
                    self.skip(item.number, "its Shopify product was deleted; it is not created "
                              "again (set products.recreate_deleted = true to re-create it)",
                              "deleted_in_shop")
                    self.record(key, rb, None)
                    self.succeeded(key)
                    continue
                if not c.gone and not self.shop.products.create_missing:
                    self.result.bump("missing_in_shop")
                    self.record(key, rb, None)
                    continue
                if desired.barred:
                    self.skip(item.number, "barred in Rackbeat: not created in Shopify",
                              "skipped_barred")
                    self.record(key, rb, None)
                    continue
                if key in idx.to_publish and not self.dry_run and \
                        self.settle_lost_create(key, desired.sku, rb, item):
                    continue
                why = self.not_for_shopify(item)
                if why is None and "sales_price" in self.settings.fields and \
                        self.settings.currency_rate is None:
                    why = "not created without a price: " + str(
                        self.result.details.get("prices", ""))
                if why is not None:
                    self.skip(item.number, why, "skipped_non_stock")
                    self.record(key, rb, None)
                    self.succeeded(key)
                    continue
                if c.gone:
                    self.result.bump("recreated")
                    self.row(item.number, "", "", "its Shopify product was deleted; created "
                             "again (products.recreate_deleted = true)", "note")
                    if c.link is not None:
                        self.pstore.drop_link(self.name, c.link.item_id)
                creates.append((key, desired, rb, item))
                continue
            p, v = c.target
            if key in idx.to_publish and not self.dry_run:
                self.publish(key, item.number, p.id)  # created by a pass whose answer was lost
            desired = desired_from_rackbeat(item, self.settings, taxable=v.taxable)
            diff = diff_for_shopify(desired, p, v, owned=c.link.owned if c.link else ())
            for note in diff.notes:
                self.result.bump("notes")
                self.row(item.number, "", "", note, "note")
            if not diff.changes:
                self.result.bump("unchanged")
                self.record(key, rb, c.target, item)
                self.succeeded(key)
                continue
            w = writes.setdefault(p.id, _ProductWrite(p.id))
            if diff.product_changes:
                w.product_changes += diff.product_changes
                w.product_key = key
            if diff.variant_changes:
                w.variants.append((key, diff, rb))
            elif diff.product_changes:
                w.variants.append((key, ShopifyDiff(diff.sku, p.id, v.id), rb))
            for ch in diff.changes:
                self.row(item.number, ch.field, ch.old, ch.new, "update")
        for _key, desired, _, _ in creates:
            for ch in created_state_changes(desired):
                self.row(desired.sku, ch.field, ch.old, ch.new, "create")
        if self.dry_run:
            self.result.bump("would_update", sum(len(w.variants) for w in writes.values()))
            self.result.bump("would_create", len(creates))
            return
        total = len(writes) + len(creates)
        if self.progress and total:
            self.progress.start(f"{self.name}: writing to Shopify", total)
        for w in writes.values():
            self.apply_update(w, cands)
            if self.progress:
                self.progress.advance()
        for key, desired, rb, item in creates:
            self.apply_create(key, desired, rb, item)
            if self.progress:
                self.progress.advance()
        if self.progress and total:
            self.progress.finish()

    def record(self, key: str, rb: str, target: tuple[ProductState, VariantState] | None,
               item: RackbeatItem | None = None) -> None:
        sh = shopify_state_hash(*target, self.settings.fields) if target else "none"
        self.pstore.set_hash(self.name, key, format_hash({"rb": rb, "sh": sh}))
        if item is not None and item.id and target is not None:
            p, v = target
            old = self.pstore.index(self.name).links.get(item.id)
            previous = old.owned if old is not None and old.variant_id == v.id else ()
            if old is not None and sku_key(old.number) != key:
                self.pstore.drop_hash(self.name, sku_key(old.number))  # renamed away from it
            desired = desired_from_rackbeat(item, self.settings, taxable=v.taxable)
            self.pstore.put_link(self.name, Link(
                item.id, item.number.strip(), v.id, p.id, (v.sku or "").strip(),
                owned_fields(desired, p, v, previous)))

    # -- apply -----------------------------------------------------------------------------

    def apply_update(self, w: _ProductWrite, cands: Mapping[str, _Candidate]) -> None:
        keys = [k for k, _, _ in w.variants]
        number = {k: _number(cands[k], k) for k in keys}
        product: dict[str, Any] | None = None
        answered: dict[str, dict[str, Any]] = {}
        failed: set[str] = set()
        try:
            if w.product_changes:
                payload = self.shopify.execute(
                    load_document("ProductUpdate"),
                    {"product": product_update_input(w.product_id, w.product_changes)},
                    name="ProductUpdate", idempotent=True).data.get("productUpdate") or {}
                self._raise_user_errors("productUpdate", payload)
                product = payload.get("product")
                self.result.bump("writes")
            variant_inputs = [(k, d) for k, d, _ in w.variants if d.variant_changes]
            for i in range(0, len(variant_inputs), VARIANTS_PER_WRITE):
                chunk = variant_inputs[i:i + VARIANTS_PER_WRITE]
                payload = self.shopify.execute(
                    load_document("ProductVariantsBulkUpdate"),
                    {"productId": w.product_id,
                     "variants": [variant_update_input(d.variant_id, d.variant_changes)
                                  for _, d in chunk]},
                    name="ProductVariantsBulkUpdate", idempotent=True,
                ).data.get("productVariantsBulkUpdate") or {}
                errors = parse_user_errors(payload)
                if errors and any(not _variant_index(e.field, len(chunk)) for e in errors):
                    raise ShopifyUserErrors("productVariantsBulkUpdate", errors)
                self.result.bump("writes")
                product = payload.get("product") or product
                for node in payload.get("productVariants") or []:
                    answered[str(node["id"])] = node
                for err in errors:  # allowPartialUpdates: the others went through
                    k, _ = chunk[int((err.field or ())[1])]
                    if k not in failed:
                        failed.add(k)
                        self.fail(number[k], f"Shopify refused the update: {err}")
        except (ShopifyUserErrors, RecordError, OutcomeUnknownError) as exc:
            # Product and variant writes set values: repeating them is harmless, so the next
            # pass simply tries again (failures are re-read).
            if _gone(exc):
                self.pstore.forget_product(self.name, w.product_id)
                reason = ("the Shopify product no longer exists; it is created again on the next "
                          "pass if products.create_missing is on")
            else:
                reason = exc.message
            for k in keys:
                if k not in failed:
                    self.fail(number[k], reason)
            return
        pstate = product_state(product, []) if product else None
        for key, diff, rb in w.variants:
            if key in failed:
                continue
            target = cands[key].target
            assert target is not None
            p0, v0 = target
            node = answered.get(diff.variant_id)
            v1 = variant_state(node) if node else v0
            p1 = pstate or p0
            self.record(key, rb, (p1, v1), cands[key].item)
            if any(c.field == "sku" for c in diff.variant_changes) and v1.sku:
                self.pstore.put_mapping(self.name, MappingRow.of(p1, v1))
            self.succeeded(key)
            self.result.bump("updated")
            fields = [c.field for c in diff.changes]
            if key == w.product_key:
                fields = [c.field for c in w.product_changes] + \
                    [f for f in fields if f not in PRODUCT_FIELDS]
            event(log, f"{self.name}: {number[key]} updated ({', '.join(fields)})",
                  shop=self.name, sku=number[key], fields=fields)

    def _raise_user_errors(self, root: str, payload: Mapping[str, Any]) -> None:
        errors = parse_user_errors(payload)
        if errors:
            raise ShopifyUserErrors(root, errors)

    def locations(self) -> list[str]:
        """The shop's stock locations (gids) a new product is stocked at."""
        if self._locations is None:
            targets = [t.shopify_location for t in self.shop.stock.targets]
            if not targets:
                self._locations = []
                return self._locations
            known = {}
            for loc in self.shopify.paginate("Locations", {}, ("locations",)):
                known[str(loc["name"])] = str(loc["id"])
                known[str(loc["id"])] = str(loc["id"])
            out = []
            for t in targets:
                if t not in known:
                    raise RecordError(
                        f"the Shopify location {t!r} (shops.{self.name}.stock) does not exist "
                        "in the shop; fix the name or gid, so new products can be stocked there")
                out.append(known[t])
            self._locations = out
        return self._locations

    def publications(self) -> list[str]:
        """The publication ids of ``products.sales_channels`` (read once per pass)."""
        if self._publications is None:
            wanted = list(self.shop.products.sales_channels)
            if not wanted:
                self._publications = []
                return self._publications
            known = {str(p["name"]).casefold(): str(p["id"])
                     for p in self.shopify.paginate("Publications", {}, ("publications",))}
            missing = [n for n in wanted if n.casefold() not in known]
            if missing:
                raise RecordError(
                    f"the shop has no sales channel {', '.join(map(repr, missing))} "
                    f"(shops.{self.name}.products.sales_channels; it has: "
                    f"{', '.join(sorted(known)) or 'none'}); fix the names so new products can "
                    "be published")
            self._publications = [known[n.casefold()] for n in wanted]
        return self._publications

    def publish(self, key: str, sku: str, product_id: str) -> None:
        """Put a created product on the configured sales channels (until that succeeds, it
        stays marked in the store and is tried again when next seen)."""
        try:
            pubs = self.publications()
        except RecordError as exc:
            self.fail(sku, f"created but not published: {exc.message}")
            return
        if not pubs:
            self.pstore.set_to_publish(self.name, key, False)
            return
        try:
            payload = self.shopify.execute(
                load_document("PublishablePublish"),
                {"id": product_id, "input": [{"publicationId": p} for p in pubs]},
                name="PublishablePublish", idempotent=True,
            ).data.get("publishablePublish") or {}
            self._raise_user_errors("publishablePublish", payload)
        except (ShopifyUserErrors, RecordError, OutcomeUnknownError) as exc:
            self.result.bump("not_published")
            self.fail(sku, f"created but not yet published to "
                      f"{', '.join(self.shop.products.sales_channels)}: {exc.message}; tried "
                      "again on the next pass")
            return
        self.pstore.set_to_publish(self.name, key, False)
        self.result.bump("writes")
        self.result.bump("published")

    def settle_lost_create(self, key: str, sku: str, rb: str, item: RackbeatItem) -> bool:
        """A create was sent and its answer never recorded: if Shopify made the product, adopt
        it instead of creating a second one.

        Shopify's search lags a write (a product made seconds ago is not found by ``query:``),
        so the product is looked for among the newest products, read without a query.
        """
        data = self.shopify.query("ProductsNewest", {"first": NEWEST_PRODUCTS})
        for node in (data.get("products") or {}).get("nodes") or []:
            variants = ((node.get("variants") or {}).get("nodes")) or []
            if len(variants) == 1 and sku_key(variants[0].get("sku")) == key:
                p = product_state(node, variants)
                self.pstore.put_mapping(self.name, MappingRow.of(p, p.variants[0]))
                self.record(key, rb, (p, p.variants[0]), item)
                self.succeeded(key)
                self.result.bump("settled_create")
                self.publish(key, sku, p.id)
                return True
        return False

    def apply_create(self, key: str, desired: DesiredShopify, rb: str,
                     item: RackbeatItem) -> None:
        try:
            locations = self.locations()
            self.publications()  # unknown channel names stop the create, before it is made
            self.pstore.set_to_publish(self.name, key, True)
            payload = self.shopify.execute(
                load_document("ProductSetCreate"),
                {"input": product_create_input(desired, locations)},
                name="ProductSetCreate", idempotent=False,
            ).data.get("productSet") or {}
            self._raise_user_errors("productSet", payload)
        except OutcomeUnknownError:
            # Not retried: the next pass's read finds the product if it was created, so a
            # repeat can never make a second one.
            self.fail(desired.sku, "no answer from Shopify to the create; if it was created, "
                      "the next pass finds it (and creates nothing twice)")
            return
        except (ShopifyUserErrors, RecordError) as exc:
            self.fail(desired.sku, f"Shopify refused to create the product: {exc.message}")
            return
        self.result.bump("writes")
        node = payload.get("product") or {}
        variants = ((node.get("variants") or {}).get("nodes")) or []
        if not variants:
            self.fail(desired.sku, "Shopify created the product without a variant")
            return
        p = product_state(node, variants)
        v = p.variants[0]
        self.pstore.put_mapping(self.name, MappingRow.of(p, v))
        self.record(key, rb, (p, v), item)
        self.succeeded(key)
        self.result.bump("created")
        self.publish(key, desired.sku, p.id)
        event(log, f"{self.name}: {desired.sku} created in Shopify ({p.id})", shop=self.name,
              sku=desired.sku, product=p.id)


def _number(c: _Candidate, key: str) -> str:
    return c.item.number if c.item is not None else key


def _variant_index(where: Sequence[str] | None, size: int) -> bool:
    """Whether a userError's field points at one variant of the input (``variants.3.price``)."""
    return bool(where) and len(where or ()) >= 2 and (where or ())[0] == "variants" \
        and str((where or ())[1]).isdigit() and int((where or ())[1]) < size


def _gone(exc: Exception) -> bool:
    text = str(exc).lower()
    codes: set[str] = getattr(exc, "codes", set())
    return "PRODUCT_DOES_NOT_EXIST" in codes or "product does not exist" in text


# -- Shopify -> Rackbeat -----------------------------------------------------------------------


class _ShopifyMaster(_Pass):
    """One Shopify-master shop's pass."""

    def __init__(self, args: _PassArgs) -> None:
        super().__init__(args)
        cfg = self.shop.products
        self.fields = tuple(cfg.shopify_fields)
        self.weight_unit = cfg.weight_unit
        self.rb_incl = args.runtime.config.rackbeat.prices_include_vat
        self.default_vat = Decimal(str(cfg.vat_rate))
        assert cfg.default_group is not None  # the config requires it for master = "shopify"
        self.default_group = cfg.default_group
        self.rate = Decimal(1)  # set by run() (the shop's currency against Rackbeat's)

    def earlier_masters(self) -> list[tuple[str, set[str]]]:
        """Shopify-master shops before this one in the config, with their SKU keys."""
        out = []
        for s in self.args.runtime.config.shops:
            if s.name == self.name:
                break
            if s.enabled and s.products.master == "shopify":
                out.append((s.name, self.pstore.index(s.name).all_keys()))
        return out

    def link(self, item_id: str, number: str, p: ProductState, v: VariantState) -> None:
        """Record that this variant is the Rackbeat item's (by ids: see products_store)."""
        if item_id:
            old = self.pstore.index(self.name).links.get(item_id)
            if old is not None and sku_key(old.number) != sku_key(number):
                self.pstore.drop_hash(self.name, sku_key(old.number))  # renamed away from it
            self.pstore.put_link(self.name, Link(item_id, number.strip(), v.id, p.id,
                                                 (v.sku or "").strip()))

    def src_hash(self, p: ProductState, v: VariantState) -> str:
        return "sf=" + shopify_source_hash(p, v, fields=self.fields,
                                           prices_include_tax=self.shop.prices_include_tax,
                                           weight_unit=self.weight_unit,
                                           currency_rate=self.rate)

    def run(self) -> None:
        conv = self.conversion()
        if conv.rate is None:
            self.fields = tuple(f for f in self.fields if f != "sales_price")
        self.rate = conv.rate or Decimal(1)
        products, full = self.read_shopify()
        self.report_index_problems(products, no_sku=True)
        idx = self.pstore.index(self.name)
        by_variant = idx.links_by_variant()
        backfill = self.backfill
        cands: dict[str, tuple[ProductState, VariantState]] = {}
        for p in products:
            for v in p.variants:
                key = sku_key(v.sku)
                row = idx.unique.get(key)
                if not key or row is None or row.variant_id != v.id:
                    continue
                link = by_variant.get(v.id)
                if link is not None and sku_key(link.number) != key:
                    cands[key] = (p, v)  # the SKU was edited in Shopify
                elif idx.hashes.get(key) != self.src_hash(p, v) or \
                        (backfill and link is None):
                    cands[key] = (p, v)
        retry = [idx.unique[k].variant_id for k in idx.failures
                 if k not in cands and k in idx.unique]
        if retry:
            for vid, (p, v) in read_variants_by_id(self.shopify, retry).items():
                del vid
                cands[sku_key(v.sku)] = (p, v)
        # Items changed in Rackbeat (by hand, another app): Shopify is master, so its values are
        # written back wherever Rackbeat now differs (the diff below decides; none: no write).
        drifted = [vid for vid in self.rackbeat_drift(idx)
                   if vid not in {v.id for _, v in cands.values()}]
        if drifted:
            for (p, v) in read_variants_by_id(self.shopify, drifted).values():
                if sku_key(v.sku) and sku_key(v.sku) not in cands:
                    cands[sku_key(v.sku)] = (p, v)
                    self.result.bump("rackbeat_changed")
        for k in list(idx.failures):
            if k not in idx.unique:
                self.succeeded(k)  # the variant is gone or ambiguous now: nothing to retry
        # SKUs edited in Shopify: the variant stays linked to its Rackbeat item (by id), which
        # is renamed (products.rename_numbers) or the edit is reported; never a second item.
        renamed: dict[str, Link] = {}
        for key, (_, v) in list(cands.items()):
            link = by_variant.get(v.id)
            if link is None or sku_key(link.number) == key:
                continue
            if not self.shop.products.rename_numbers:
                del cands[key]
                self.fail((v.sku or "").strip(),
                          f"the SKU was changed in Shopify from {link.number!r}; this variant is "
                          f"linked to Rackbeat item {link.number!r}, so no item is created for "
                          "the new SKU. Put the SKU back in Shopify, or set "
                          f"shops.{self.name}.products.rename_numbers = true to rename the "
                          "Rackbeat item")
                continue
            renamed[key] = link

        earlier = self.earlier_masters()
        current = self.feed.lookup([v.sku or "" for k, (_, v) in cands.items()
                                    if k not in renamed], ("products", "lots"), many=full)
        if renamed:
            found = self.feed.lookup([lk.number for lk in renamed.values()],
                                     ("products", "lots"))
            for key, lk in renamed.items():
                item = found.get(sku_key(lk.number))
                if item is not None and item.id == lk.item_id:
                    current[key] = item
                else:
                    _, v = cands.pop(key)
                    self.fail((v.sku or "").strip(), f"linked Rackbeat item {lk.number!r} was "
                              "not found (renamed or deleted in Rackbeat); nothing is created "
                              "for this SKU")
        plans: list[tuple[str, ProductState, VariantState, RackbeatItem | None, dict[str, Any],
                          tuple[RackbeatChange, ...]]] = []
        for key in sorted(cands):
            p, v = cands[key]
            sku = (v.sku or "").strip()
            item = current.get(key)
            if item is not None and item.type != "product":
                self.skip(sku, "is a BOM in Rackbeat; rackshop does not change BOMs from Shopify",
                          "skipped_bom")
                continue
            vat = item.vat_rate if item is not None and item.vat_rate is not None else \
                self.feed.group_vat(self.default_group)
            wanted = rackbeat_fields_from_variant(
                p, v, prices_include_tax=self.shop.prices_include_tax,
                vat_rate=vat if vat is not None else self.default_vat,
                default_group=self.default_group, weight_unit=self.weight_unit,
                fields=self.fields, rackbeat_prices_include_vat=self.rb_incl,
                currency_rate=self.rate)
            for note in wanted.notes:
                self.result.bump("names_shortened")
                self.row(sku, "name", "", note, "note")
                event(log, f"{self.name}: {sku}: {note}", logging.WARNING, shop=self.name,
                      sku=sku)
            owner = next((name for name, keys in earlier if key in keys), None)
            link = by_variant.get(v.id)
            if item is None and link is not None:
                self.fail(sku, f"linked Rackbeat item {link.number!r} was not found (renamed or "
                          "deleted in Rackbeat); nothing is created for this SKU")
                continue
            if item is None:
                body = wanted.payload(include_group=True)
                changes = tuple(RackbeatChange(k, "", _plain(v2)) for k, v2 in body.items()
                                if k != "number")
            else:
                body, changes = diff_for_rackbeat(wanted, item)
                if key in renamed:
                    body = {"number": sku, **body}
                    changes = (RackbeatChange("number", item.number, sku), *changes)
            if owner is not None:
                if changes:
                    self.result.bump("conflicts")
                    reason = (f"shop \"{owner}\" (earlier in the config) is also product master "
                              f"for this SKU and wins; this shop's values are not written")
                    for ch in changes:
                        self.row(sku, ch.field, ch.old, ch.new, "conflict")
                    self.skipped.append({"record": sku, "reason": reason})
                    event(log, f"{self.name}: {sku} conflict: {reason}", logging.WARNING,
                          shop=self.name, sku=sku, owner=owner,
                          fields=[c.field for c in changes])
                else:
                    self.result.bump("unchanged")
                continue
            if not body:
                self.result.bump("unchanged")
                self.pstore.set_hash(self.name, key, self.src_hash(p, v))
                if item is not None:
                    self.link(item.id, item.number, p, v)
                self.succeeded(key)
                continue
            for ch in changes:
                self.row(sku, ch.field, ch.old, ch.new, "create" if item is None else "update")
            plans.append((key, p, v, item, body, changes))
        if self.dry_run:
            self.result.bump("would_create", sum(1 for x in plans if x[3] is None))
            self.result.bump("would_update", sum(1 for x in plans if x[3] is not None))
        else:
            if self.progress and plans:
                self.progress.start(f"{self.name}: writing to Rackbeat", len(plans))
            for key, p, v, item, body, _ in plans:
                self.apply(key, p, v, item, body)
                if self.progress:
                    self.progress.advance()
            if self.progress and plans:
                self.progress.finish()
            self.pstore.set_cursor(self.name, "shopify_updated_at", _iso(self.started))
            self.pstore.set_cursor(self.name, "rackbeat_updated_at", _iso(self.started))
            self.links_done()
        self.finish()

    def rackbeat_drift(self, idx: ShopIndex) -> list[str]:
        """Variant ids linked to Rackbeat items changed since the last pass (none on the first
        pass: it compares everything anyway)."""
        since = self.since("rackbeat_updated_at")
        if since is None or not idx.links:
            return []
        changed = {item.id for kind in ("products",) for item in self.feed.changed(since, kind)}
        return sorted(link.variant_id for item_id, link in idx.links.items()
                      if item_id in changed)

    def apply(self, key: str, p: ProductState, v: VariantState, item: RackbeatItem | None,
              body: dict[str, Any]) -> None:
        sku = (v.sku or "").strip()
        try:
            if item is None:
                try:
                    made: dict[str, Any] | None = self.rackbeat.create("products", body)
                except OutcomeUnknownError:
                    # Settle by reading: the number is unique, so it exists iff it was created.
                    made = self.rackbeat.find_one("items", sku)
                    if made is None:
                        raise
                item_id = str((made or {}).get("id") or "")
                self.result.bump("created")
            else:
                self.rackbeat.request("PUT", f"products/{encode_number(item.number)}", body=body,
                                      idempotent=True)
                item_id = item.id
                self.result.bump("updated")
                if "number" in body:
                    self.result.bump("renamed")
            self.result.bump("writes")
        except ValidationError as exc:
            self.fail(sku, f"Rackbeat refused {'the new product' if item is None else 'the update'}"
                      f": {exc.message}" + (f" (check shops.{self.name}.products.default_group)"
                                             if "group" in exc.fields else ""))
            return
        except (NotFoundError, RecordError, OutcomeUnknownError) as exc:
            self.fail(sku, exc.message)
            return
        self.pstore.set_hash(self.name, key, self.src_hash(p, v))
        self.link(item_id, sku, p, v)
        self.succeeded(key)
        event(log, f"{self.name}: {sku} {'created' if item is None else 'updated'} in Rackbeat",
              shop=self.name, sku=sku, fields=sorted(k for k in body if k != "number"))


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(str(x) for x in value.values() if x is not None)
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."

