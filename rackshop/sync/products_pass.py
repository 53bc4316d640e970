"""The frame both directions of sync-products share: the per-shop pass (cursor, currency,
failures, echo hashes) and the report of what changed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rackshop.config import ShopConfig
from rackshop.log import event
from rackshop.runtime import Runtime
from rackshop.sync.moments import iso_z, parse_moment, still_landing
from rackshop.sync.product_state import ProductState
from rackshop.sync.product_values import sku_key
from rackshop.sync.products_read import (
    PriceConversion,
    RackbeatFeed,
    Tuning,
    price_conversion,
    read_shopify_products,
    shop_currency,
)
from rackshop.sync.products_store import (
    ProductsStore,
)
from rackshop.sync.runner import ProgressSink, ShopResult

log = logging.getLogger("rackshop.products")


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
    """The dry-run listing as table rows (for the CLI): shop, sku, field, old, new, action."""
    return [list(r) for r in report.rows()]


@dataclass
class PassArgs:
    runtime: Runtime
    shop: ShopConfig
    result: ShopResult
    pstore: ProductsStore
    feed: RackbeatFeed
    report: ProductsReport
    progress: ProgressSink | None
    dry_run: bool
    started: datetime
    tuning: Tuning


class ProductsPass:
    """What both directions share: reading Shopify, the index, counting and reporting."""

    def __init__(self, args: PassArgs) -> None:
        self.args = args
        self.shop = args.shop
        self.name = args.shop.name
        self.result = args.result
        self.pstore = args.pstore
        self.feed = args.feed
        self.dry_run = args.dry_run
        self.started = args.started
        self.lost_wait = args.runtime.config.rackbeat.lost_answer_wait_seconds
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
        return parse_moment(text) - self.args.tuning.overlap if text else None

    def links_done(self) -> None:
        if not self.dry_run:
            self.pstore.set_cursor(self.name, "links", iso_z(self.started))

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

    def still_landing(self, what: str, sent_at: str | None) -> str | None:
        """Why a Shopify create sent at ``sent_at`` whose answer was lost, and that Shopify
        does not show, is not sent again in this pass (it may still land), or ``None``."""
        return still_landing(what, "Shopify", sent_at, self.started, self.lost_wait)

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
