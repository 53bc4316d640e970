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
(:func:`~rackshop.sync.products_read.price_conversion`). Created products are published to
``sales_channels``.

Never deleted, never touched: products, variants (none is ever created on an existing product),
tags, taxonomy categories, options, media. Cursors are saved after the writes they cover; a
failed record is retried on the next pass (``failures`` table).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from rackshop.config import ShopConfig
from rackshop.runtime import Runtime
from rackshop.sync.products_pass import PassArgs, ProductsReport
from rackshop.sync.products_read import RackbeatFeed, Tuning
from rackshop.sync.products_store import JOB, ProductsStore
from rackshop.sync.products_to_rackbeat import ShopifyMaster
from rackshop.sync.products_to_shopify import RackbeatMaster
from rackshop.sync.runner import JobResult, ProgressSink, ShopResult, run_per_shop


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
    shared: list[RackbeatFeed] = []

    def body(shop: ShopConfig, result: ShopResult) -> None:
        master = shop.products.master
        if not shop.enabled or master == "off":
            result.details["note"] = "products not synced for this shop (products.master = off)"
            return
        if master == "rackbeat":
            # Rackbeat-master shops only read Rackbeat, after every Shopify master wrote: they
            # can share one read of it.
            if not shared:
                shared.append(RackbeatFeed(runtime.rackbeat(), tuning))
            feed = shared[0]
        else:
            feed = RackbeatFeed(runtime.rackbeat(), tuning)  # fresh: earlier shops wrote
        args = PassArgs(runtime, shop, result, pstore, feed, report, progress, dry_run, now(),
                        tuning)
        if master == "rackbeat":
            RackbeatMaster(args).run()
        else:
            ShopifyMaster(args).run()

    return run_per_shop(runtime, JOB, ordered, body, dry_run=dry_run)
