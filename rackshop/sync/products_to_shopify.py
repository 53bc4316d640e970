"""sync-products with Rackbeat as master: Rackbeat items -> Shopify products and variants, only
the changed fields, narrow mutations; lost creates found among the newest products.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from rackshop.errors import (
    OutcomeUnknownError,
    RackshopError,
    RecordError,
    ShopifyUserErrors,
)
from rackshop.log import event
from rackshop.shopify.client import load_document, parse_user_errors
from rackshop.sync.moments import iso_z
from rackshop.sync.product_map import (
    PRODUCT_FIELDS,
    DesiredShopify,
    PushSettings,
    ShopifyDiff,
    created_state_changes,
    desired_from_rackbeat,
    diff_for_shopify,
    owned_fields,
    product_create_input,
    rackbeat_source_hash,
    shopify_state_hash,
)
from rackshop.sync.product_state import (
    ProductState,
    RackbeatItem,
    VariantState,
    product_state,
    variant_state,
)
from rackshop.sync.product_values import sku_key
from rackshop.sync.products_bulk import BulkWrites
from rackshop.sync.products_pass import PassArgs, ProductsPass
from rackshop.sync.products_read import read_variants_by_id
from rackshop.sync.products_store import Link, MappingRow, ShopIndex, format_hash, parse_hash
from rackshop.sync.products_writes import (
    ProductWrite,
    UpdateAnswers,
    product_update_variables,
    publish_variables,
    variant_chunks,
    variants_variables,
)

log = logging.getLogger("rackshop.products")

#: Why a create whose answer never came is not tried again at once.
LOST_CREATE = ("no answer from Shopify to the create; if it was created, a later pass finds it "
               "(and creates nothing twice: it is sent again only if Shopify still does not show "
               "it after [rackbeat] lost_answer_wait_seconds)")

#: Newest products read to find one whose create answer was lost (creates of one pass: a
#: lost answer is settled by the next pass, long before 100 other products are made).
NEWEST_PRODUCTS = 100


@dataclass
class _Candidate:
    key: str
    item: RackbeatItem | None = None
    target: tuple[ProductState, VariantState] | None = None
    rb_hash: str = ""
    link: Link | None = None
    gone: bool = False  # the linked variant no longer exists in Shopify


@dataclass
class _ShopView:
    """The shop's variants as read this pass, and the links that point at them."""

    seen: dict[str, tuple[ProductState, VariantState]]  # variant id -> product, variant
    targets: dict[str, tuple[ProductState, VariantState]]  # SKU key -> its linked/unique variant
    by_variant: dict[str, Link]
    link_by_key: dict[str, Link]

    @classmethod
    def of(cls, products: Sequence[ProductState], idx: ShopIndex) -> _ShopView:
        # The link (Rackbeat item id <-> Shopify variant id) is the identity; the SKU only finds
        # a variant for an item that has no link yet.
        by_variant = idx.links_by_variant()
        link_by_key = {sku_key(lk.number): lk for lk in idx.links.values()}
        seen: dict[str, tuple[ProductState, VariantState]] = {}
        targets: dict[str, tuple[ProductState, VariantState]] = {}
        for p in products:
            for v in p.variants:
                seen[v.id] = (p, v)
                link = by_variant.get(v.id)
                if link is not None:
                    targets[sku_key(link.number)] = (p, v)
        for p in products:
            for v in p.variants:
                key = sku_key(v.sku)
                if v.id not in by_variant and key in idx.unique and \
                        idx.unique[key].variant_id == v.id and key not in targets:
                    targets[key] = (p, v)
        return cls(seen, targets, by_variant, link_by_key)


