"""sync-products with Shopify as master: Shopify variants -> Rackbeat products (create or change
the owned fields), echo-proofed by hashes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from rackshop.errors import (
    NotFoundError,
    OutcomeUnknownError,
    RecordError,
    ValidationError,
)
from rackshop.log import event
from rackshop.rackbeat.client import encode_number
from rackshop.sync.moments import iso_z
from rackshop.sync.product_map_rackbeat import (
    RackbeatChange,
    diff_for_rackbeat,
    rackbeat_fields_from_variant,
    shopify_source_hash,
)
from rackshop.sync.product_state import ProductState, RackbeatItem, VariantState
from rackshop.sync.product_values import sku_key
from rackshop.sync.products_pass import PassArgs, ProductsPass
from rackshop.sync.products_read import read_variants_by_id
from rackshop.sync.products_store import (
    Link,
    ShopIndex,
)

log = logging.getLogger("rackshop.products")

_Pair = tuple[ProductState, VariantState]
#: One planned write: SKU key, product, variant, the Rackbeat item (``None``: create), the body
#: and the field changes it makes.
_Plan = tuple[str, ProductState, VariantState, RackbeatItem | None, dict[str, Any],
              tuple[RackbeatChange, ...]]


class ShopifyMaster(ProductsPass):
    """One Shopify-master shop's pass."""

    def __init__(self, args: PassArgs) -> None:
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
        cands = self.candidates(products, idx, by_variant)
        renamed = self.renamed(cands, by_variant)
        current = self.rackbeat_side(cands, renamed, full)
        earlier = self.earlier_masters()
        plans: list[_Plan] = []
        for key in sorted(cands):
            plan = self.plan_one(key, *cands[key], current.get(key), by_variant, earlier,
                                 renamed=key in renamed)
            if plan is not None:
                plans.append(plan)
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
            self.pstore.set_cursor(self.name, "shopify_updated_at", iso_z(self.started))
            self.pstore.set_cursor(self.name, "rackbeat_updated_at", iso_z(self.started))
            self.links_done()
        self.finish()

    def candidates(self, products: Sequence[ProductState], idx: ShopIndex,
                   by_variant: Mapping[str, Link]) -> dict[str, _Pair]:
        """The variants to look at: changed since their hash, failed before, or drifted in
        Rackbeat."""
        backfill = self.backfill
        cands: dict[str, _Pair] = {}
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
        return cands

    def renamed(self, cands: dict[str, _Pair],
                by_variant: Mapping[str, Link]) -> dict[str, Link]:
        """SKUs edited in Shopify: the variant stays linked to its Rackbeat item (by id), which
        is renamed (products.rename_numbers) or the edit is reported; never a second item."""
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
        return renamed

    def rackbeat_side(self, cands: dict[str, _Pair],
                      renamed: Mapping[str, Link], full: bool) -> dict[str, RackbeatItem]:
        """The Rackbeat item of every candidate (a renamed one by its linked item's number)."""
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
        return current

    def plan_one(self, key: str, p: ProductState, v: VariantState, item: RackbeatItem | None,
                 by_variant: Mapping[str, Link], earlier: Sequence[tuple[str, set[str]]], *,
                 renamed: bool) -> _Plan | None:
        """One variant's write to Rackbeat, or ``None`` (skipped, unchanged, failed, conflict)."""
        sku = (v.sku or "").strip()
        if item is not None and item.type != "product":
            self.skip(sku, "is a BOM in Rackbeat; rackshop does not change BOMs from Shopify",
                      "skipped_bom")
            return None
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
            return None
        if item is None:
            body = wanted.payload(include_group=True)
            changes = tuple(RackbeatChange(k, "", _plain(v2)) for k, v2 in body.items()
                            if k != "number")
        else:
            body, changes = diff_for_rackbeat(wanted, item)
            if renamed:
                body = {"number": sku, **body}
                changes = (RackbeatChange("number", item.number, sku), *changes)
        if owner is not None:
            if changes:
                self.conflict(sku, owner, changes)
            else:
                self.result.bump("unchanged")
            return None
        if not body:
            self.result.bump("unchanged")
            self.pstore.set_hash(self.name, key, self.src_hash(p, v))
            if item is not None:
                self.link(item.id, item.number, p, v)
            self.succeeded(key)
            return None
        for ch in changes:
            self.row(sku, ch.field, ch.old, ch.new, "create" if item is None else "update")
        return (key, p, v, item, body, changes)

    def conflict(self, sku: str, owner: str, changes: Sequence[RackbeatChange]) -> None:
        """An earlier Shopify-master shop has this SKU too: it wins, this shop writes nothing."""
        self.result.bump("conflicts")
        reason = (f"shop \"{owner}\" (earlier in the config) is also product master "
                  f"for this SKU and wins; this shop's values are not written")
        for ch in changes:
            self.row(sku, ch.field, ch.old, ch.new, "conflict")
        self.skipped.append({"record": sku, "reason": reason})
        event(log, f"{self.name}: {sku} conflict: {reason}", logging.WARNING,
              shop=self.name, sku=sku, owner=owner, fields=[c.field for c in changes])

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