class RackbeatMaster(ProductsPass):
    """One Rackbeat-master shop's pass."""

    def __init__(self, args: PassArgs) -> None:
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
        self.bulk = BulkWrites(self)

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
        view = _ShopView.of(products, idx)
        cands = self.candidates(changed, view, idx)
        if since_rb is not None:  # a full read of Rackbeat has every item already
            self.read_rackbeat_side(cands, view, idx)
        self.find_shopify_side(cands, view, idx)
        self.plan_and_apply(cands)
        if not self.dry_run:
            # Every change up to the pass start is written or recorded as failed (retried).
            stamp = iso_z(self.started)
            self.pstore.set_cursor(self.name, "shopify_updated_at", stamp)
            self.pstore.set_cursor(self.name, "rackbeat_updated_at", stamp)
            self.links_done()
        self.finish()

    def candidates(self, changed: Mapping[str, RackbeatItem], view: _ShopView,
                   idx: ShopIndex) -> dict[str, _Candidate]:
        """Which records need a look: changed in Rackbeat, changed in Shopify, or failed before."""
        cands: dict[str, _Candidate] = {}
        backfill = self.backfill
        for key, item in changed.items():
            desired = desired_from_rackbeat(item, self.settings)
            rb = rackbeat_source_hash(desired)
            if parse_hash(idx.hashes.get(key)).get("rb") != rb or \
                    (backfill and item.id not in idx.links):
                cands[key] = _Candidate(key, item, None, rb)
        for key, (p, v) in view.targets.items():
            if key in cands:
                continue
            sh = shopify_state_hash(p, v, self.settings.fields)
            if parse_hash(idx.hashes.get(key)).get("sh") != sh:
                cands[key] = _Candidate(key, changed.get(key))
        for key in idx.failures:
            cands.setdefault(key, _Candidate(key, changed.get(key)))
        return cands

    def read_rackbeat_side(self, cands: Mapping[str, _Candidate], view: _ShopView,
                           idx: ShopIndex) -> None:
        """The Rackbeat side of candidates that changed only in Shopify."""
        missing = [k for k, c in cands.items() if c.item is None]
        if not missing:
            return
        numbers = []
        for k in missing:
            if k in view.link_by_key:
                numbers.append(view.link_by_key[k].number)
            elif k in idx.unique:
                numbers.append(idx.unique[k].sku)
            elif k in idx.failures:
                numbers.append(idx.failures[k][0])
        found = self.feed.lookup(numbers, self.kinds)
        for k in missing:
            cands[k].item = found.get(k)

    def find_shopify_side(self, cands: Mapping[str, _Candidate], view: _ShopView,
                          idx: ShopIndex) -> None:
        """The Shopify side: the linked variant, else the one variant holding the SKU."""
        want: dict[str, str] = {}
        for key, c in cands.items():
            if c.item is not None and c.item.id:
                c.link = idx.links.get(c.item.id)
            elif c.item is None:
                c.link = view.link_by_key.get(key)
            if c.link is not None:
                c.target = view.seen.get(c.link.variant_id)
                if c.target is None:
                    want[key] = c.link.variant_id
            else:
                c.target = view.targets.get(key)
                if c.target is not None and c.target[1].id in view.by_variant:
                    c.target = None  # that variant is linked to another Rackbeat item
                elif c.target is None and key in idx.unique and \
                        idx.unique[key].variant_id not in view.by_variant:
                    want[key] = idx.unique[key].variant_id
        if not want:
            return
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
        if not self.dry_run:  # what a killed pass's bulk mutation did, before planning again
            settled = self.bulk.resume({k: c.item for k, c in cands.items()})
            cands = {k: c for k, c in cands.items() if k not in settled}
        idx = self.pstore.index(self.name)
        writes: dict[str, ProductWrite] = {}
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
                if self.plan_create(c, item, desired, rb, idx):
                    creates.append((key, desired, rb, item))
                continue
            self.plan_update(c, c.target, item, rb, idx, writes)
        for _key, desired, _, _ in creates:
            for ch in created_state_changes(desired):
                self.row(desired.sku, ch.field, ch.old, ch.new, "create")
        if self.dry_run:
            self.result.bump("would_update", sum(len(w.variants) for w in writes.values()))
            self.result.bump("would_create", len(creates))
            return
        self.apply_all(writes, creates, cands)

    def plan_create(self, c: _Candidate, item: RackbeatItem, desired: DesiredShopify, rb: str,
                    idx: ShopIndex) -> bool:
        """Whether an item without a Shopify variant is created (else why not is recorded)."""
        key = c.key
        if c.gone and not self.shop.products.recreate_deleted:
            self.skip(item.number, "its Shopify product was deleted; it is not created "
                      "again (set products.recreate_deleted = true to re-create it)",
                      "deleted_in_shop")
            self.record(key, rb, None)
            self.succeeded(key)
            return False
        if not c.gone and not self.shop.products.create_missing:
            self.result.bump("missing_in_shop")
            self.record(key, rb, None)
            return False
        if desired.barred:
            self.skip(item.number, "barred in Rackbeat: not created in Shopify",
                      "skipped_barred")
            self.record(key, rb, None)
            return False
        if key in idx.to_publish and not self.dry_run:
            if self.settle_lost_create(key, desired.sku, rb, item):
                return False
            why = self.still_landing(f"the new product {desired.sku}", idx.create_sent.get(key))
            if why is not None:  # two creates that both land make two products
                self.fail(desired.sku, why)
                return False
        why = self.not_for_shopify(item)
        if why is None and "sales_price" in self.settings.fields and \
                self.settings.currency_rate is None:
            why = "not created without a price: " + str(
                self.result.details.get("prices", ""))
        if why is not None:
            self.skip(item.number, why, "skipped_non_stock")
            self.record(key, rb, None)
            self.succeeded(key)
            return False
        if c.gone:
            self.result.bump("recreated")
            self.row(item.number, "", "", "its Shopify product was deleted; created "
                     "again (products.recreate_deleted = true)", "note")
            if c.link is not None:
                self.pstore.drop_link(self.name, c.link.item_id)
        return True

    def plan_update(self, c: _Candidate, target: tuple[ProductState, VariantState],
                    item: RackbeatItem, rb: str, idx: ShopIndex,
                    writes: dict[str, ProductWrite]) -> None:
        """The changed fields of a linked variant and its product, gathered per product."""
        key = c.key
        p, v = target
        if key in idx.to_publish and not self.dry_run:
            self.publish(key, item.number, p.id)  # created by a pass whose answer was lost
        desired = desired_from_rackbeat(item, self.settings, taxable=v.taxable)
        diff = diff_for_shopify(desired, p, v, owned=c.link.owned if c.link else ())
        for note in diff.notes:
            self.result.bump("notes")
            self.row(item.number, "", "", note, "note")
        if not diff.changes:
            self.result.bump("unchanged")
            self.record(key, rb, target, item)
            self.succeeded(key)
            return
        w = writes.setdefault(p.id, ProductWrite(p.id))
        if diff.product_changes:
            w.product_changes += diff.product_changes
            w.product_key = key
        if diff.variant_changes:
            w.variants.append((key, diff, rb))
        elif diff.product_changes:
            w.variants.append((key, ShopifyDiff(diff.sku, p.id, v.id), rb))
        for ch in diff.changes:
            self.row(item.number, ch.field, ch.old, ch.new, "update")

    def apply_all(self, writes: Mapping[str, ProductWrite],
                  creates: Sequence[tuple[str, DesiredShopify, str, RackbeatItem]],
                  cands: Mapping[str, _Candidate]) -> None:
        total = len(writes) + len(creates)
        if self.progress and total:
            self.progress.start(f"{self.name}: writing to Shopify", total)
        updates = list(writes.values())
        if self.bulk.wanted(len(updates)):
            done = len(updates)
            updates = self.bulk.update(updates, cands)  # those left when the shop was busy
            if self.progress:
                self.progress.advance(done - len(updates))
        for w in updates:
            self.apply_update(w, cands)
            if self.progress:
                self.progress.advance()
        if self.bulk.wanted(len(creates)):
            done = len(creates)
            creates = self.bulk.create(creates)  # those left when the shop was busy
            if self.progress:
                self.progress.advance(done - len(creates))
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

    def apply_update(self, w: ProductWrite, cands: Mapping[str, _Candidate]) -> None:
        ans = self.update_answers(w, cands)
        try:
            if w.product_changes:
                payload = self.shopify.execute(
                    load_document("ProductUpdate"), product_update_variables(w),
                    name="ProductUpdate", idempotent=True).data.get("productUpdate") or {}
                self.product_answered(ans, payload)
            self.send_variants(w, ans)
        except (ShopifyUserErrors, RecordError, OutcomeUnknownError) as exc:
            self.update_failed(w, ans, exc)
            return
        self.update_done(w, cands, ans)

    def send_variants(self, w: ProductWrite, ans: UpdateAnswers) -> None:
        """The variant writes of a product, one ``productVariantsBulkUpdate`` per 250."""
        for chunk in variant_chunks(w):
            payload = self.shopify.execute(
                load_document("ProductVariantsBulkUpdate"), variants_variables(w, chunk),
                name="ProductVariantsBulkUpdate", idempotent=True,
            ).data.get("productVariantsBulkUpdate") or {}
            self.variants_answered(ans, chunk, payload)

    def update_answers(self, w: ProductWrite, cands: Mapping[str, _Candidate]) -> UpdateAnswers:
        """Where the answers to a product's update writes are gathered."""
        return UpdateAnswers({k: _number(cands[k], k) for k, _, _ in w.variants})

    def product_answered(self, ans: UpdateAnswers, payload: Mapping[str, Any]) -> None:
        """The answer of a ``productUpdate`` (one call's or one bulk line's)."""
        self._raise_user_errors("productUpdate", payload)
        ans.product = payload.get("product")
        self.result.bump("writes")

    def variants_answered(self, ans: UpdateAnswers, chunk: Sequence[tuple[str, ShopifyDiff]],
                          payload: Mapping[str, Any]) -> None:
        """The answer of a ``productVariantsBulkUpdate`` of ``chunk`` (one call's or one bulk
        line's): a variant's own error fails that variant (``allowPartialUpdates``), another
        error fails the product's writes (raised)."""
        errors = parse_user_errors(payload)
        if errors and any(not _variant_index(e.field, len(chunk)) for e in errors):
            raise ShopifyUserErrors("productVariantsBulkUpdate", errors)
        self.result.bump("writes")
        ans.product = payload.get("product") or ans.product
        for node in payload.get("productVariants") or []:
            ans.answered[str(node["id"])] = node
        for err in errors:  # allowPartialUpdates: the others went through
            k, _ = chunk[int((err.field or ())[1])]
            if k not in ans.failed:
                ans.failed.add(k)
                self.fail(ans.number[k], f"Shopify refused the update: {err}")

    def update_failed(self, w: ProductWrite, ans: UpdateAnswers, exc: RackshopError) -> None:
        """A product's update writes failed: each of its SKUs not failed yet gets the reason."""
        # Product and variant writes set values: repeating them is harmless, so the next
        # pass simply tries again (failures are re-read).
        if _gone(exc):
            self.pstore.forget_product(self.name, w.product_id)
            reason = ("the Shopify product no longer exists; it is created again on the next "
                      "pass if products.create_missing is on")
        else:
            reason = exc.message
        for k in ans.number:
            if k not in ans.failed:
                self.fail(ans.number[k], reason)

    def update_done(self, w: ProductWrite, cands: Mapping[str, _Candidate],
                    ans: UpdateAnswers) -> None:
        """Record a product's answered update writes, SKU by SKU."""
        number = ans.number
        pstate = product_state(ans.product, []) if ans.product else None
        for key, diff, rb in w.variants:
            if key in ans.failed:
                continue
            target = cands[key].target
            assert target is not None
            p0, v0 = target
            node = ans.answered.get(diff.variant_id)
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
        pubs = self.channels_for([(key, sku)])
        if not pubs:
            return
        try:
            payload = self.shopify.execute(
                load_document("PublishablePublish"), publish_variables(product_id, pubs),
                name="PublishablePublish", idempotent=True,
            ).data.get("publishablePublish") or {}
            self._raise_user_errors("publishablePublish", payload)
        except (ShopifyUserErrors, RecordError, OutcomeUnknownError) as exc:
            self.not_published(sku, exc.message)
            return
        self.published(key)

    def channels_for(self, made: Sequence[tuple[str, str]]) -> list[str]:
        """The publications created products ``(key, sku)`` go on; none (their marks cleared)
        when the config names none, or (a failure per SKU) when they cannot be read."""
        try:
            pubs = self.publications()
        except RecordError as exc:
            for _, sku in made:
                self.fail(sku, f"created but not published: {exc.message}")
            return []
        if not pubs:
            self.pstore.publish_marks(self.name, (key for key, _ in made), False)
        return pubs

    def published(self, key: str) -> None:
        """A created product is on its channels."""
        self.pstore.set_to_publish(self.name, key, False)
        self.result.bump("writes")
        self.result.bump("published")

    def not_published(self, sku: str, why: str) -> None:
        """A created product could not be published (its mark stays: tried again next pass)."""
        self.result.bump("not_published")
        self.fail(sku, f"created but not yet published to "
                  f"{', '.join(self.shop.products.sales_channels)}: {why}; tried "
                  "again on the next pass")

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
        except OutcomeUnknownError:
            # Not retried: the next pass's read finds the product if it was created, so a
            # repeat can never make a second one.
            self.fail(desired.sku, LOST_CREATE)
            return
        except RecordError as exc:
            self.refused_create(key, desired.sku, exc.message)
            return
        product_id = self.created(key, desired.sku, rb, item, payload)
        if product_id is not None:
            self.publish(key, desired.sku, product_id)

    def refused_create(self, key: str, sku: str, why: str) -> None:
        """A create Shopify refused: not made, so not to be published, nor looked for by the
        next pass as a create whose answer was lost."""
        self.pstore.set_to_publish(self.name, key, False)
        self.fail(sku, f"Shopify refused to create the product: {why}")

    def created(self, key: str, sku: str, rb: str, item: RackbeatItem | None,
                payload: Mapping[str, Any]) -> str | None:
        """Record the answer of a ``productSet`` create (one call's, or one line of a bulk
        mutation's): the product, its mapping, link and hashes, or why it was refused. Returns
        the product id when it was made."""
        errors = parse_user_errors(payload)
        if errors:
            self.refused_create(key, sku, ShopifyUserErrors("productSet", errors).message)
            return None
        self.result.bump("writes")
        node = payload.get("product") or {}
        variants = ((node.get("variants") or {}).get("nodes")) or []
        if not variants:
            self.fail(sku, "Shopify created the product without a variant")
            return None
        p = product_state(node, variants)
        v = p.variants[0]
        self.pstore.put_mapping(self.name, MappingRow.of(p, v))
        self.record(key, rb, (p, v), item)
        self.succeeded(key)
        self.result.bump("created")
        event(log, f"{self.name}: {sku} created in Shopify ({p.id})", shop=self.name,
              sku=sku, product=p.id)
        return p.id


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
